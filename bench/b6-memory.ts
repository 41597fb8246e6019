/**
 * B6: gateway resident memory with 100,000 APIs deployed, in files mode and in memory-only mode
 * (save_artifacts_locally = false). The APIs arrive the way a gateway gets them at start: the
 * sync-mode startup deployment from the control plane's data API. Figures are read from
 * /proc/<pid>/status of the gateway process, twice:
 * - 2 s after ready, after a forced full GC: what is left right after the load;
 * - once the gateway has been idle long enough for V8's memory reducer to run (it compacts the old
 *   generation and shrinks the young one ~8 s after the last full GC when nothing allocates; a forced
 *   gc() does neither), after a forced full GC again: what a serving sidecar keeps. This is the figure
 *   the goal is checked against.
 * VmHWM is the peak while loading. No baseline: the goal is absolute. GWSYNC_BENCH_HEAP_SNAPSHOT=<dir>
 * also writes a heap snapshot of each gateway at the end (bench/heap-summary.ts reads it).
 */
import { join } from "node:path";
import type { BenchChild } from "./lib/children.js";
import type { BenchContext, BenchOutcome, BenchRow } from "./lib/report.js";
import { scaled } from "./lib/scale.js";
import { drainOutbox, publishApis } from "./lib/seed.js";
import { fmtMb, fmtMs } from "./lib/stats.js";
import { BenchWorld } from "./lib/world.js";

const FULL_APIS = 100_000;
const GOAL_MB = 150;
const LOAD_TIMEOUT_MS = 900_000;
/** Let timers and the broker connection settle before reading memory. */
const SETTLE_MS = 2000;
/** V8 releases the pages a GC freed from a background task: read RSS a moment after it. */
const AFTER_GC_MS = 1000;
/** How long to wait for V8's memory reducer (it shrinks the young generation to ~1 MB per semi-space). */
const IDLE_MAX_MS = 60_000;
const IDLE_POLL_MS = 2000;
const REDUCED_NEW_SPACE_BYTES = 2 * 2 ** 20;

interface ModeResult {
  mode: "files" | "memory";
  ok: boolean;
  error?: string;
  deployed?: number;
  readyMs?: number;
  rssSettledKb?: number;
  rssAfterGcKb?: number;
  idleMs?: number;
  rssIdleKb?: number;
  hwmKb?: number;
  heapUsedAfterGc?: number;
  heapTotalAfterGc?: number;
  externalAfterGc?: number;
  arrayBuffersAfterGc?: number;
  heapUsedIdle?: number;
  heapTotalIdle?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Forced full GC, then memory once V8 has handed the freed pages back. */
async function afterGc(gw: BenchChild): Promise<{ stats: Record<string, unknown>; rssKb: number; hwmKb: number }> {
  const stats = await gw.request({ type: "stats", gc: true }, "stats");
  await sleep(AFTER_GC_MS);
  return { stats, ...gw.memory() };
}

/** Waits (bounded) until V8's memory reducer has shrunk the young generation; returns the time waited. */
async function waitForIdleReduction(gw: BenchChild): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < IDLE_MAX_MS) {
    await sleep(IDLE_POLL_MS);
    const stats = await gw.request({ type: "stats" }, "stats");
    const spaces = stats.heapSpaces as Record<string, { size: number }>;
    if ((spaces.new_space?.size ?? 0) <= REDUCED_NEW_SPACE_BYTES) break;
  }
  return Date.now() - t0;
}

async function measure(
  world: BenchWorld,
  mode: "files" | "memory",
  n: number,
  ctx: BenchContext,
): Promise<ModeResult> {
  ctx.log(`B6: gateway in ${mode} mode, sync startup of ${n} APIs`);
  let gw: BenchChild | undefined;
  try {
    gw = await world.spawnGateway({
      name: `gw-${mode}`,
      mode: "sync",
      saveLocally: mode === "files",
      nodeFlags: ["--expose-gc"],
    });
    const ready = await gw.request({ type: "start" }, "ready", LOAD_TIMEOUT_MS);
    const startup = ready.startup as { phase: string; error?: string };
    if (ready.deployed !== n) {
      return {
        mode,
        ok: false,
        error: `ready with ${String(ready.deployed)} of ${n} APIs deployed (startup ${startup.phase}${startup.error ? `: ${startup.error}` : ""})`,
        hwmKb: gw.memory().hwmKb,
      };
    }
    await sleep(SETTLE_MS);
    const settled = gw.memory();
    const early = await afterGc(gw);
    const idleMs = await waitForIdleReduction(gw);
    const idle = await afterGc(gw);
    const snapDir = process.env.GWSYNC_BENCH_HEAP_SNAPSHOT;
    if (snapDir)
      await gw.request(
        { type: "heap-snapshot", file: join(snapDir, `b6-${mode}-${n}.heapsnapshot`) },
        "heap-snapshot",
        LOAD_TIMEOUT_MS,
      );
    return {
      mode,
      ok: true,
      deployed: ready.deployed as number,
      readyMs: (ready.t as number) - (ready.t0 as number),
      rssSettledKb: settled.rssKb,
      rssAfterGcKb: early.rssKb,
      idleMs,
      rssIdleKb: idle.rssKb,
      hwmKb: idle.hwmKb,
      heapUsedAfterGc: early.stats.heapUsed as number,
      heapTotalAfterGc: early.stats.heapTotal as number,
      externalAfterGc: early.stats.external as number,
      arrayBuffersAfterGc: early.stats.arrayBuffers as number,
      heapUsedIdle: idle.stats.heapUsed as number,
      heapTotalIdle: idle.stats.heapTotal as number,
    };
  } catch (err) {
    return {
      mode,
      ok: false,
      error: (err as Error).message,
      ...(gw && !gw.exited ? { hwmKb: gw.memory().hwmKb } : {}),
    };
  } finally {
    await gw?.stop();
  }
}

function row(r: ModeResult, n: number): BenchRow {
  const what = `gateway RSS, ${n.toLocaleString("en-US")} APIs, ${r.mode === "files" ? "files mode" : "memory-only mode"}`;
  if (!r.ok)
    return {
      id: "B6",
      what,
      gwsync: "failed",
      baseline: "—",
      goal: `≤ ${GOAL_MB} MB`,
      met: false,
      note: r.error ?? "",
    };
  return {
    id: "B6",
    what,
    gwsync: fmtMb(r.rssIdleKb!),
    baseline: "—",
    goal: `≤ ${GOAL_MB} MB`,
    met: r.rssIdleKb! / 1024 <= GOAL_MB,
    note:
      `VmRSS after forced GC once idle (${fmtMs(r.idleMs!)} after the first reading; V8 heap ${fmtMb(r.heapUsedIdle! / 1024)} used of ${fmtMb(r.heapTotalIdle! / 1024)}); ` +
      `2 s after ready ${fmtMb(r.rssSettledKb!)}, after forced GC ${fmtMb(r.rssAfterGcKb!)} (V8 heap ${fmtMb(r.heapUsedAfterGc! / 1024)} used of ${fmtMb(r.heapTotalAfterGc! / 1024)}, ` +
      `external ${fmtMb(r.externalAfterGc! / 1024)}, array buffers ${fmtMb(r.arrayBuffersAfterGc! / 1024)}); peak (VmHWM) ${fmtMb(r.hwmKb!)} during the ${fmtMs(r.readyMs!)} startup`,
  };
}

export async function b6Memory(ctx: BenchContext): Promise<BenchOutcome> {
  const n = scaled("B6", FULL_APIS, 1000);
  const world = new BenchWorld({ storeOnTmpfs: true });
  try {
    const svc = await world.startPublisher();
    ctx.log(`B6: seeding ${n} APIs`);
    const t0 = Date.now();
    await publishApis(svc, { count: n, log: ctx.log });
    await drainOutbox(svc);
    const seedMs = Date.now() - t0;
    const results = [await measure(world, "files", n, ctx), await measure(world, "memory", n, ctx)];
    return { rows: results.map((r) => row(r, n)), details: { apis: n, seedMs, results } };
  } finally {
    await world.close();
  }
}
