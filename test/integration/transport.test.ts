/**
 * The transport against the real broker: the private amqplib field the silence watchdog reads exists
 * in the pinned amqplib (package.json pins it exactly; an upgrade that moves it fails here, and
 * socketOf() throws instead of silently not watching), and failover over an explicit list reaches the
 * live broker after a dead one.
 */
import assert from "node:assert/strict";
import { Socket } from "node:net";
import { test } from "node:test";
import type { ChannelModel } from "amqplib";
import { BrokerConnection, socketOf } from "../../src/amqp/connection.js";
import type { BrokerEndpoint } from "../../src/config/types.js";
import { BROKER_URL } from "../harness/broker.js";

function endpointOf(url: string, port?: number): BrokerEndpoint {
  const u = new URL(url);
  return {
    protocol: "amqp",
    hostname: u.hostname,
    port: port ?? Number(u.port || 5672),
    username: decodeURIComponent(u.username || "guest"),
    password: decodeURIComponent(u.password || "guest"),
    vhost: u.pathname.length > 1 ? decodeURIComponent(u.pathname.slice(1)) : "/",
  };
}

test("amqplib (pinned) keeps the connection's socket in connection.stream: the watchdog's field exists", async () => {
  const pkg = (await import("../../package.json", { with: { type: "json" } })).default as {
    dependencies: Record<string, string>;
  };
  assert.match(pkg.dependencies.amqplib!, /^\d+\.\d+\.\d+$/, "amqplib is pinned to one exact version");
  let seen: ChannelModel | undefined;
  const conn = new BrokerConnection({
    endpoints: [endpointOf(BROKER_URL)],
    connectionName: "gwsync-test-transport",
    heartbeatSec: 5,
    setup: async (m) => {
      seen = m;
    },
  });
  await conn.start();
  try {
    assert.ok(seen);
    const sock = socketOf(seen);
    assert.ok(sock instanceof Socket);
    assert.equal(sock.destroyed, false);
    assert.equal(sock.remotePort, endpointOf(BROKER_URL).port);
  } finally {
    await conn.close();
  }
});

test("failover over an explicit list: a dead broker first, the live one next", async () => {
  // Port 1 on loopback refuses at once.
  const conn = new BrokerConnection({
    endpoints: [endpointOf(BROKER_URL, 1), endpointOf(BROKER_URL)],
    connectionName: "gwsync-test-failover",
    heartbeatSec: 5,
    reconnectInitialDelayMs: 10,
    setup: async (m) => {
      const ch = await m.createChannel();
      await ch.close();
    },
  });
  const failed: string[] = [];
  conn.on("status", (s: { state: string; broker?: string }) => {
    if (s.state === "connecting" && s.broker) failed.push(s.broker);
  });
  await conn.start();
  try {
    assert.equal(conn.status.state, "connected");
    assert.equal(
      conn.currentBroker,
      `amqp://${endpointOf(BROKER_URL).hostname}:${endpointOf(BROKER_URL).port}`,
    );
    assert.ok(failed.length >= 1, "one attempt on the dead broker first");
  } finally {
    await conn.close();
  }
});
