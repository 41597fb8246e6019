/**
 * `npm run bench [-- B1 B3 ...]`: runs the benchmarks of docs/architecture.md#benchmarks, each against its baseline in
 * the same run, prints the table and writes bench/results/latest.json. Scripts, never timed tests.
 * GWSYNC_BENCH_SCALE=0.1 shrinks every workload (smoke run).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { b1Latency } from "./b1-latency.js";
import { b2Startup } from "./b2-startup.js";
import { b3Burst } from "./b3-burst.js";
import { b4Revocations } from "./b4-revocations.js";
import { b5CrossRegion } from "./b5-cross-region.js";
import { b6Memory } from "./b6-memory.js";
import { b7CatchUp } from "./b7-catch-up.js";
import { b8Fanout } from "./b8-fanout.js";
import { b9Storm } from "./b9-storm.js";
import { b10Cost } from "./b10-cost.js";
import { b12RestPublish } from "./b12-rest-publish.js";
import { b13DataApiGet } from "./b13-data-api-get.js";
import { b11FleetView } from "./fleet-view.js";
import { childLaunchers, REPO_ROOT } from "./lib/bundle.js";
import type { BenchContext, BenchRow, Benchmark } from "./lib/report.js";
import { renderTable } from "./lib/report.js";
import { benchScale } from "./lib/scale.js";

const BENCHMARKS: Record<string, { what: string; run: Benchmark }> = {
  B1: { what: "publish → deployed on 4 gateways, latency", run: b1Latency },
  B2: { what: "sync startup, 10,000 APIs", run: b2Startup },
  B3: { what: "burst of 10,000 updates → 4 gateways converged", run: b3Burst },
  B4: { what: "50,000 token revocations → 4 gateways", run: b4Revocations },
  B5: { what: "region A → region B's gateways", run: b5CrossRegion },
  B6: { what: "gateway RSS with 100,000 APIs", run: b6Memory },
  B7: { what: "gateway down during 10,000 changes → converged after restart", run: b7CatchUp },
  B8: {
    what: "fan-out: 200 publishes → 100 / 300 / 1,000 gateways, vs raw queues and a raw stream",
    run: b8Fanout,
  },
  B9: { what: "reconnect storm: 1,000 gateways, 2,000 changes while the broker is down", run: b9Storm },
  B10: { what: "cost model: broker, publisher and wire per gateway (from B8's levels)", run: b10Cost },
  B11: {
    what: "fleet view: 200 gateways (GWSYNC_BENCH_B11_GATEWAYS) reporting on 10,000 APIs, REST latencies",
    run: b11FleetView,
  },
  B12: { what: "REST publish of a 5 KB API alone, vs a durable-insert HTTP floor", run: b12RestPublish },
  B13: {
    what: "data-API GET of a 5 KB API alone (cached), vs a precomputed-reply HTTP floor",
    run: b13DataApiGet,
  },
};

function usage(): never {
  process.stderr.write(`usage: npm run bench [-- ${Object.keys(BENCHMARKS).join(" ")}]\n`);
  for (const [id, b] of Object.entries(BENCHMARKS)) process.stderr.write(`  ${id}  ${b.what}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2).map((a) => a.toUpperCase());
  if (args.includes("--HELP") || args.includes("-H")) usage();
  const unknown = args.filter((a) => !(a in BENCHMARKS));
  if (unknown.length > 0) {
    process.stderr.write(`unknown benchmark ${unknown.join(", ")}\n`);
    usage();
  }
  const selected = args.length > 0 ? args : Object.keys(BENCHMARKS);
  const scale = benchScale();
  const overrides = Object.entries(process.env).filter(([k]) => k.startsWith("GWSYNC_BENCH_"));
  const launch = [...(await childLaunchers()).values()][0]!;
  const started = new Date();
  const ctx: BenchContext = {
    log: (m) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${m}\n`),
  };
  ctx.log(
    `gwsync benchmarks ${selected.join(" ")} at scale ${scale}${overrides.length ? ` (${overrides.map(([k, v]) => `${k}=${v}`).join(" ")})` : ""}; children run from ${launch.mode === "bundle" ? "an esbuild bundle (plain node)" : "tsx"}; load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
  const rows: BenchRow[] = [];
  const details: Record<string, unknown> = {};
  let failed = false;
  for (const id of selected) {
    const bench = BENCHMARKS[id]!;
    const t0 = Date.now();
    ctx.log(`${id}: ${bench.what}`);
    try {
      const out = await bench.run(ctx);
      rows.push(...out.rows);
      details[id] = { ...out.details, seconds: (Date.now() - t0) / 1000 };
    } catch (err) {
      failed = true;
      const message = (err as Error).message;
      ctx.log(`${id} failed: ${(err as Error).stack ?? message}`);
      rows.push({
        id,
        what: bench.what,
        gwsync: "failed",
        baseline: "—",
        goal: "—",
        met: false,
        note: message,
      });
      details[id] = { error: message, seconds: (Date.now() - t0) / 1000 };
    }
    ctx.log(`${id}: done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  const table = renderTable(rows);
  process.stdout.write(`\n${table}\n`);
  const dir = join(REPO_ROOT, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const result = {
    started: started.toISOString(),
    finished: new Date().toISOString(),
    command: `${overrides.map(([k, v]) => `${k}=${v} `).join("")}npm run bench -- ${selected.join(" ")}`,
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      ramGb: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      loadAtEnd: loadavg(),
    },
    scale,
    children: launch.mode,
    rows,
    details,
  };
  writeFileSync(join(dir, "latest.json"), `${JSON.stringify(result, null, 2)}\n`);
  ctx.log(`results written to bench/results/latest.json`);
  process.exitCode = failed ? 1 : 0;
}

await main();
