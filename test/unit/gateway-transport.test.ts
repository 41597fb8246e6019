/**
 * A whole gateway on a fake transport (test/harness/fake-broker.ts): its broker connection, queue
 * declarations, consumers, GatewayPipeline and QueueConsumer's settling, with no RabbitMQ. What these
 * tests assert is what reaches the broker: ack, requeue (redelivered), dead-letter copy with its reason.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, beforeEach, describe, test } from "node:test";
import { HEADER_REJECT_REASON } from "../../src/amqp/consumer.js";
import { loadConfig } from "../../src/config/load-config.js";
import { GwsyncError } from "../../src/errors.js";
import { encodeTokenRevocation } from "../../src/events/encode.js";
import { MemoryDeployer } from "../../src/gateway/deploy/memory-deployer.js";
import { Gateway } from "../../src/gateway/gateway.js";
import { FakeBroker, type SettledDelivery } from "../harness/fake-broker.js";
import { fakeArtifact, fakeControlPlane } from "../harness/fake-control-plane.js";
import { encodedDeployApi } from "../harness/memory-gateway.js";

const LABEL = "Default";
const EXCHANGE = "amq.topic";
const MAX_DELIVERIES = 3;
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const artifact = (name: string, revision: number) => fakeArtifact(name, revision, LABEL);
const controlPlane = fakeControlPlane;

function deployEvent(name: string, labels: string[]) {
  const enc = encodedDeployApi(name, labels);
  return {
    id: enc.eventId,
    body: enc.body,
    props: { messageId: enc.eventId, timestamp: enc.timestamp, contentType: "text/plain" },
  };
}

interface World {
  broker: FakeBroker;
  gw: Gateway;
  cp: ReturnType<typeof controlPlane>;
}

async function startGateway(): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), "gwsync-fake-transport-"));
  dirs.push(dir);
  const { config } = loadConfig({
    text: `
[gwsync]
node_id = "gw-fake"
data_dir = "${dir}"
max_deliveries = ${MAX_DELIVERIES}
heartbeat_sec = 0
catch_up_interval_ms = 0
[apim.sync_runtime_artifacts.gateway]
gateway_labels = ["${LABEL}"]
deployment_retry_duration = 1
max_retry_delay = 1
max_retry_count = 0
`,
    env: {},
    baseDir: dir,
  });
  const broker = new FakeBroker();
  const cp = controlPlane();
  const gw = new Gateway({
    config,
    retriever: cp.retriever,
    deployer: new MemoryDeployer({ keepContent: false }),
    http: false,
    transport: broker.open,
  });
  await gw.start();
  // The artifact consumer starts once the startup deployment is over.
  while (broker.queues.get(gw.queues.artifacts)?.consumer === undefined)
    await new Promise((r) => setImmediate(r));
  return { broker, gw, cp };
}

/** Publishes a revocation of `token` (a JWT, an hour to live); resolves to its settlements once settled. */
function publishRevocation(broker: FakeBroker, token: string): Promise<SettledDelivery[]> {
  const enc = encodeTokenRevocation({ revokedToken: token, expiryTime: Date.now() + 3_600_000, type: "JWT" });
  const done = settlementsOf(broker, enc.eventId, () => true);
  broker.publish(EXCHANGE, "tokenRevocation", enc.body, { messageId: enc.eventId, timestamp: enc.timestamp });
  return done;
}

/** Every settlement of one message until `final` says it is done with. */
async function settlementsOf(broker: FakeBroker, messageId: string, final: (s: SettledDelivery) => boolean) {
  const seen: SettledDelivery[] = [];
  await broker.next((s) => {
    if (s.messageId !== messageId) return false;
    seen.push(s);
    return final(s);
  });
  return seen;
}

describe("gateway message path on a fake transport (no RabbitMQ)", () => {
  let w: World;
  beforeEach(async () => {
    w = await startGateway();
  });
  afterEach(async () => {
    await w.gw.close();
  });

  test("a deploy for a served label is fetched, deployed, and only then acked", async () => {
    w.cp.published.set("id-Pizza", artifact("Pizza", 1));
    const e = deployEvent("Pizza", [LABEL]);
    const done = settlementsOf(w.broker, e.id, () => true);
    w.broker.publish(EXCHANGE, "notification", e.body, e.props);
    assert.deepEqual(
      (await done).map((s) => s.how),
      ["ack"],
    );
    assert.equal(w.gw.deployer.get("id-Pizza")?.revision, 1);
    assert.equal(w.cp.state.fetches, 1);
  });

  test("an event for a label the gateway does not serve is acked without a fetch", async () => {
    const e = deployEvent("Elsewhere", ["Other"]);
    const done = settlementsOf(w.broker, e.id, () => true);
    w.broker.publish(EXCHANGE, "notification", e.body, e.props);
    assert.deepEqual(
      (await done).map((s) => s.how),
      ["ack"],
    );
    assert.equal(w.cp.state.fetches, 0);
    assert.equal(w.gw.deployer.size, 0);
  });

  test("a message that can never be valid is copied to the dead-letter queue with its reason and acked", async () => {
    const done = settlementsOf(w.broker, "bad-1", () => true);
    w.broker.publish(EXCHANGE, "notification", Buffer.from("{not json"), { messageId: "bad-1" });
    assert.deepEqual(
      (await done).map((s) => s.how),
      ["ack"],
    );
    const dead = w.broker.waiting(w.gw.queues.deadLetter);
    assert.equal(dead.length, 1);
    assert.equal(dead[0]?.content.toString(), "{not json");
    assert.match(String(dead[0]?.properties.headers?.[HEADER_REJECT_REASON]), /json|JSON/);
  });

  test("a fetch that keeps failing is requeued and redelivered, then dead-lettered after max_deliveries", async () => {
    w.cp.state.fail = new GwsyncError("GWSYNC_FETCH_FAILED", "control plane answered 503", {
      retryable: true,
    });
    const e = deployEvent("Down", [LABEL]);
    const done = settlementsOf(w.broker, e.id, (s) => s.how === "ack");
    w.broker.publish(EXCHANGE, "notification", e.body, e.props);
    const seen = await done;
    assert.deepEqual(
      seen.map((s) => [s.how, s.redelivered]),
      [
        ["requeue", false],
        ["requeue", true],
        ["ack", true],
      ],
    );
    const dead = w.broker.waiting(w.gw.queues.deadLetter);
    assert.equal(dead.length, 1);
    assert.match(
      String(dead[0]?.properties.headers?.[HEADER_REJECT_REASON]),
      /gave up after 3 deliveries: .*503/,
    );
    assert.equal(w.gw.deployer.get("id-Down"), undefined);
  });

  test("a token revocation is acked once applied and durable, on the runtime queue", async () => {
    const [s] = await publishRevocation(w.broker, "jti-fake-1");
    assert.equal(s?.how, "ack");
    assert.equal(s?.queue, w.gw.queues.runtime);
    assert.ok(w.gw.runtime.revokedTokens.isRevoked("jti-fake-1"));
  });

  test("a binding lost on the live connection is re-asserted (rebind_interval_ms); a failed round is counted and logged, the next one repairs", async () => {
    // The broker dropped the runtime queue's bindings while the connection stayed up.
    const runtimeQueue = w.broker.queue(w.gw.queues.runtime);
    runtimeQueue.bindings = [];
    const rounds: (Error | undefined)[] = [];
    w.gw.events.on("rebind", (err) => rounds.push(err));
    // A round that fails (the broker did not answer the bind): counted, the gateway goes on.
    const consumeChannel = w.broker.connections[0]!.channels[0]!;
    const bind = consumeChannel.bindQueue.bind(consumeChannel);
    consumeChannel.bindQueue = async () => {
      throw new Error("bind refused");
    };
    await w.gw.reassertQueues();
    assert.equal(rounds.length, 1);
    assert.match(rounds[0]?.message ?? "", /bind refused/);
    assert.equal(w.gw.brokerStatus.state, "connected");
    assert.equal(runtimeQueue.bindings.length, 0);
    // The next round binds again, on the same connection.
    consumeChannel.bindQueue = bind;
    await w.gw.reassertQueues();
    assert.equal(rounds[1], undefined);
    assert.deepEqual(runtimeQueue.bindings.map((b) => b.pattern).sort(), [
      "asyncWebhooksData",
      "keyManager",
      "tokenRevocation",
    ]);
    assert.equal(w.broker.connections.length, 1, "no reconnect");
    const text = await w.gw.metrics.text();
    assert.match(text, /gwsync_queue_reasserts_total\{[^}]*outcome="failed"[^}]*\} 1\b/);
    assert.match(text, /gwsync_queue_reasserts_total\{[^}]*outcome="ok"[^}]*\} 1\b/);
    // A revocation is routed to the gateway again.
    assert.equal((await publishRevocation(w.broker, "jti-rebound"))[0]?.how, "ack");
    assert.ok(w.gw.runtime.revokedTokens.isRevoked("jti-rebound"));
  });

  test("after the broker drops the connection the gateway reconnects and consumes again", async () => {
    const reconnected = new Promise((resolve) =>
      w.gw.events.on("broker", (s) => s.state === "connected" && resolve(undefined)),
    );
    w.broker.dropConnections();
    await reconnected;
    w.cp.published.set("id-After", artifact("After", 1));
    const e = deployEvent("After", [LABEL]);
    const done = settlementsOf(w.broker, e.id, () => true);
    w.broker.publish(EXCHANGE, "notification", e.body, e.props);
    assert.deepEqual(
      (await done).map((s) => s.how),
      ["ack"],
    );
    assert.equal(w.gw.deployer.get("id-After")?.revision, 1);
  });
});
