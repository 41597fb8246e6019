/**
 * B10 (issue 20): the cost model, per gateway, from B8's levels (100, 300, 1,000 gateways at scale 1;
 * B8's own figures when it ran in the same `npm run bench`, otherwise B8's levels are run here with 20
 * publishes and no baselines):
 * - broker memory per gateway, idle (N gateways connected, nothing published) and under load (peak
 *   RSS during the 5 KB publishes): least-squares slope over the levels;
 * - broker CPU per event per gateway (slope of B8's CPU per event);
 * - the publisher's RSS per 1,000 gateways (each in GWSYNC_GATEWAYS through its heartbeats and reports);
 * - wire traffic per idle gateway (gwsync heartbeats every 5 s, AMQP heartbeats, report flushes), from
 *   the broker's connection byte counters over an idle window.
 * Then the projection for 100 / 1,000 / 10,000 gateways (10,000 is an extrapolation) that
 * docs/production.md's sizing table is written from.
 */
import { type FanoutLevel, fanoutLevels, runFanoutLevels } from "./b8-fanout.js";
import type { BrokerMemory } from "./lib/private-broker.js";
import type { BenchContext, BenchOutcome, BenchRow } from "./lib/report.js";

const ID = "B10";
const SIZES = [100, 1000, 10_000];

/** Least-squares line through (x, y): slope and intercept. */
export function fitLine(points: readonly [number, number][]): { slope: number; intercept: number } {
  const n = points.length;
  if (n === 0) return { slope: Number.NaN, intercept: Number.NaN };
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const slope = sxx === 0 ? Number.NaN : sxy / sxx;
  return { slope, intercept: my - slope * mx };
}

export interface CostModel {
  levels: number[];
  brokerIdleMbPerGateway: number;
  brokerIdleBaseMb: number;
  /** beam.smp RSS with N idle gateways: what the OS sees. */
  brokerIdleRssMbPerGateway: number;
  brokerIdleRssBaseMb: number;
  brokerLoadRssMbPerGateway: number;
  brokerLoadRssBaseMb: number;
  brokerCpuMsPerEventPerGateway: number;
  publisherMbPer1000: number;
  publisherBaseMb: number;
  wireBytesPerGatewayPerSec: number;
  queuesPerGateway: number;
}

export function costModel(levels: readonly FanoutLevel[]): CostModel {
  // Each level gives two points for the idle fit: the node before the gateways and with them.
  // "binary" counts a shared message body once per process holding a reference to it (every queue of a
  // fan-out): hundreds of MB that are not there (RSS is far below). The node's memory is taken without it.
  const used = (m: BrokerMemory) => m.totalMb - m.binaryMb;
  const idle = fitLine(levels.flatMap((l) => [[0, used(l.brokerEmpty)] as [number, number], [l.n, used(l.brokerIdle)] as [number, number]]));
  const idleRss = fitLine(levels.flatMap((l) => [[0, l.brokerEmpty.rssMb] as [number, number], [l.n, l.brokerIdle.rssMb] as [number, number]]));
  const load = fitLine(levels.map((l) => [l.n, l.gwsync.brokerPeakRssMb]));
  const cpu = fitLine(levels.map((l) => [l.n, l.gwsync.brokerCpuMsPerEvent]));
  const pub = fitLine(levels.flatMap((l) => [[0, l.publisherRssEmptyMb] as [number, number], [l.n, l.publisherRssIdleMb] as [number, number]]));
  const wire = levels.reduce((s, l) => s + l.wireBytesPerGatewayPerSec, 0) / Math.max(1, levels.length);
  const queues = levels.reduce((s, l) => s + l.gwsync.queues / l.n, 0) / Math.max(1, levels.length);
  return {
    levels: levels.map((l) => l.n),
    brokerIdleMbPerGateway: idle.slope,
    brokerIdleBaseMb: idle.intercept,
    brokerIdleRssMbPerGateway: idleRss.slope,
    brokerIdleRssBaseMb: idleRss.intercept,
    brokerLoadRssMbPerGateway: load.slope,
    brokerLoadRssBaseMb: load.intercept,
    brokerCpuMsPerEventPerGateway: cpu.slope,
    publisherMbPer1000: pub.slope * 1000,
    publisherBaseMb: pub.intercept,
    wireBytesPerGatewayPerSec: wire,
    queuesPerGateway: queues,
  };
}

export async function b10Cost(ctx: BenchContext): Promise<BenchOutcome> {
  let levels: FanoutLevel[] = [...fanoutLevels];
  let failure: { n: number; error: string } | undefined;
  let source = "B8 of this run";
  if (levels.length === 0) {
    source = "B8's levels run by B10 (20 publishes, no baselines)";
    const r = await runFanoutLevels(ctx, { publishes: 20, baselines: false });
    levels = r.levels;
    failure = r.failure;
  }
  if (levels.length < 2) throw new Error(`B10 needs two fleet sizes at least; got ${levels.length}${failure ? ` (N = ${failure.n} failed: ${failure.error})` : ""}`);
  const m = costModel(levels);
  const largest = Math.max(...m.levels);
  ctx.log(`${ID}: from ${source}, N = ${m.levels.join(", ")}`);
  const rows: BenchRow[] = [
    {
      id: ID,
      what: `broker memory per gateway, idle (slope over N = ${m.levels.join(", ")})`,
      gwsync: `${(m.brokerIdleMbPerGateway * 1024).toFixed(0)} KB in use / ${(m.brokerIdleRssMbPerGateway * 1024).toFixed(0)} KB RSS`,
      baseline: "—",
      goal: "—",
      note: `in use: memory_breakdown without allocator slack and without "binary" (a shared body counted once per queue); empty node ${m.brokerIdleBaseMb.toFixed(0)} MB in use, ${m.brokerIdleRssBaseMb.toFixed(0)} MB RSS; ${m.queuesPerGateway.toFixed(2)} queues per gateway`,
    },
    {
      id: ID,
      what: "broker RSS per gateway under load (peak during 5 KB publishes, slope)",
      gwsync: `${(m.brokerLoadRssMbPerGateway * 1024).toFixed(0)} KB`,
      baseline: "—",
      goal: "—",
      note: `intercept ${m.brokerLoadRssBaseMb.toFixed(0)} MB`,
    },
    {
      id: ID,
      what: "broker CPU per event per gateway (slope)",
      gwsync: `${(m.brokerCpuMsPerEventPerGateway * 1000).toFixed(0)} µs`,
      baseline: "—",
      goal: "—",
    },
    {
      id: ID,
      what: "publisher RSS per 1,000 gateways (heartbeats + reports, GWSYNC_GATEWAYS)",
      gwsync: `${m.publisherMbPer1000.toFixed(0)} MB`,
      baseline: "—",
      goal: "—",
      note: `publisher with no gateway ${m.publisherBaseMb.toFixed(0)} MB`,
    },
    {
      id: ID,
      what: "wire traffic per idle gateway (heartbeats, AMQP heartbeats, reports)",
      gwsync: `${m.wireBytesPerGatewayPerSec.toFixed(0)} B/s`,
      baseline: "—",
      goal: "—",
    },
  ];
  const projection = SIZES.map((size) => ({
    gateways: size,
    extrapolated: size > largest,
    brokerIdleMb: m.brokerIdleBaseMb + size * m.brokerIdleMbPerGateway,
    brokerIdleRssMb: m.brokerIdleRssBaseMb + size * m.brokerIdleRssMbPerGateway,
    brokerLoadRssMb: m.brokerLoadRssBaseMb + size * m.brokerLoadRssMbPerGateway,
    brokerCpuMsPerEvent: size * m.brokerCpuMsPerEventPerGateway,
    publisherRssMb: m.publisherBaseMb + (size / 1000) * m.publisherMbPer1000,
    wireKBps: (size * m.wireBytesPerGatewayPerSec) / 1024,
    queues: Math.round(size * m.queuesPerGateway),
  }));
  for (const p of projection) {
    rows.push({
      id: ID,
      what: `sizing, ${p.gateways.toLocaleString("en-US")} gateways${p.extrapolated ? " (extrapolation)" : ""}`,
      gwsync: `broker RSS ${p.brokerIdleRssMb.toFixed(0)} MB idle / ${p.brokerLoadRssMb.toFixed(0)} MB loaded`,
      baseline: "—",
      goal: "—",
      note: `${p.brokerIdleMb.toFixed(0)} MB in use idle, ${p.queues} queues, ${p.brokerCpuMsPerEvent.toFixed(0)} ms broker CPU per event, publisher ${p.publisherRssMb.toFixed(0)} MB, ${p.wireKBps.toFixed(0)} KB/s idle traffic`,
    });
  }
  return { rows, details: { source, model: m, projection, failure } };
}
