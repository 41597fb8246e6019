/**
 * B2: sync-mode startup with 10,000 APIs of the gateway's label, start() → ready (every API deployed
 * as a file). Baseline in the same run: one SQLite SELECT of the label's artifacts + an atomic
 * file-write loop, in its own process. The publisher's store sits on tmpfs only so that seeding is
 * quick; both sides write their files to the same disk.
 */
import { spawnChild } from "./lib/children.js";
import type { BenchContext, BenchOutcome } from "./lib/report.js";
import { scaled } from "./lib/scale.js";
import { drainOutbox, publishApis } from "./lib/seed.js";
import { fmtMs } from "./lib/stats.js";
import { BenchWorld, LABEL } from "./lib/world.js";
import { join } from "node:path";

const FULL_APIS = 10_000;
const GOAL_RATIO = 1.3;
const LOAD_TIMEOUT_MS = 600_000;

export async function b2Startup(ctx: BenchContext): Promise<BenchOutcome> {
  const n = scaled("B2", FULL_APIS, 100);
  const world = new BenchWorld({ storeOnTmpfs: true });
  try {
    const svc = await world.startPublisher();
    ctx.log(`B2: seeding ${n} APIs`);
    await publishApis(svc, { count: n });
    await drainOutbox(svc);

    // ABBA order (raw, gwsync, gwsync, raw): load on this shared machine drifts; the means cancel it.
    const rawRuns: number[] = [];
    const gwRuns: number[] = [];
    const processRuns: number[] = [];
    let startup: unknown;
    const runRaw = async (i: number) => {
      ctx.log(`B2: baseline run ${i} (SELECT + atomic write loop)`);
      const loader = await spawnChild(`raw-loader-${i}`, "raw-loader-proc", []);
      world.children.set(`raw-loader-${i}`, loader);
      const raw = await loader.request(
        { type: "load", dbFile: world.dbFile, label: LABEL, dir: join(world.root, `raw-loader-${i}`) },
        "loaded",
        LOAD_TIMEOUT_MS,
      );
      if (raw.n !== n) throw new Error(`baseline wrote ${String(raw.n)} files, expected ${n}`);
      rawRuns.push((raw.t as number) - (raw.t0 as number));
      await loader.stop();
    };
    const runGateway = async (i: number) => {
      ctx.log(`B2: gwsync run ${i}, sync mode`);
      const spawned = Date.now();
      const gw = await world.spawnGateway({ name: `gw${i}`, mode: "sync" });
      const ready = await gw.request({ type: "start" }, "ready", LOAD_TIMEOUT_MS);
      processRuns.push(Date.now() - spawned);
      if (ready.deployed !== n)
        throw new Error(`gateway was ready with ${String(ready.deployed)} APIs deployed, expected ${n}`);
      gwRuns.push((ready.t as number) - (ready.t0 as number));
      startup = ready.startup;
      await gw.stop();
    };
    await runRaw(1);
    await runGateway(1);
    await runGateway(2);
    await runRaw(2);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const gwMs = mean(gwRuns);
    const rawMs = mean(rawRuns);
    const processMs = mean(processRuns);
    return {
      rows: [
        {
          id: "B2",
          what: `sync startup, ${n.toLocaleString("en-US")} APIs: start → ready`,
          gwsync: fmtMs(gwMs),
          baseline: `${fmtMs(rawMs)} SELECT+write`,
          ratio: gwMs / rawMs,
          goal: `≤ ${GOAL_RATIO}× raw`,
          met: gwMs <= GOAL_RATIO * rawMs,
          note: `means of ABBA runs: gwsync ${gwRuns.map(fmtMs).join(", ")}; raw ${rawRuns.map(fmtMs).join(", ")}; process spawn → ready ${fmtMs(processMs)} (node boot included)`,
        },
      ],
      details: { apis: n, gwsyncMs: gwMs, rawMs, gwRuns, rawRuns, processRuns, startup },
    };
  } finally {
    await world.close();
  }
}
