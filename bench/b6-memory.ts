/**
 * B6: gateway resident memory with 100,000 APIs deployed, in files mode and in memory-only mode
 * (save_artifacts_locally = false). The APIs arrive the way a gateway gets them at start: the
 * sync-mode startup deployment from the control plane's data API. Figures are read from
 * /proc/<pid>/status of the gateway process: VmRSS after a forced full GC once ready (what it keeps),
 * and VmHWM (the peak while loading). No baseline: the goal is absolute. GWSYNC_BENCH_HEAP_SNAPSHOT=<dir>
 * also writes a heap snapshot of each gateway once ready (bench/heap-summary.ts reads it).
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

interface ModeResult {
  mode: "files" | "memory";
  ok: boolean;
  error?: string;
  deployed?: number;
  readyMs?: number;
  rssSettledKb?: number;
  rssAfterGcKb?: number;
  hwmKb?: number;
  heapUsedAfterGc?: number;
  externalAfterGc?: number;
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
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const settled = gw.memory();
    const stats = await gw.request({ type: "stats", gc: true }, "stats");
    const afterGc = gw.memory();
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
      rssAfterGcKb: afterGc.rssKb,
      hwmKb: afterGc.hwmKb,
      heapUsedAfterGc: stats.heapUsed as number,
      externalAfterGc: stats.external as number,
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
    gwsync: fmtMb(r.rssAfterGcKb!),
    baseline: "—",
    goal: `≤ ${GOAL_MB} MB`,
    met: r.rssAfterGcKb! / 1024 <= GOAL_MB,
    note: `VmRSS after forced GC; ${fmtMb(r.rssSettledKb!)} before it, peak (VmHWM) ${fmtMb(r.hwmKb!)} during the ${fmtMs(r.readyMs!)} startup; V8 heap ${fmtMb(r.heapUsedAfterGc! / 1024)}`,
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
