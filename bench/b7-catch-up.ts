/**
 * B7: a gateway holding 10,000 APIs is stopped; each API changes once (10,000 changes, announced to
 * its durable queue); the gateway is restarted. Figure: Gateway.start() → converged (every API at
 * its new sha256 on disk). Baseline in the same run (B2's): one SQLite SELECT of the label + an
 * atomic file-write loop over the same 10,000 APIs, in its own process, two ways: "serial" (temp +
 * fsync + rename, one file after the other) and "batch" (temps written, fsyncs concurrent, renames,
 * one folder fsync per 500 files: the scheme gwsync's bulk deploy uses since issue 19). The row's
 * baseline is the faster of the two: a slow baseline flatters the ratio.
 */
import { join } from "node:path";
import { spawnChild } from "./lib/children.js";
import type { BenchContext, BenchOutcome } from "./lib/report.js";
import { scaled } from "./lib/scale.js";
import { drainOutbox, publishApis } from "./lib/seed.js";
import { fmtMs } from "./lib/stats.js";
import { BenchWorld, LABEL } from "./lib/world.js";

const FULL_CHANGES = 10_000;
const GOAL_MS = 2000;
const LOAD_TIMEOUT_MS = 600_000;

interface ModeResult {
  convergedMs: number;
  readyMs: number;
  rawRuns: number[];
  rawBatchRuns: number[];
  deploys: unknown;
  startup: unknown;
}

async function measureMode(ctx: BenchContext, n: number, saveLocally: boolean): Promise<ModeResult> {
  const mode = saveLocally ? "files" : "memory-only";
  const world = new BenchWorld({ storeOnTmpfs: true });
  try {
    const svc = await world.startPublisher();
    ctx.log(`B7 (${mode}): seeding ${n} APIs and deploying them on the gateway`);
    await publishApis(svc, { count: n, revision: 1 });
    await drainOutbox(svc);
    const first = await world.spawnGateway({ name: "gw1", mode: "sync", saveLocally });
    const ready1 = await first.request({ type: "start" }, "ready", LOAD_TIMEOUT_MS);
    if (ready1.deployed !== n)
      throw new Error(`first start deployed ${String(ready1.deployed)} of ${n} APIs`);
    await first.stop();

    ctx.log(`B7 (${mode}): gateway down; ${n} changes published`);
    const expected = await publishApis(svc, { count: n, revision: 2 });
    await drainOutbox(svc);

    const rawRuns: number[] = [];
    const rawBatchRuns: number[] = [];
    const runRaw = async (i: number, scheme: "serial" | "batch") => {
      ctx.log(`B7 (${mode}): baseline run ${i} (SELECT + atomic write loop, ${scheme})`);
      const name = `raw-loader-${scheme}-${i}`;
      const loader = await spawnChild(name, "raw-loader-proc", []);
      world.children.set(name, loader);
      const raw = await loader.request(
        { type: "load", dbFile: world.dbFile, label: LABEL, dir: join(world.root, name), scheme },
        "loaded",
        LOAD_TIMEOUT_MS,
      );
      (scheme === "batch" ? rawBatchRuns : rawRuns).push((raw.t as number) - (raw.t0 as number));
      await loader.stop();
    };
    // Baselines before and after the gateway's run (load on this machine drifts; ABBA order); means used.
    await runRaw(1, "serial");
    await runRaw(1, "batch");

    ctx.log(`B7 (${mode}): gateway restarted`);
    const gw = await world.spawnGateway({ name: "gw1", mode: "sync", saveLocally });
    gw.send({ type: "expect", entries: [...expected] });
    const converged = gw.waitFor("converged", LOAD_TIMEOUT_MS);
    const ready = await gw.request({ type: "start" }, "ready", LOAD_TIMEOUT_MS);
    const conv = await converged;
    const t0 = ready.t0 as number;
    await gw.stop();
    await runRaw(2, "batch");
    await runRaw(2, "serial");
    return {
      convergedMs: (conv.t as number) - t0,
      readyMs: (ready.t as number) - t0,
      rawRuns,
      rawBatchRuns,
      deploys: conv.changes,
      startup: ready.startup,
    };
  } finally {
    await world.close();
  }
}

export async function b7CatchUp(ctx: BenchContext): Promise<BenchOutcome> {
  const n = scaled("B7", FULL_CHANGES, 100);
  const modes = { files: await measureMode(ctx, n, true), memory: await measureMode(ctx, n, false) };
  const row = (r: ModeResult, label: string, note: string) => {
    const serialMs = (r.rawRuns[0]! + r.rawRuns[1]!) / 2;
    const batchMs = (r.rawBatchRuns[0]! + r.rawBatchRuns[1]!) / 2;
    const rawMs = Math.min(serialMs, batchMs);
    return {
      id: "B7",
      what: `down during ${n.toLocaleString("en-US")} changes → restart → converged, ${label}`,
      gwsync: fmtMs(r.convergedMs),
      baseline: `${fmtMs(rawMs)} SELECT+write`,
      ratio: r.convergedMs / rawMs,
      goal: `≤ ${fmtMs(GOAL_MS)} after start`,
      met: r.convergedMs <= GOAL_MS,
      note: `ready at ${fmtMs(r.readyMs)}; ${String(r.deploys)} deploys until converged; raw serial ${fmtMs(serialMs)}, raw batch ${fmtMs(batchMs)} (the faster is the baseline); ${note}`,
    };
  };
  return {
    rows: [
      row(
        modes.files,
        "files",
        "every file temp + fsync + rename, folders fsynced before an API counts as deployed",
      ),
      row(
        modes.memory,
        "memory-only",
        "save_artifacts_locally = false: nothing survives the restart, so all APIs are fetched and loaded again (the baseline still writes files)",
      ),
    ],
    details: { changes: n, files: modes.files, memoryOnly: modes.memory },
  };
}
