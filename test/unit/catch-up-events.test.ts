/**
 * Issue 20: after a reconnect, a gateway's queued events and its catch-up ask for the same APIs. While
 * a catch-up runs, an event for an API it is about to apply waits for it and is then acknowledged as
 * stale, without a fetch of its own; the catch-up asks the changed APIs in one batch.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, mock, test } from "node:test";
import { envelope } from "../../src/amqp/envelope.js";
import type { GwsyncConfig } from "../../src/config/types.js";
import { GwsyncError } from "../../src/errors.js";
import { HEADER_REVISION } from "../../src/events/topics.js";
import type { MemoryDeployer } from "../../src/gateway/deploy/memory-deployer.js";
import { GatewayPipeline } from "../../src/gateway/pipeline.js";
import type { CatchUpWaitOutcome } from "../../src/gateway/reconcile-core.js";
import type { Reconciler, ReconcilerHooks } from "../../src/gateway/reconciler.js";
import type { ArtifactRetriever, ChangeEntry, RetrievedArtifact } from "../../src/gateway/retriever.js";
import { RuntimeState } from "../../src/gateway/runtime/runtime-state.js";
import { GatewayMetrics } from "../../src/http/metrics.js";
import { silentLogger } from "../../src/log.js";
import { fakeArtifact } from "../harness/fake-control-plane.js";
import { encodedDeployApi, memoryReconciler, unitGatewayConfig } from "../harness/memory-gateway.js";

const LABEL = "Default";
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function deployNotification(name: string, revision: number, timestamp?: number) {
  const enc = encodedDeployApi(name, [LABEL]);
  return envelope("notification", enc.body, {
    messageId: enc.eventId,
    timestamp: timestamp ?? enc.timestamp,
    contentType: "text/plain",
    headers: { [HEADER_REVISION]: revision },
  });
}

/** A temp data folder (removed after the file) and a gateway configuration of LABEL in it. */
function gatewayConfig(prefix: string): { dir: string; config: GwsyncConfig } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return { dir, config: unitGatewayConfig(dir, [LABEL]) };
}

/** The gateway's message path over this test's reconciler and deployer (no runtime events, no trust keys). */
function pipelineFor(o: {
  config: GwsyncConfig;
  dir: string;
  metrics: GatewayMetrics;
  reconciler: Reconciler;
  deployer: MemoryDeployer;
}): GatewayPipeline {
  return new GatewayPipeline({
    config: o.config,
    metrics: o.metrics,
    runtime: new RuntimeState({ dir: join(o.dir, "runtime"), maxRevocationLifetimeMs: 3600_000 }),
    durable: { durable: async () => undefined },
    reconciler: o.reconciler,
    deployer: o.deployer,
    trust: { acceptInline: false, keys: undefined },
    watermark: () => 0,
    signal: new AbortController().signal,
    log: silentLogger,
  });
}

/** X and Y published at revision 2 while the gateway was away, and the changelog entries that say so. */
function changedWhileAway(published: Map<string, RetrievedArtifact>): ChangeEntry[] {
  for (const name of ["X", "Y"]) published.set(`id-${name}`, fakeArtifact(name, 2, LABEL));
  return ["X", "Y"].map((name, i) => ({
    seq: 5 + i,
    apiId: `id-${name}`,
    label: LABEL,
    instruction: "Publish" as const,
    revision: 2,
    sha256: published.get(`id-${name}`)!.sha256,
  }));
}

/**
 * X and Y published at revision 1 and deployed by a gateway whose pipeline runs over a fake control
 * plane. `asked` records its fetches, one by one and in batches; its changelog answers `changes`, after
 * `beforeRead` (which may throw) and once its gate is open: `closeChangelog()` shuts the gate until
 * `openChangelog()`.
 */
async function catchUpWorld(
  prefix: string,
  o: { hooks?: ReconcilerHooks; beforeRead?: () => void; beforeBatch?: () => void } = {},
) {
  const { dir, config } = gatewayConfig(prefix);
  const published = new Map<string, RetrievedArtifact>();
  for (const name of ["X", "Y"]) published.set(`id-${name}`, fakeArtifact(name, 1, LABEL));
  const asked = { singles: [] as string[], batches: [] as string[][] };
  let changelogGate = Promise.resolve();
  let openGate = () => {};
  const changelog = {
    changes: [] as ChangeEntry[],
    closeChangelog: () => {
      changelogGate = new Promise<void>((r) => {
        openGate = r;
      });
    },
    openChangelog: () => openGate(),
  };
  const retriever: ArtifactRetriever = {
    retrieveArtifact: async (apiId) => {
      asked.singles.push(apiId);
      return published.get(apiId);
    },
    retrieveArtifacts: async (apiIds) => {
      o.beforeBatch?.();
      asked.batches.push([...apiIds]);
      const items = apiIds.flatMap((id) => (published.has(id) ? [published.get(id)!] : []));
      return { items, rejected: [], head: 10, answered: new Set(apiIds) };
    },
    retrieveAllArtifacts: async () => ({ items: [...published.values()], head: 0 }),
    changesSince: async () => {
      o.beforeRead?.();
      await changelogGate;
      return { head: 10, changes: changelog.changes };
    },
  };
  const { deployer, reconciler } = memoryReconciler({
    labels: [LABEL],
    retriever,
    ...(o.hooks === undefined ? {} : { hooks: o.hooks }),
  });
  for (const name of ["X", "Y"]) await reconciler.reconcile(`id-${name}`, [LABEL]);
  asked.singles.length = 0;
  const metrics = new GatewayMetrics();
  const pipeline = pipelineFor({ config, dir, metrics, reconciler, deployer });
  return Object.assign(changelog, { published, asked, deployer, reconciler, metrics, pipeline });
}

test("an event for an API the running catch-up will apply waits for it: acked as stale, no fetch of its own; the catch-up fetched both changed APIs in one batch", async () => {
  const w = await catchUpWorld("gwsync-catchup-events-");
  const { published, asked, deployer, reconciler, metrics, pipeline } = w;
  assert.equal(deployer.get("id-X")?.revision, 1);
  w.closeChangelog();
  // While the gateway was away both APIs changed; the changelog says so.
  w.changes = changedWhileAway(published);
  const caughtUp = reconciler.catchUp(0);
  // The queued event arrives while the catch-up reads the changelog.
  const handled = pipeline.handle(deployNotification("X", 2));
  w.openChangelog();
  const [outcome, r] = await Promise.all([handled, caughtUp]);
  assert.deepEqual(outcome, { kind: "ack" });
  assert.equal(r.applied, 2);
  assert.equal(deployer.get("id-X")?.revision, 2);
  assert.equal(deployer.get("id-Y")?.revision, 2);
  assert.deepEqual(asked.singles, [], "the event fetched nothing of its own");
  assert.deepEqual(asked.batches, [["id-X", "id-Y"]], "one batch for both changed APIs");
  const skipped = (await metrics.registry.getMetricsAsJSON())
    .find((m) => m.name === "gwsync_events_skipped_total")
    ?.values.find((v) => v.labels.why === "stale")?.value;
  assert.equal(skipped, 1, "the event was acknowledged as stale");

  // No catch-up running: an event fetches its API itself, as before.
  published.set("id-Y", fakeArtifact("Y", 3, LABEL));
  assert.deepEqual(await pipeline.handle(deployNotification("Y", 3)), { kind: "ack" });
  assert.deepEqual(asked.singles, ["id-Y"]);
  assert.equal(deployer.get("id-Y")?.revision, 3);
});

/** gwsync_publish_to_deployed_seconds as { count, sum } (seconds). */
async function latency(metrics: GatewayMetrics): Promise<{ count: number; sum: number }> {
  const values = (await metrics.registry.getMetricsAsJSON()).find(
    (m) => m.name === "gwsync_publish_to_deployed_seconds",
  )?.values;
  const pick = (suffix: string) =>
    values?.find(
      (v) => (v as { metricName?: string }).metricName === `gwsync_publish_to_deployed_seconds_${suffix}`,
    )?.value ?? 0;
  return { count: pick("count"), sum: pick("sum") };
}

test("publish→deployed latency: an event whose change a catch-up applied is measured once, to the catch-up's deploy; a truly stale event or a duplicate is not", async (t) => {
  // The clock is the test's (Date only; timers stay real): the deploy's moment and the ack's differ.
  const T0 = 1_700_000_000_000;
  mock.timers.enable({ apis: ["Date"], now: T0 });
  t.after(() => mock.timers.reset());
  // Each apply takes 7 s on the test's clock, counted after its moment is noted: an event measured to
  // its ack instead of the deploy would read 7 s more.
  let slowApplies = false;
  const w = await catchUpWorld("gwsync-catchup-latency-", {
    hooks: {
      onApplied: (outcome) => {
        if (slowApplies && outcome === "deployed") mock.timers.tick(7000);
      },
    },
  });
  const { published, deployer, reconciler, metrics, pipeline } = w;
  const singles = w.asked.singles;
  w.closeChangelog();
  // Both APIs changed to revision 2 at T0 while the gateway was away.
  w.changes = changedWhileAway(published);
  // The gateway is back 3 s later; its catch-up applies X then Y, 7 s each.
  mock.timers.tick(3000);
  slowApplies = true;
  const caughtUp = reconciler.catchUp(0);
  // X's event is delivered while the catch-up reads the changelog: it waits for the catch-up.
  const handled = pipeline.handle(deployNotification("X", 2, T0));
  w.openChangelog();
  const [outcome] = await Promise.all([handled, caughtUp]);
  slowApplies = false;
  assert.deepEqual(outcome, { kind: "ack" });
  assert.equal(deployer.get("id-X")?.revision, 2);
  assert.deepEqual(singles, [], "the event fetched nothing of its own");
  // X was deployed at T0 + 3 s (the 7 s of its apply come after the moment it was in place).
  assert.deepEqual(
    await latency(metrics),
    { count: 1, sum: 3 },
    "X's event measured to the catch-up's deploy",
  );

  // Y's event is delivered after the catch-up deployed Y (at T0 + 10 s): its very revision was applied
  // before it arrived, so it is measured to that apply, once.
  mock.timers.tick(60_000);
  assert.deepEqual(await pipeline.handle(deployNotification("Y", 2, T0)), { kind: "ack" });
  assert.deepEqual(
    await latency(metrics),
    { count: 2, sum: 13 },
    "Y's event measured to the catch-up's deploy",
  );

  // A duplicate of either event is not measured again.
  assert.deepEqual(await pipeline.handle(deployNotification("X", 2, T0)), { kind: "ack" });
  assert.deepEqual(await pipeline.handle(deployNotification("Y", 2, T0)), { kind: "ack" });
  // A truly stale event (revision 1, older than the revision 2 deployed when it arrived) is not measured.
  assert.deepEqual(await pipeline.handle(deployNotification("X", 1, T0 - 1000)), { kind: "ack" });
  assert.deepEqual(await latency(metrics), { count: 2, sum: 13 }, "no duplicate and no stale event measured");
  assert.deepEqual(singles, [], "none of them fetched");

  // An event applied by its own fetch is measured as before, once.
  published.set("id-Y", fakeArtifact("Y", 3, LABEL));
  const t3 = Date.now();
  mock.timers.tick(2000);
  assert.deepEqual(await pipeline.handle(deployNotification("Y", 3, t3)), { kind: "ack" });
  assert.deepEqual(singles, ["id-Y"]);
  assert.deepEqual(await latency(metrics), { count: 3, sum: 15 });
  assert.deepEqual(await pipeline.handle(deployNotification("Y", 3, t3)), { kind: "ack" });
  assert.deepEqual(await latency(metrics), { count: 3, sum: 15 }, "its duplicate is not measured");
});

test("an event waits for a slow changelog read, past the 2 s it used to (a reconnect storm's reads queue), but not for a failing one", async (t) => {
  let reads = 0;
  let failFirstRead = false;
  const w = await catchUpWorld("gwsync-catchup-slow-", {
    beforeRead: () => {
      reads++;
      if (failFirstRead && reads === 1) throw new GwsyncError("GWSYNC_FETCH_FAILED", "connection refused");
    },
  });
  const { published, deployer, reconciler, pipeline, closeChangelog, openChangelog } = w;
  const singles = w.asked.singles;

  // Slow: the read takes 10 s on the test's clock; the event still waits for the catch-up's plan.
  closeChangelog();
  w.changes = changedWhileAway(published);
  mock.timers.enable({ apis: ["setTimeout"] });
  t.after(() => mock.timers.reset());
  const caughtUp = reconciler.catchUp(0);
  const handled = pipeline.handle(deployNotification("X", 2));
  for (let i = 0; i < 20; i++) await Promise.resolve();
  mock.timers.tick(10_000);
  for (let i = 0; i < 20; i++) await Promise.resolve();
  mock.timers.reset();
  assert.deepEqual(singles, [], "after 10 s the event still waits for the plan: no fetch of its own");
  openChangelog();
  assert.deepEqual(await handled, { kind: "ack" });
  await caughtUp;
  assert.deepEqual(singles, [], "the catch-up applied X; the event was acked as stale");
  assert.equal(deployer.get("id-X")?.revision, 2);

  // Failing: the first read is refused (control plane down); the event goes its own way at once,
  // while the catch-up's retry is still waiting on the changelog.
  reads = 0;
  failFirstRead = true;
  closeChangelog();
  published.set("id-Y", fakeArtifact("Y", 3, LABEL));
  w.changes = [
    {
      seq: 11,
      apiId: "id-Y",
      label: LABEL,
      instruction: "Publish",
      revision: 3,
      sha256: published.get("id-Y")!.sha256,
    },
  ];
  const caughtUp2 = reconciler.catchUp(10);
  // Bounded wait (not a timing claim): without the stall signal the event sat out the 30 s limit.
  const handledY = await Promise.race([
    pipeline.handle(deployNotification("Y", 3)),
    new Promise<"still waiting">((r) => setTimeout(() => r("still waiting"), 5_000).unref()),
  ]);
  assert.deepEqual(handledY, { kind: "ack" });
  assert.deepEqual(
    singles,
    ["id-Y"],
    "the event fetched its API itself while the changelog read was failing",
  );
  assert.equal(deployer.get("id-Y")?.revision, 3);
  openChangelog();
  await caughtUp2;
});

test("each wait for a catch-up is counted by how it ended: applied, not planned, none, stalled, released, timed out", async (t) => {
  const outcomes: CatchUpWaitOutcome[] = [];
  let failNextRead = false;
  let failBatches = false;
  const w = await catchUpWorld("gwsync-catchup-outcomes-", {
    hooks: { onCatchUpWait: (o) => outcomes.push(o) },
    beforeRead: () => {
      if (failNextRead) {
        failNextRead = false;
        throw new GwsyncError("GWSYNC_FETCH_FAILED", "connection refused");
      }
    },
    beforeBatch: () => {
      if (failBatches) throw new GwsyncError("GWSYNC_FETCH_FAILED", "timed out");
    },
  });
  const { published, reconciler } = w;

  // No catch-up running.
  assert.equal(await reconciler.waitForCatchUp("id-X"), false);
  assert.deepEqual(outcomes.splice(0), ["none"]);

  // A catch-up that applies X and Y: X's event waits for it; an API it does not cover does not.
  w.closeChangelog();
  w.changes = changedWhileAway(published);
  const caughtUp = reconciler.catchUp(0);
  const waitX = reconciler.waitForCatchUp("id-X");
  const waitZ = reconciler.waitForCatchUp("id-Z");
  w.openChangelog();
  assert.deepEqual(await Promise.all([waitX, waitZ, caughtUp.then(() => "done")]), [true, false, "done"]);
  assert.deepEqual(outcomes.splice(0).sort(), ["applied", "not-planned"]);

  // Its changelog read fails (not busy): the wait ends at once.
  w.closeChangelog();
  failNextRead = true;
  const caughtUp2 = reconciler.catchUp(10);
  assert.equal(await reconciler.waitForCatchUp("id-X"), false);
  assert.deepEqual(outcomes.splice(0), ["stalled"]);
  w.openChangelog();
  await caughtUp2;

  // The plan is made, then the batch read fails and the catch-up with it: the waiting event is released
  // (it then checks its revision and fetches on its own).
  for (const name of ["X", "Y"]) published.set(`id-${name}`, fakeArtifact(name, 3, LABEL));
  w.changes = ["X", "Y"].map((name, i) => ({
    seq: 20 + i,
    apiId: `id-${name}`,
    label: LABEL,
    instruction: "Publish" as const,
    revision: 3,
    sha256: published.get(`id-${name}`)!.sha256,
  }));
  w.closeChangelog();
  failBatches = true;
  const failed = reconciler.catchUp(10).then(
    () => "resolved",
    (err: Error) => err.message,
  );
  const waitReleased = reconciler.waitForCatchUp("id-X");
  w.openChangelog();
  assert.equal(await waitReleased, true);
  assert.match(await failed, /timed out/);
  assert.deepEqual(outcomes.splice(0), ["released"]);
  failBatches = false;

  // No plan within CATCH_UP_PLAN_WAIT_MS (120 s, on the test's clock): the event stops waiting.
  w.closeChangelog();
  mock.timers.enable({ apis: ["setTimeout"] });
  t.after(() => mock.timers.reset());
  const caughtUp4 = reconciler.catchUp(10);
  const waitLong = reconciler.waitForCatchUp("id-X");
  for (let i = 0; i < 20; i++) await Promise.resolve();
  mock.timers.tick(120_001);
  assert.equal(await waitLong, false);
  mock.timers.reset();
  assert.deepEqual(outcomes.splice(0), ["timed-out"]);
  w.openChangelog();
  await caughtUp4;
});

test("a changelog read that timed out or was reset keeps the events waiting for its retry; one refused releases them", async () => {
  const outcomes: CatchUpWaitOutcome[] = [];
  let failNext: Error | undefined;
  const w = await catchUpWorld("gwsync-catchup-loaded-", {
    hooks: { onCatchUpWait: (o) => outcomes.push(o) },
    beforeRead: () => {
      const err = failNext;
      failNext = undefined;
      if (err) throw err;
    },
  });
  const { published, reconciler, pipeline } = w;
  const singles = w.asked.singles;
  // What the retriever throws (src/gateway/retriever.ts: httpGet's timer, a reset socket).
  const timedOut = Object.assign(new Error("no complete reply within 30000 ms"), { name: "TimeoutError" });
  const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
  const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), { code: "ECONNREFUSED" });
  const unreachable = (cause: Error) =>
    new GwsyncError("GWSYNC_FETCH_FAILED", `control plane unreachable: ${cause.message}`, { cause });

  let seq = 5;
  let revision = 1;
  const changeAll = () => {
    revision++;
    for (const name of ["X", "Y"]) published.set(`id-${name}`, fakeArtifact(name, revision, LABEL));
    w.changes = ["X", "Y"].map((name) => ({
      seq: ++seq,
      apiId: `id-${name}`,
      label: LABEL,
      instruction: "Publish" as const,
      revision,
      sha256: published.get(`id-${name}`)!.sha256,
    }));
  };
  for (const cause of [timedOut, reset]) {
    changeAll();
    failNext = unreachable(cause);
    const caughtUp = reconciler.catchUp(0);
    const handled = pipeline.handle(deployNotification("X", revision));
    assert.deepEqual(await handled, { kind: "ack" });
    await caughtUp;
    assert.deepEqual(singles, [], `${cause.message}: the event waited for the read's retry, no fetch of its own`);
    assert.deepEqual(outcomes.splice(0), ["applied"], cause.message);
  }
  // Refused: the control plane is down; the event goes its own way at once.
  changeAll();
  failNext = unreachable(refused);
  w.closeChangelog();
  const caughtUp = reconciler.catchUp(0);
  assert.deepEqual(await pipeline.handle(deployNotification("X", revision)), { kind: "ack" });
  assert.deepEqual(singles, ["id-X"], "refused: the event fetched its API itself");
  assert.deepEqual(outcomes.splice(0), ["stalled"]);
  w.openChangelog();
  await caughtUp;
});
