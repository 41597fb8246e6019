/**
 * The rollout index (src/publisher/rollout-index.ts) answers "which APIs' rollouts are not complete"
 * without judging every API on every gateway per request. It must give exactly the set the full
 * judgement gives (fleet-view.ts buildRollout, one API at a time), whatever happens in between:
 * publishes and removes on several labels, gateways that change labels, stop, go silent or are
 * forgotten, full snapshots and deltas with right, wrong and missing artifacts, refusals.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { GatewayApiDto } from "../../src/artifacts/types.js";
import type { GatewayReport, ReportEntry } from "../../src/events/gateway-report.js";
import { silentLogger } from "../../src/log.js";
import { FleetLagCache, fleetView, rolloutPage, rolloutView } from "../../src/publisher/fleet-view.js";
import { ReportIntake } from "../../src/publisher/gateway-reports.js";
import { RolloutIndex } from "../../src/publisher/rollout-index.js";
import { openStore } from "../../src/store/open-store.js";
import type { ArtifactStore } from "../../src/store/types.js";
import { tempDir } from "../harness/temp-dir.js";

const LABELS = ["L1", "L2", "L3"];

/** mulberry32: a fixed sequence per seed, so a failure can be replayed. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
    subset: <T>(xs: readonly T[]): T[] => {
      const out = xs.filter(() => next() < 0.5);
      return out.length > 0 ? out : [xs[Math.floor(next() * xs.length)]!];
    },
  };
}

function dto(i: number, version: number): GatewayApiDto {
  return {
    name: `A${String(i).padStart(3, "0")}`,
    version: "1.0.0",
    provider: "admin",
    tenantDomain: "carbon.super",
    apiId: `id-${i}`,
    apiDefinition: `<api name="admin--A${i}" context="/a${i}/v${version}" version="1.0.0"/>`,
  };
}

const sha = (c: string) => c.repeat(64);

/** The heartbeat of a ready gateway `nodeId` serving L1 (region r), last seen at 5. */
const hb = (nodeId: string) => ({
  nodeId,
  region: "r",
  labels: ["L1"],
  appliedSeq: 0,
  deployed: 0,
  version: "v",
  status: "ready" as const,
  intervalMs: 1000,
  lastSeen: 5,
});

/** What the full judgement says: the ids of APIs whose rollout is not complete, built one by one. */
async function bruteForce(store: ArtifactStore, now: number): Promise<string[]> {
  const page = await rolloutPage(store, { problems: true, limit: 200 }, now);
  assert.ok(page.total <= 200, "the test's world fits one page");
  return page.items.map((i) => i.apiId);
}

async function indexed(
  store: ArtifactStore,
  index: RolloutIndex,
  now: number,
): Promise<{ ids: string[]; total: number }> {
  const page = await rolloutPage(store, { problems: true, limit: 200, index }, now);
  return { ids: page.items.map((i) => i.apiId), total: page.total };
}

async function scenario(
  seed: number,
  ops: number,
): Promise<{ checks: number; nonEmpty: number; index: RolloutIndex; lags: FleetLagCache }> {
  const rnd = prng(seed);
  const store = openStore({ type: "sqlite", url: join(tempDir("gwsync-rollout-index-"), "a.db") });
  const index = new RolloutIndex(store);
  const lags = new FleetLagCache();
  const intake = new ReportIntake({
    store,
    logger: silentLogger,
    onRefused: () => undefined,
    // As the publisher does.
    onRecorded: (r, replace) => {
      lags.noteReport(r.nodeId);
      void index.noteReport(r, replace);
    },
  });
  const now = 10_000_000;
  const API_COUNT = 30;
  const GATEWAYS = 8;
  const versions = new Map<number, number>();
  const gw = Array.from({ length: GATEWAYS }, (_, g) => ({
    nodeId: `gw-${g}`,
    labels: rnd.subset(LABELS),
    seq: 0,
    boot: "b0",
    appliedSeq: 0,
  }));
  let checks = 0;
  let nonEmpty = 0;
  // As the publisher does: record the heartbeat, then tell the index (which judges a new or relabelled gateway).
  const beat = async (
    g: (typeof gw)[number],
    o: { status?: "ready" | "stopped"; lastSeen?: number } = {},
  ) => {
    await record(g, o);
    void index.noteHeartbeat(g);
  };
  const record = async (g: (typeof gw)[number], o: { status?: "ready" | "stopped"; lastSeen?: number }) =>
    store.recordHeartbeat({
      nodeId: g.nodeId,
      region: "r",
      labels: g.labels,
      appliedSeq: g.appliedSeq,
      deployed: 0,
      version: "v",
      status: o.status ?? "ready",
      intervalMs: 1000,
      lastSeen: o.lastSeen ?? now,
    });
  /** A report entry for API i on gateway g: right, wrong, nothing, or a refusal. */
  const entry = async (g: (typeof gw)[number], i: number): Promise<ReportEntry> => {
    const apiId = `id-${i}`;
    const rows = await store.listApiLabels(apiId);
    const expected = rows
      .filter((r) => r.instruction === "Publish" && g.labels.includes(r.label))
      .sort((a, b) => b.revision - a.revision)[0];
    const roll = rnd.next();
    if (roll < 0.6 && expected)
      return { apiId, served: { revision: expected.revision, sha256: expected.sha256 } };
    if (roll < 0.75) return { apiId, served: { revision: 1, sha256: sha(rnd.pick(["a", "b", "c"])) } };
    if (roll < 0.85)
      return {
        apiId,
        refusal: { revision: expected?.revision ?? 0, code: "GWSYNC_X", message: "m", at: now },
      };
    return { apiId };
  };
  const send = async (
    g: (typeof gw)[number],
    r: Omit<GatewayReport, "nodeId" | "boot" | "seq" | "sentAt">,
  ) => {
    g.seq++;
    await intake.accept({ nodeId: g.nodeId, boot: g.boot, seq: g.seq, sentAt: now, ...r });
  };

  try {
    for (const g of gw) await beat(g);
    for (let step = 0; step < ops; step++) {
      const roll = rnd.next();
      const i = rnd.int(API_COUNT);
      const g = rnd.pick(gw);
      if (roll < 0.25) {
        const v = (versions.get(i) ?? 0) + 1;
        versions.set(i, v);
        await store.saveArtifact(
          { dto: dto(i, v), labels: rnd.subset(LABELS), instruction: "Publish" },
          () => [],
        );
      } else if (roll < 0.3 && versions.has(i)) {
        const live = (await store.listApiLabels(`id-${i}`))
          .filter((r) => r.instruction === "Publish")
          .map((r) => r.label);
        if (live.length > 0)
          await store.saveArtifact(
            { dto: dto(i, versions.get(i)!), labels: rnd.subset(live), instruction: "Remove" },
            () => [],
          );
      } else if (roll < 0.6) {
        const n = 1 + rnd.int(4);
        const apis = [];
        for (let k = 0; k < n; k++) apis.push(await entry(g, rnd.int(API_COUNT)));
        await send(g, { kind: "delta", part: 1, parts: 1, served: 0, refused: 0, apis });
      } else if (roll < 0.7) {
        // A full snapshot in two parts; sometimes a new boot.
        if (rnd.next() < 0.3) {
          g.boot = `b${step}`;
          g.seq = 0;
        }
        const all = [];
        for (let k = 0; k < API_COUNT; k++) if (rnd.next() < 0.7) all.push(await entry(g, k));
        const half = Math.floor(all.length / 2);
        await send(g, { kind: "full", part: 1, parts: 2, served: 0, refused: 0, apis: all.slice(0, half) });
        await send(g, { kind: "full", part: 2, parts: 2, served: 0, refused: 0, apis: all.slice(half) });
      } else if (roll < 0.78) {
        g.labels = rnd.subset(LABELS);
        await beat(g);
      } else if (roll < 0.84) {
        await beat(g, rnd.next() < 0.5 ? { status: "stopped" } : { lastSeen: now - 60_000 });
      } else if (roll < 0.9) {
        // Caught up to some point of the changelog (/fleet's lag counts the changes after it).
        g.appliedSeq = rnd.int((await store.headSeq()) + 1);
        await beat(g);
      } else if (roll < 0.93) {
        if (await store.forgetGateway(g.nodeId)) {
          intake.forget(g.nodeId);
          await index.forget(g.nodeId);
          lags.forget(g.nodeId);
        }
      }
      if (step % 7 === 6 || step === ops - 1) {
        const want = await bruteForce(store, now);
        const got = await indexed(store, index, now);
        assert.deepEqual(got.ids, want, `seed ${seed}, step ${step}: the index's "not complete" set`);
        assert.equal(got.total, want.length);
        // And each listed API's own rollout agrees.
        for (const id of want) assert.equal((await rolloutView(store, id, now))?.complete, false);
        // The pages' items (counts per status, complete) come from the index's kept statuses: the
        // same as the full judgement's, with and without the filter, at this moment and a minute on
        // (every gateway missing: pending turns offline).
        for (const at of [now, now + 60_000]) {
          for (const problems of [true, false]) {
            assert.deepEqual(
              await rolloutPage(store, { problems, limit: 200, index }, at),
              await rolloutPage(store, { problems, limit: 200 }, at),
              `seed ${seed}, step ${step}: the ${problems ? "problems" : "full"} page at ${at - now} ms`,
            );
          }
        }
        // /fleet with the lags kept from earlier requests says what it says reading them afresh.
        for (const at of [now, now + 60_000]) {
          assert.deepEqual(
            await fleetView(store, at, lags),
            await fleetView(store, at),
            `seed ${seed}, step ${step}: /fleet with kept lags at ${at - now} ms`,
          );
        }
        checks++;
        if (want.length > 0) nonEmpty++;
      }
    }
    const all = await rolloutPage(store, { limit: 200, index }, now);
    const allBrute = await rolloutPage(store, { limit: 200 }, now);
    assert.deepEqual(all, allBrute, "the unfiltered listing is the same with and without the index");
    return { checks, nonEmpty, index, lags };
  } finally {
    await store.close();
  }
}

describe("rollout index: the 'not complete' set without judging every API on every gateway", () => {
  for (const seed of [1, 7, 2024]) {
    test(`equals the full judgement after every few of 300 random changes (seed ${seed})`, async () => {
      const { checks, nonEmpty, index, lags } = await scenario(seed, 300);
      assert.ok(checks >= 40);
      assert.ok(
        nonEmpty >= checks / 2,
        `the set was non-empty in ${nonEmpty} of ${checks} checks: the test judges something`,
      );
      assert.equal(index.stats.builds, 1, "built once, then kept up to date (no rebuild per query)");
      assert.ok(
        lags.stats.reused > lags.stats.computed,
        `lags reused ${lags.stats.reused}, computed ${lags.stats.computed}`,
      );
    });
  }

  test("a gateway whose reports could not be read is judged again at the next query", async () => {
    const real = openStore({ type: "sqlite", url: join(tempDir("gwsync-rollout-index-"), "c.db") });
    let failNodeReads = 0;
    const store = new Proxy(real, {
      get(target, prop, receiver) {
        if (prop === "listGatewayReports") {
          return async (f: Parameters<ArtifactStore["listGatewayReports"]>[0]) => {
            if (f?.nodeId !== undefined && failNodeReads-- > 0) throw new Error("store unavailable");
            return target.listGatewayReports(f);
          };
        }
        const v = Reflect.get(target, prop, receiver);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    try {
      const index = new RolloutIndex(store);
      await store.saveArtifact({ dto: dto(1, 1), labels: ["L1"], instruction: "Publish" }, () => []);
      await index.apis([hb("a")], 5); // built
      failNodeReads = 1;
      await assert.rejects(index.noteHeartbeat(hb("b")), /store unavailable/);
      const r = await index.apis([hb("a"), hb("b")], 5);
      assert.deepEqual(r.summary("id-1"), {
        counts: { deployed: 0, removed: 0, pending: 2, refused: 0, offline: 0 },
        complete: false,
      });
    } finally {
      await real.close();
    }
  });

  test("a query reads only what changed: per changed API one judgement, not one per API", async () => {
    const store = openStore({ type: "sqlite", url: join(tempDir("gwsync-rollout-index-"), "b.db") });
    try {
      const index = new RolloutIndex(store);
      for (let i = 0; i < 50; i++)
        await store.saveArtifact({ dto: dto(i, 1), labels: ["L1"], instruction: "Publish" }, () => []);
      const gateways = [hb("g")];
      let r = await index.apis(gateways, 5);
      assert.equal(r.list.filter((a) => !r.complete(a.apiId)).length, 50, "nothing reported: all pending");
      assert.equal(index.stats.nodeRefreshes, 1);
      await store.saveArtifact({ dto: dto(3, 2), labels: ["L1"], instruction: "Publish" }, () => []);
      const before = index.stats.apiRefreshes;
      r = await index.apis(gateways, 5);
      assert.equal(index.stats.apiRefreshes - before, 1, "one API changed: one API judged again");
      r = await index.apis(gateways, 1_000_000);
      assert.equal(
        r.list.filter((a) => !r.complete(a.apiId)).length,
        0,
        "the gateway is missing now: nothing live is behind",
      );
      assert.equal(index.stats.nodeRefreshes, 1, "liveness needs no re-reading");
    } finally {
      await store.close();
    }
  });
});
