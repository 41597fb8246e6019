/**
 * The gateway's message path without RabbitMQ: GatewayPipeline.handle(envelope) → Outcome, with the
 * real reconciler, deployer and runtime state and a fake control plane. What reaches the broker
 * (ack, dead-letter copy, requeue) follows from the Outcome in QueueConsumer (conformance tests).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, beforeEach, describe, test } from "node:test";
import { envelope } from "../../src/amqp/envelope.js";
import { GwsyncError } from "../../src/errors.js";
import { CONTENT_TYPE_BATCH, encodeBatch, HEADER_BATCH } from "../../src/events/batch.js";
import { encodeTokenRevocation } from "../../src/events/encode.js";
import { HEADER_REVISION } from "../../src/events/topics.js";
import { GatewayPipeline } from "../../src/gateway/pipeline.js";
import { RuntimeState } from "../../src/gateway/runtime/runtime-state.js";
import { GatewayMetrics } from "../../src/http/metrics.js";
import { silentLogger } from "../../src/log.js";
import { fakeArtifact, fakeControlPlane } from "../harness/fake-control-plane.js";
import { encodedDeployApi, memoryReconciler, unitGatewayConfig } from "../harness/memory-gateway.js";

const LABEL = "Default";
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const artifact = (name: string, revision: number) => fakeArtifact(name, revision, LABEL);
const controlPlane = fakeControlPlane;

function setup() {
  const dir = mkdtempSync(join(tmpdir(), "gwsync-pipeline-"));
  dirs.push(dir);
  const config = unitGatewayConfig(dir, [LABEL]);
  const cp = controlPlane();
  const { deployer, reconciler } = memoryReconciler({ labels: [LABEL], retriever: cp.retriever });
  const runtime = new RuntimeState({ dir: join(dir, "runtime"), maxRevocationLifetimeMs: 24 * 3600 * 1000 });
  const metrics = new GatewayMetrics();
  const shutdown = new AbortController();
  const runtimeResults: string[] = [];
  let flushes = 0;
  const pipeline = new GatewayPipeline({
    config,
    metrics,
    runtime,
    durable: {
      durable: async () => {
        flushes++;
        await runtime.flush();
      },
    },
    reconciler,
    deployer,
    trust: { acceptInline: false, keys: undefined },
    watermark: () => 0,
    signal: shutdown.signal,
    log: silentLogger,
    onRuntime: (_stream, result) => runtimeResults.push(result),
  });
  return { pipeline, cp, deployer, runtime, metrics, shutdown, runtimeResults, flushes: () => flushes };
}

async function counter(
  metrics: GatewayMetrics,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}

function deployNotification(name: string, labels: string[], revision?: number) {
  const enc = encodedDeployApi(name, labels);
  return envelope("notification", enc.body, {
    messageId: enc.eventId,
    timestamp: enc.timestamp,
    contentType: "text/plain",
    headers: revision === undefined ? {} : { [HEADER_REVISION]: revision },
  });
}

function revocation(token: string) {
  const enc = encodeTokenRevocation({ revokedToken: token, expiryTime: Date.now() + 3_600_000, type: "JWT" });
  return {
    enc,
    env: envelope("tokenRevocation", enc.body, { messageId: enc.eventId, timestamp: enc.timestamp }),
  };
}

describe("GatewayPipeline.handle (no broker)", () => {
  let t: ReturnType<typeof setup>;
  beforeEach(() => {
    t = setup();
  });

  test("a body that is not an event is dead-lettered with its reason, nothing applied", async () => {
    const outcome = await t.pipeline.handle(envelope("notification", Buffer.from("{not json")));
    assert.equal(outcome.kind, "reject");
    assert.match((outcome as { reason: string }).reason, /json|JSON/);
    assert.equal(t.cp.state.fetches, 0);
    assert.equal(await counter(t.metrics, "gwsync_events_rejected_total", { stream: "notification" }), 1);
  });

  test("an event for other labels is acked without a fetch", async () => {
    const outcome = await t.pipeline.handle(deployNotification("Other", ["Elsewhere"]));
    assert.deepEqual(outcome, { kind: "ack" });
    assert.equal(t.cp.state.fetches, 0);
    assert.equal(
      await counter(t.metrics, "gwsync_events_skipped_total", {
        stream: "notification",
        why: "other-labels",
      }),
      1,
    );
  });

  test("a deploy for this gateway's label is fetched from the control plane, deployed, then acked", async () => {
    t.cp.published.set("id-Pizza", artifact("Pizza", 3));
    const outcome = await t.pipeline.handle(deployNotification("Pizza", [LABEL], 3));
    assert.deepEqual(outcome, { kind: "ack" });
    assert.equal(t.cp.state.fetches, 1);
    assert.equal(t.deployer.get("id-Pizza")?.revision, 3);
    assert.equal(await counter(t.metrics, "gwsync_events_applied_total", { stream: "notification" }), 1);
  });

  test("an event no newer than the deployed revision is stale: acked without a fetch", async () => {
    t.cp.published.set("id-Pizza", artifact("Pizza", 3));
    await t.pipeline.handle(deployNotification("Pizza", [LABEL], 3));
    const outcome = await t.pipeline.handle(deployNotification("Pizza", [LABEL], 2));
    assert.deepEqual(outcome, { kind: "ack" });
    assert.equal(t.cp.state.fetches, 1);
    assert.equal(
      await counter(t.metrics, "gwsync_events_skipped_total", { stream: "notification", why: "stale" }),
      1,
    );
  });

  test("a control plane that stays down: retry (requeue), the deployed copy kept", async () => {
    t.cp.state.fail = new GwsyncError("GWSYNC_FETCH_FAILED", "connect ECONNREFUSED");
    const outcome = await t.pipeline.handle(deployNotification("Pizza", [LABEL], 1));
    assert.equal(outcome.kind, "retry");
    assert.equal(t.cp.state.fetches, 2, "the first fetch and one retry (policy retries: 1)");
    assert.equal(t.deployer.get("id-Pizza"), undefined);
  });

  test("a shutdown during the fetch gives the message back (retry), never acks it", async () => {
    t.cp.state.fail = new GwsyncError("GWSYNC_FETCH_FAILED", "connect ECONNREFUSED");
    t.shutdown.abort(new GwsyncError("GWSYNC_SHUTTING_DOWN", "stopping"));
    const outcome = await t.pipeline.handle(deployNotification("Pizza", [LABEL], 1));
    assert.deepEqual(outcome, { kind: "retry", reason: "shutting down" });
  });

  test("a token revocation is applied and on disk before the ack; a redelivery is a duplicate", async () => {
    const { env } = revocation("tok-1");
    assert.deepEqual(await t.pipeline.handle(env), { kind: "ack" });
    assert.equal(t.flushes(), 1);
    assert.deepEqual(await t.pipeline.handle(env), { kind: "ack" });
    assert.equal(t.runtimeResults[0], "applied");
    assert.notEqual(t.runtimeResults[1], "applied");
    assert.ok(t.runtime.revokedTokens.isRevoked("tok-1"));
  });

  test("a batch applies its valid events and dead-letters the bad one alone", async () => {
    const good = revocation("tok-a").enc;
    const good2 = revocation("tok-b").enc;
    const body = encodeBatch([
      { messageId: good.eventId, timestamp: good.timestamp, body: good.body },
      { messageId: "bad-1", timestamp: Date.now(), body: Buffer.from('{"event":{"payloadData":{}}}') },
      { messageId: good2.eventId, timestamp: good2.timestamp, body: good2.body },
    ]);
    const outcome = await t.pipeline.handle(
      envelope("tokenRevocation", body, { contentType: CONTENT_TYPE_BATCH, headers: { [HEADER_BATCH]: 3 } }),
    );
    assert.equal(outcome.kind, "ack");
    const dead = outcome.kind === "ack" ? (outcome.deadLetters ?? []) : [];
    assert.equal(dead.length, 1);
    assert.equal(dead[0]!.messageId, "bad-1");
    assert.ok(t.runtime.revokedTokens.isRevoked("tok-a"));
    assert.ok(t.runtime.revokedTokens.isRevoked("tok-b"));
    assert.equal(t.flushes(), 1, "one fsync for the whole batch");
  });
});
