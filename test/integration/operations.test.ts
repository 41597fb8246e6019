import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { Gateway } from "../../src/gateway/gateway.js";
import { cleanupBroker } from "../harness/broker.js";
import { authHeader, synapseApi, TEST_PASSWORD, TEST_USER, TestCluster } from "../harness/cluster.js";
import { CHANGED, counter, waitFor } from "../harness/wait.js";

const run = promisify(execFile);
const BIN = new URL("../../bin/gwsync.js", import.meta.url).pathname;

interface StatusJson {
  headSeq: number;
  labels: Record<string, number>;
  gateways: { nodeId: string; alive: boolean; appliedSeq: number; lag: number; deployed: number }[];
}

describe("operations: metrics, heartbeats and gwsync status, broker failover", () => {
  const cluster = new TestCluster();
  /** Gateways made here, outside the cluster: their queues are removed at the end too. */
  const own: Gateway[] = [];

  before(async () => {
    await cluster.startPublisher();
    await cluster.startGateway({ name: "ops1", labels: ["O"] });
  });
  after(async () => {
    await cluster.close();
    await cleanupBroker({ queues: own.flatMap((g) => Object.values(g.queues)) });
  });

  test("/metrics counts a known workload: 5 deploys applied, 2 events of other labels skipped, latency observed", async () => {
    const gw = cluster.gateways.get("ops1")!;
    const pub = cluster.publisher!.publisher;
    // The connect's catch-up may still run (it starts before the consumer since 1a6939b): the workload's
    // events then wait for it or find their revision applied by it (CI on 2448ab0: all 5 went through
    // it), and each is still measured once, to the moment its API was deployed.
    const deploys = counter(gw.events, "applied", (outcome) => outcome === "deployed");
    const settled = counter(gw.events, "handled", (stream) => stream === "notification");
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await pub.deployApi(synapseApi({ name: `M${i}` }), ["O"])).apiId);
    await pub.deployApi(synapseApi({ name: "Other1" }), ["elsewhere"]);
    await pub.deployApi(synapseApi({ name: "Other2" }), ["elsewhere"]);
    await waitFor(
      gw.events,
      CHANGED,
      () => deploys.count >= 5 && ids.every((id) => gw.deployer.get(id)) && settled.count >= 7,
      "7 notifications handled",
    );
    assert.equal(deploys.count, 5, "each API deployed exactly once");
    const res = await fetch(`${gw.httpUrl}/metrics`, { headers: { authorization: authHeader() } });
    const text = await res.text();
    assert.match(text, /gwsync_events_received_total\{[^}]*stream="notification"[^}]*\} 7\b/);
    // Each of the 5 deploys is applied once, whether its event or a catch-up got there first.
    assert.match(text, /gwsync_artifacts_applied_total\{outcome="deployed"[^}]*\} 5\b/);
    assert.match(
      text,
      /gwsync_events_skipped_total\{[^}]*stream="notification",why="other-labels"[^}]*\} 2\b/,
    );
    // One latency observation per deploy, whether its event or a catch-up applied it.
    assert.match(text, /gwsync_publish_to_deployed_seconds_count\{[^}]*\} 5\b/);
    assert.match(text, /gwsync_broker_connected\{[^}]*\} 1\b/);
    assert.match(text, /gwsync_deployed_apis\{[^}]*\} 5\b/);
    const pm = await (
      await fetch(`${cluster.publisher!.httpUrl}/metrics`, { headers: { authorization: authHeader() } })
    ).text();
    assert.match(pm, /gwsync_events_published_total\{[^}]*stream="notification"[^}]*\} 7\b/);
    assert.match(pm, /gwsync_outbox_depth\{[^}]*\} 0\b/);
  });

  test("gwsync status shows two live gateways, then one missing after it stops", async () => {
    const pub = cluster.publisher!.publisher;
    const fast = (name: string) => {
      const cfg = cluster.gatewayConfig({ name, labels: ["O"] });
      cfg.gwsync.heartbeatIntervalMs = 150;
      const gw = new Gateway({ config: cfg });
      own.push(gw);
      return gw;
    };
    const gA = fast("hbA");
    const gB = fast("hbB");
    await gA.start();
    await gB.start();
    const idA = gA.config.gwsync.nodeId;
    const idB = gB.config.gwsync.nodeId;
    const beats = (id: string) =>
      counter(pub.events, "heartbeat", (hb) => (hb as { nodeId: string }).nodeId === id);
    const a1 = beats(idA);
    const b1 = beats(idB);
    await waitFor(
      pub.events,
      "heartbeat",
      () => a1.count >= 2 && b1.count >= 2,
      "heartbeats from both gateways",
    );
    const status = async (): Promise<StatusJson> => {
      const { stdout } = await run(
        process.execPath,
        [BIN, "status", "--json", "--url", cluster.publisher!.httpUrl!],
        {
          env: {
            ...process.env,
            GWSYNC_LOG_LEVEL: "warn",
            GWSYNC_HTTP_USERNAME: TEST_USER,
            GWSYNC_HTTP_PASSWORD: TEST_PASSWORD,
          },
        },
      );
      return JSON.parse(stdout) as StatusJson;
    };
    const seen = (s: StatusJson, id: string) => s.gateways.find((g) => g.nodeId === id);
    let s = await status();
    assert.equal(seen(s, idA)?.alive, true, JSON.stringify(s.gateways));
    assert.equal(seen(s, idB)?.alive, true);
    assert.equal(seen(s, idA)?.deployed, 5);
    assert.equal(seen(s, idA)?.lag, 0);
    assert.ok(s.labels.O === 5);
    await gB.close();
    // Missing = no beat for three periods: count four more of A's beats, then ask.
    const a2 = beats(idA);
    await waitFor(pub.events, "heartbeat", () => a2.count >= 4, "four more heartbeats from A");
    s = await status();
    assert.equal(seen(s, idB)?.alive, false, "the stopped gateway is reported missing");
    assert.equal(seen(s, idA)?.alive, true);
    await gA.close();
  });

  test("a gateway whose first broker is down connects to the next one in event_listening_endpoints", async () => {
    const cfg = cluster.gatewayConfig({ name: "failover", labels: ["O"] });
    cfg.eventHub.eventListeningEndpoints = [
      { ...cfg.eventHub.eventListeningEndpoints[0]!, hostname: "127.0.0.1", port: 1 },
      { ...cfg.eventHub.eventListeningEndpoints[0]!, hostname: "127.0.0.1", port: 5672 },
    ];
    const gw = new Gateway({ config: cfg });
    own.push(gw);
    const t0 = Date.now();
    await gw.start();
    await waitFor(
      gw.events,
      "broker",
      () => gw.brokerStatus.state === "connected",
      "failover to the second broker",
      15_000,
    );
    const status = gw.brokerStatus;
    assert.equal(status.state, "connected");
    assert.match("broker" in status ? status.broker : "", /:5672/);
    assert.ok(Date.now() - t0 < 15_000);
    await gw.close();
  });
});
