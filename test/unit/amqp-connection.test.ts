/**
 * BrokerConnection without a broker: a fake `open` stands in for amqplib's connect (as
 * jwalton/node-amqp-connection-manager tests its reconnects), so failover order, the options each
 * attempt gets, setup per connection, giving up and a refused login are checked exactly. The real
 * broker is in test/integration/transport.test.ts and the fault suite (connection-faults).
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, test } from "node:test";
import type { ChannelModel, Options } from "amqplib";
import {
  BrokerConnection,
  type BrokerStatus,
  type OpenConnection,
  reconnectDelay,
} from "../../src/amqp/connection.js";
import type { BrokerEndpoint } from "../../src/config/types.js";
import { isGwsyncError } from "../../src/errors.js";

const endpoint = (hostname: string): BrokerEndpoint => ({
  protocol: "amqp",
  hostname,
  port: 5672,
  username: "u",
  password: "p",
  vhost: "/",
});

class FakeModel extends EventEmitter {
  closed = false;
  constructor(readonly host: string) {
    super();
  }
  async close(): Promise<void> {
    this.closed = true;
  }
  /** The broker went away: amqplib emits 'error' then 'close'. */
  drop(): void {
    this.emit("error", new Error("read ECONNRESET"));
    this.emit("close", new Error("read ECONNRESET"));
  }
}

/** A fake broker set: `refuse` hosts fail to open with the given message. */
function fakeBrokers(refuse: Record<string, string> = {}) {
  const targets: Options.Connect[] = [];
  const snapshots: string[] = [];
  const models: FakeModel[] = [];
  const open: OpenConnection = async (target) => {
    targets.push(target);
    snapshots.push(JSON.stringify(target));
    const host = target.hostname!;
    if (refuse[host] !== undefined) throw new Error(refuse[host]);
    const m = new FakeModel(host);
    models.push(m);
    return m as unknown as ChannelModel;
  };
  return { open, targets, snapshots, models };
}

function connection(
  hosts: string[],
  open: OpenConnection,
  setup: (m: ChannelModel) => Promise<void> = async () => undefined,
  extra: { initialMaxRetries?: number } = {},
): BrokerConnection {
  return new BrokerConnection({
    endpoints: hosts.map(endpoint),
    connectionName: "test",
    heartbeatSec: 0,
    reconnectInitialDelayMs: 1,
    reconnectMaxDelayMs: 4,
    open,
    setup,
    ...extra,
  });
}

function nextEvent(conn: BrokerConnection, name: string): Promise<unknown[]> {
  return new Promise((resolve) => conn.once(name, (...args: unknown[]) => resolve(args)));
}

describe("BrokerConnection over an explicit broker list (fake transport)", () => {
  test("fails over to the next broker, each attempt with its own options object, none changed afterwards", async () => {
    const brokers = fakeBrokers({ a: "connect ECONNREFUSED a:5672" });
    const conn = connection(["a", "b"], brokers.open);
    await conn.start();
    assert.deepEqual(
      brokers.targets.map((t) => t.hostname),
      ["a", "b"],
    );
    assert.notEqual(brokers.targets[0], brokers.targets[1]);
    // What each attempt was given is what it still holds: nothing shared is mutated for failover.
    assert.deepEqual(
      brokers.targets.map((t) => JSON.stringify(t)),
      brokers.snapshots,
    );
    assert.equal(conn.currentBroker, "amqp://b:5672");
    assert.equal(conn.status.state, "connected");
    await conn.close();
    assert.equal(brokers.models[0]!.closed, true);
  });

  test("a lost connection reconnects to the next broker and runs setup again on the new connection", async () => {
    const brokers = fakeBrokers();
    const setUp: string[] = [];
    const conn = connection(["a", "b", "c"], brokers.open, async (m) => {
      setUp.push((m as unknown as FakeModel).host);
    });
    const states: string[] = [];
    conn.on("status", (s: BrokerStatus) => states.push(s.state));
    await conn.start();
    const disconnected = nextEvent(conn, "disconnect");
    const reconnected = nextEvent(conn, "connect");
    brokers.models[0]!.drop();
    const [err] = await disconnected;
    assert.match((err as Error).message, /ECONNRESET/);
    await reconnected;
    assert.deepEqual(setUp, ["a", "b"]);
    assert.deepEqual(states, ["connected", "disconnected", "connecting", "connected"]);
    // Another loss goes on round the list.
    const again = nextEvent(conn, "connect");
    brokers.models[1]!.drop();
    await again;
    assert.deepEqual(setUp, ["a", "b", "c"]);
    await conn.close();
    assert.equal(conn.status.state, "closed");
  });

  test("a setup that fails closes that connection and the next attempt goes to the next broker", async () => {
    const brokers = fakeBrokers();
    let calls = 0;
    const conn = connection(["a", "b"], brokers.open, async () => {
      calls += 1;
      if (calls === 1) throw new Error("PRECONDITION_FAILED - inequivalent arg 'x-queue-type'");
    });
    await conn.start();
    assert.equal(brokers.models.length, 2);
    assert.equal(brokers.models[0]!.closed, true);
    assert.equal(brokers.models[1]!.host, "b");
    await conn.close();
  });

  test("initialMaxRetries spent: start() rejects with GWSYNC_BROKER_UNREACHABLE naming every broker", async () => {
    const brokers = fakeBrokers({ a: "connect ECONNREFUSED", b: "connect ECONNREFUSED" });
    const conn = connection(["a", "b"], brokers.open, undefined, { initialMaxRetries: 3 });
    let failed = 0;
    conn.on("failed", () => failed++);
    await assert.rejects(conn.start(), (err: unknown) => {
      assert.ok(isGwsyncError(err) && err.code === "GWSYNC_BROKER_UNREACHABLE");
      assert.match((err as Error).message, /amqp:\/\/a:5672, amqp:\/\/b:5672/);
      return true;
    });
    assert.equal(brokers.targets.length, 4, "the first attempt and three retries");
    assert.deepEqual(
      brokers.targets.map((t) => t.hostname),
      ["a", "b", "a", "b"],
    );
    assert.equal(failed, 1);
  });

  test("a refused login stops for good: start() rejects with GWSYNC_BROKER_ACCESS_REFUSED, no retry", async () => {
    const brokers = fakeBrokers({ a: "Handshake terminated by server: 403 (ACCESS-REFUSED) with message" });
    const conn = connection(["a", "b"], brokers.open);
    const fatal = nextEvent(conn, "fatal");
    await assert.rejects(conn.start(), (err: unknown) => {
      assert.ok(isGwsyncError(err) && err.code === "GWSYNC_BROKER_ACCESS_REFUSED");
      return true;
    });
    await fatal;
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(brokers.targets.length, 1);
    assert.equal(conn.fatalError?.code, "GWSYNC_BROKER_ACCESS_REFUSED");
  });

  test("close() while waiting to reconnect stops the loop: no attempt after it", async () => {
    const brokers = fakeBrokers({ a: "connect ECONNREFUSED" });
    const conn = new BrokerConnection({
      endpoints: [endpoint("a")],
      connectionName: "test",
      heartbeatSec: 0,
      reconnectInitialDelayMs: 30,
      open: brokers.open,
      setup: async () => undefined,
    });
    const started = conn.start();
    await new Promise((r) => setTimeout(r, 5));
    await conn.close();
    await assert.rejects(started);
    const attempts = brokers.targets.length;
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(brokers.targets.length, attempts);
  });
});

describe("reconnectDelay", () => {
  const policy = { initialDelayMs: 200, maxDelayMs: 10_000, factor: 2, jitter: 0.2 };
  test("doubles from the initial delay without jitter at the midpoint", () => {
    const mid = () => 0.5;
    assert.deepEqual(
      [1, 2, 3, 4].map((a) => reconnectDelay(policy, a, mid)),
      [200, 400, 800, 1600],
    );
  });
  test("jitter stays within ± 20 % and the cap is never exceeded", () => {
    assert.equal(
      reconnectDelay(policy, 1, () => 0),
      160,
    );
    assert.equal(
      reconnectDelay(policy, 1, () => 1),
      240,
    );
    for (let a = 1; a < 40; a++) assert.ok(reconnectDelay(policy, a, () => 1) <= 10_000);
    assert.equal(
      reconnectDelay(policy, 40, () => 1),
      10_000,
    );
  });
});
