/**
 * B8 (issue 20): fan-out to a fleet. N gateways of one label (100, 300 and 1,000 at scale 1), each a
 * full gwsync gateway with its own connection and durable queues (bench/lib/fleet-proc.ts, 4+
 * processes), on a private RabbitMQ node (bench/lib/private-broker.ts); 200 sequential 5 KB publishes
 * over REST to a publisher in its own process: time until all N serve each one (p50/p99), the broker's
 * memory and CPU per event, queues held. Baselines in the same run, at the same N:
 * - raw per-queue fan-out: N amqplib consumers, each on its own durable queue bound to the exchange
 *   (what per-gateway queues cost the broker at the least: no gwsync, no fetch);
 * - raw stream fan-out: one RabbitMQ stream (x-queue-type stream) bound to the exchange, N consumers
 *   reading it from "next" with the same prefetch (issue 20's "streams against per-gateway queues").
 * The raw publishes carry the 5 KB body; gwsync's events carry a notification and every gateway
 * fetches the artifact from the data API (the default, publish_directly_to_gateway = false), or, with
 * GWSYNC_BENCH_INLINE=1, carry it inline.
 * Each level also records the idle cost B10 turns into a sizing table (broker memory and wire bytes
 * with N gateways connected and idle, the publisher's RSS).
 */
import { synapseApi } from "../test/harness/cluster.js";
import { Arrivals } from "./lib/arrivals.js";
import type { BenchChild } from "./lib/children.js";
import { nowMs } from "./lib/clock.js";
import { restPublisher, startFleet, startRawFleet, stopFleet } from "./lib/fleet.js";
import { type BrokerMemory, PrivateBroker, samplePeakRss } from "./lib/private-broker.js";
import type { BenchContext, BenchOutcome, BenchRow } from "./lib/report.js";
import { benchScale } from "./lib/scale.js";
import { fmtMs, type LatencySummary, summarize } from "./lib/stats.js";
import { BenchWorld, confirmPublish, LABEL, RAW_PREFETCH } from "./lib/world.js";

const ID = "B8";
const FULL_LEVELS = [100, 300, 1000];
const FULL_PUBLISHES = 200;
const API_SIZE_BYTES = 5000;
const API_NAME = "BenchFanout";
const PER_PUBLISH_TIMEOUT_MS = 120_000;
/** Idle window: long enough for every gateway to send a couple of heartbeats (every 5 s). */
const IDLE_WINDOW_MS = 15_000;
const RAW_KEY = "raw-b8";

export interface FanoutRun {
  /** publish → served (or received) on all N, ms. */
  latency: LatencySummary;
  /** beam.smp CPU seconds over the publishes ÷ publishes, ms per event. */
  brokerCpuMsPerEvent: number;
  /** Peak beam.smp RSS during the publishes, MB; the node's total right after. */
  brokerPeakRssMb: number;
  brokerAfter: BrokerMemory;
  queues: number;
  /** REST call time (gwsync only). */
  call?: LatencySummary;
  /** Connections the publisher dropped over http.max_connections during the publishes (gwsync only). */
  maxConnDrops?: number;
}

export interface FanoutLevel {
  n: number;
  processes: number;
  startMs: number;
  /** The node before any gateway (after the publisher connected) and with N idle gateways. */
  brokerEmpty: BrokerMemory;
  brokerIdle: BrokerMemory;
  /** beam.smp CPU over the idle window, % of one core. */
  brokerIdleCpuPct: number;
  /** Bytes on the wire per gateway per second while idle (both directions, all client connections). */
  wireBytesPerGatewayPerSec: number;
  connections: number;
  publisherRssEmptyMb: number;
  publisherRssIdleMb: number;
  gwsync: FanoutRun;
  rawQueues?: FanoutRun & { brokerIdle: BrokerMemory };
  rawStream?: FanoutRun & { brokerIdle: BrokerMemory };
  rawQueuesIdle?: BrokerMemory;
}

/** Filled by B8 for B10 (same `npm run bench` invocation). */
export const fanoutLevels: FanoutLevel[] = [];

/** GWSYNC_BENCH_B8_LEVELS=1000 (comma-separated) measures those fleet sizes only, unscaled. */
export function fanoutLevelsFor(scale: number, env: NodeJS.ProcessEnv = process.env): number[] {
  const only = env.GWSYNC_BENCH_B8_LEVELS;
  if (only !== undefined && only !== "") return only.split(",").map((v) => Number(v.trim()));
  return [...new Set(FULL_LEVELS.map((n) => Math.max(4, Math.round(n * scale))))];
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** The broker's CPU (ms per event) and peak RSS across `fn`. */
async function brokerCost<T>(broker: PrivateBroker, events: number, fn: () => Promise<T>) {
  const cpu0 = broker.cpuSeconds();
  const peak = samplePeakRss(broker);
  let out: T;
  try {
    out = await fn();
  } finally {
    // Also when fn failed: the sampling timer would keep the bench process alive.
    peak.stop();
  }
  const peakKb = peak.stop();
  const cpu = broker.cpuSeconds() - cpu0;
  return { out, brokerCpuMsPerEvent: (cpu * 1000) / events, brokerPeakRssMb: peakKb / 1024 };
}

async function gwsyncLevel(
  ctx: BenchContext,
  broker: PrivateBroker,
  n: number,
  publishes: number,
  warmup: number,
  inline: boolean,
): Promise<Omit<FanoutLevel, "rawQueues" | "rawStream" | "rawQueuesIdle">> {
  const world = new BenchWorld({ brokerUrl: broker.url(), inline });
  try {
    const { child: pub } = await world.startPublisherProcess();
    const call = restPublisher(world, LABEL);
    await sleep(1000);
    const brokerEmpty = await broker.memory();
    const publisherRssEmptyMb = pub.memory().rssKb / 1024;
    ctx.log(
      `${ID}: starting ${n} gateways (broker ${inUse(brokerEmpty)} MB in use, RSS ${brokerEmpty.rssMb.toFixed(0)} MB)`,
    );
    const { procs, startMs } = await startFleet(world, n);
    ctx.log(`${ID}: ${n} gateways ready in ${(startMs / 1000).toFixed(1)} s over ${procs.length} processes`);
    // Idle: heartbeats (every 5 s), AMQP heartbeats, nothing else.
    await sleep(5000);
    const oct0 = await broker.connectionOctets();
    const cpu0 = broker.cpuSeconds();
    const w0 = nowMs();
    await sleep(IDLE_WINDOW_MS);
    const oct1 = await broker.connectionOctets();
    const idleSec = (nowMs() - w0) / 1000;
    const brokerIdleCpuPct = ((broker.cpuSeconds() - cpu0) / idleSec) * 100;
    const wire = oct1.recv + oct1.send - (oct0.recv + oct0.send);
    // The publisher's own connection is one of them; its share (heartbeats consumed) is the gateways'.
    const wireBytesPerGatewayPerSec = wire / idleSec / n;
    const brokerIdle = await broker.memory();
    const publisherRssIdleMb = pub.memory().rssKb / 1024;
    const queues = await broker.queueCount();
    ctx.log(
      `${ID}: idle with ${n} gateways: broker ${inUse(brokerIdle)} MB in use, RSS ${brokerIdle.rssMb.toFixed(0)} MB (queues ${brokerIdle.queuesMb.toFixed(1)}, connections ${brokerIdle.connectionsMb.toFixed(1)}), ${queues} queues, ${oct1.connections} connections, CPU ${brokerIdleCpuPct.toFixed(1)}%, ${wireBytesPerGatewayPerSec.toFixed(0)} B/s per gateway; publisher RSS ${publisherRssIdleMb.toFixed(0)} MB`,
    );

    const arrivals = new Arrivals(procs, "all-applied", (m) => m.sha256 as string | undefined);
    const lat: number[] = [];
    const calls: number[] = [];
    ctx.log(`${ID}: ${warmup} warm-up + ${publishes} sequential 5 KB publishes over REST → ${n} gateways`);
    for (let i = 0; i < warmup; i++) {
      const r = await call(synapseApi({ name: API_NAME, revision: i + 1, size: API_SIZE_BYTES }));
      await arrivals.wait(r.sha256, PER_PUBLISH_TIMEOUT_MS);
    }
    const cost = await brokerCost(broker, publishes, async () => {
      for (let i = warmup; i < warmup + publishes; i++) {
        const xml = synapseApi({ name: API_NAME, revision: i + 1, size: API_SIZE_BYTES });
        const g0 = nowMs();
        const r = await call(xml);
        const g1 = await arrivals.wait(r.sha256, PER_PUBLISH_TIMEOUT_MS);
        lat.push(g1 - g0);
        calls.push(r.ms);
        if ((i - warmup + 1) % 50 === 0)
          ctx.log(`${ID}: ${i - warmup + 1}/${publishes} (last ${fmtMs(g1 - g0)})`);
      }
    });
    arrivals.close();
    const brokerAfter = await broker.memory();
    // Connections the publisher dropped over [gwsync.http] max_connections (each gateway keeps up to
    // DATA_API_MAX_SOCKETS keep-alive sockets to the data API), and its peak RSS.
    const st = await pub.request({ type: "stats" }, "stats", 60_000);
    const limits = (st.limits as Record<string, number> | undefined) ?? {};
    const maxConnDrops = limits["http.max_connections"] ?? 0;
    ctx.log(
      `${ID}: publisher after ${publishes} publishes to ${n} gateways: ${maxConnDrops} connections dropped over http.max_connections; VmHWM ${(pub.memory().hwmKb / 1024).toFixed(0)} MB`,
    );
    const gwsync: FanoutRun = {
      latency: summarize(lat),
      call: summarize(calls),
      brokerCpuMsPerEvent: cost.brokerCpuMsPerEvent,
      brokerPeakRssMb: cost.brokerPeakRssMb,
      brokerAfter,
      queues,
      maxConnDrops,
    };
    ctx.log(
      `${ID}: gwsync → ${n}: p50 ${fmtMs(gwsync.latency.p50)}, p99 ${fmtMs(gwsync.latency.p99)}; broker ${gwsync.brokerCpuMsPerEvent.toFixed(1)} ms CPU per event, peak RSS ${gwsync.brokerPeakRssMb.toFixed(0)} MB`,
    );
    await stopFleet(world, procs);
    return {
      n,
      processes: procs.length,
      startMs,
      brokerEmpty,
      brokerIdle,
      brokerIdleCpuPct,
      wireBytesPerGatewayPerSec,
      connections: oct1.connections,
      publisherRssEmptyMb,
      publisherRssIdleMb,
      gwsync,
    };
  } finally {
    await world.close();
  }
}

/** Raw fan-out of `publishes` 5 KB bodies to n consumers: per-queue or through one stream. */
async function rawLevel(
  ctx: BenchContext,
  broker: PrivateBroker,
  n: number,
  publishes: number,
  warmup: number,
  stream: boolean,
): Promise<FanoutRun & { brokerIdle: BrokerMemory }> {
  const world = new BenchWorld({ brokerUrl: broker.url() });
  let procs: BenchChild[] = [];
  try {
    const ch = await world.confirmChannel();
    const queues: string[] = [];
    if (stream) {
      const name = `${world.id}.stream`;
      world.queues.add(name);
      await ch.assertQueue(name, { durable: true, arguments: { "x-queue-type": "stream" } });
      await ch.bindQueue(name, world.exchange, RAW_KEY);
      for (let i = 0; i < n; i++) queues.push(name);
    } else {
      for (let i = 0; i < n; i++) {
        const name = `${world.id}.raw-${i}`;
        world.queues.add(name);
        await ch.assertQueue(name, { durable: true });
        await ch.bindQueue(name, world.exchange, RAW_KEY);
        queues.push(name);
      }
    }
    const what = stream ? "one stream" : "a queue each";
    procs = await startRawFleet(world, queues, { stream, prefetch: RAW_PREFETCH.file });
    await sleep(2000);
    const brokerIdle = await broker.memory();
    const queueCount = await broker.queueCount();
    const arrivals = new Arrivals(procs, "all-received", (m) => m.id as string | undefined);
    const lat: number[] = [];
    const one = async (i: number): Promise<number> => {
      const xml = synapseApi({ name: API_NAME, revision: i + 1, size: API_SIZE_BYTES });
      const id = `${world.id}-${i}`;
      const done = arrivals.wait(id, PER_PUBLISH_TIMEOUT_MS);
      const r0 = nowMs();
      await confirmPublish(ch, world.exchange, RAW_KEY, Buffer.from(xml), { messageId: id });
      return (await done) - r0;
    };
    for (let i = 0; i < warmup; i++) await one(i);
    const cost = await brokerCost(broker, publishes, async () => {
      for (let i = warmup; i < warmup + publishes; i++) lat.push(await one(i));
    });
    arrivals.close();
    const run = {
      latency: summarize(lat),
      brokerCpuMsPerEvent: cost.brokerCpuMsPerEvent,
      brokerPeakRssMb: cost.brokerPeakRssMb,
      brokerAfter: await broker.memory(),
      brokerIdle,
      queues: queueCount,
    };
    ctx.log(
      `${ID}: raw, ${what} → ${n}: p50 ${fmtMs(run.latency.p50)}, p99 ${fmtMs(run.latency.p99)}; broker ${run.brokerCpuMsPerEvent.toFixed(1)} ms CPU per event, idle ${inUse(brokerIdle)} MB in use, RSS ${brokerIdle.rssMb.toFixed(0)} MB, peak RSS ${run.brokerPeakRssMb.toFixed(0)} MB, ${queueCount} queues`,
    );
    return run;
  } finally {
    await stopFleet(world, procs);
    await world.close();
  }
}

/**
 * The levels B8 measures (and B10 reads): on a private node, each N in turn, gwsync then the two raw
 * baselines. A level that fails is reported and the larger ones are not tried (never a faked row).
 */
export async function runFanoutLevels(
  ctx: BenchContext,
  o: { publishes: number; baselines: boolean },
): Promise<{ levels: FanoutLevel[]; failure?: { n: number; error: string } }> {
  const scale = benchScale(ID);
  const inline = process.env.GWSYNC_BENCH_INLINE === "1";
  const warmup = Math.min(10, Math.ceil(o.publishes / 10));
  const broker = new PrivateBroker();
  const levels: FanoutLevel[] = [];
  await broker.start();
  ctx.log(`${ID}: private RabbitMQ node ${broker.nodeName} on port ${broker.port} (pid ${broker.pid})`);
  try {
    for (const n of fanoutLevelsFor(scale)) {
      try {
        const level: FanoutLevel = await gwsyncLevel(ctx, broker, n, o.publishes, warmup, inline);
        if (o.baselines) {
          const q = await rawLevel(ctx, broker, n, o.publishes, warmup, false);
          level.rawQueues = q;
          level.rawQueuesIdle = q.brokerIdle;
          level.rawStream = await rawLevel(ctx, broker, n, o.publishes, warmup, true);
        }
        levels.push(level);
        fanoutLevels.push(level);
      } catch (err) {
        const error = (err as Error).message;
        ctx.log(`${ID}: N = ${n} failed: ${error}`);
        return { levels, failure: { n, error } };
      }
    }
    return { levels };
  } finally {
    const left = await broker.queueCount().catch(() => -1);
    if (left > 0) ctx.log(`${ID}: ${left} queues left on the private node (it is removed now)`);
    await broker.stop();
  }
}

/** The node's memory without the over-counted "binary" category (see BrokerMemory). */
const inUse = (m: BrokerMemory) => (m.totalMb - m.binaryMb).toFixed(0);

/**
 * GWSYNC_BENCH_B8_RAW_ONLY=1: the two raw baselines only (per-queue and stream fan-out), no gwsync
 * fleet: the streams-against-queues figures at a size where the gwsync level takes too long.
 */
async function rawOnly(ctx: BenchContext, publishes: number): Promise<BenchOutcome> {
  const warmup = Math.min(10, Math.ceil(publishes / 10));
  const broker = new PrivateBroker();
  await broker.start();
  const rows: BenchRow[] = [];
  const levels: { n: number; rawQueues: FanoutRun; rawStream: FanoutRun }[] = [];
  try {
    for (const n of fanoutLevelsFor(benchScale(ID))) {
      const q = await rawLevel(ctx, broker, n, publishes, warmup, false);
      const s = await rawLevel(ctx, broker, n, publishes, warmup, true);
      levels.push({ n, rawQueues: q, rawStream: s });
      for (const p of ["p50", "p99"] as const) {
        rows.push({
          id: ID,
          what: `raw fan-out to ${n} consumers, ${p} (${publishes} × 5 KB): one stream vs a queue each`,
          gwsync: `${fmtMs(s.latency[p])} stream`,
          baseline: `${fmtMs(q.latency[p])} queues`,
          ratio: s.latency[p] / q.latency[p],
          goal: "—",
        });
      }
      rows.push({
        id: ID,
        what: `raw fan-out to ${n} consumers: broker CPU per event, RSS idle / peak, queues`,
        gwsync: `stream ${s.brokerCpuMsPerEvent.toFixed(1)} ms, ${s.brokerIdle.rssMb.toFixed(0)} / ${s.brokerPeakRssMb.toFixed(0)} MB, ${s.queues} q`,
        baseline: `queues ${q.brokerCpuMsPerEvent.toFixed(1)} ms, ${q.brokerIdle.rssMb.toFixed(0)} / ${q.brokerPeakRssMb.toFixed(0)} MB, ${q.queues} q`,
        ratio: s.brokerCpuMsPerEvent / q.brokerCpuMsPerEvent,
        goal: "—",
        note: `in use idle ${inUse(s.brokerIdle)} MB stream, ${inUse(q.brokerIdle)} MB queues`,
      });
    }
  } finally {
    await broker.stop();
  }
  return { rows, details: { publishes, rawOnly: true, levels } };
}

export async function b8Fanout(ctx: BenchContext): Promise<BenchOutcome> {
  // GWSYNC_BENCH_B8_PUBLISHES: the publish count alone (the levels stay as set), e.g. 50 at 1,000 gateways.
  const fixed = Number(process.env.GWSYNC_BENCH_B8_PUBLISHES ?? "");
  const publishes =
    Number.isSafeInteger(fixed) && fixed > 0
      ? fixed
      : Math.max(20, Math.round(FULL_PUBLISHES * benchScale(ID)));
  if (process.env.GWSYNC_BENCH_B8_RAW_ONLY === "1") return rawOnly(ctx, publishes);
  const { levels, failure } = await runFanoutLevels(ctx, { publishes, baselines: true });
  const rows: BenchRow[] = [];
  const mode = process.env.GWSYNC_BENCH_INLINE === "1" ? "inline artifact" : "fetched from the data API";
  for (const l of levels) {
    const q = l.rawQueues!;
    const s = l.rawStream!;
    for (const p of ["p50", "p99"] as const) {
      rows.push({
        id: ID,
        what: `publish → served on all ${l.n} gateways, ${p} (${publishes} × 5 KB over REST, ${mode})`,
        gwsync: fmtMs(l.gwsync.latency[p]),
        baseline: `${fmtMs(q.latency[p])} raw queues / ${fmtMs(s.latency[p])} raw stream`,
        ratio: l.gwsync.latency[p] / q.latency[p],
        goal: "—",
        ...(p === "p50"
          ? {
              note: `REST call p50 ${fmtMs(l.gwsync.call!.p50)}; ${l.n} gateways started in ${(l.startMs / 1000).toFixed(1)} s over ${l.processes} processes; ${l.gwsync.maxConnDrops ?? 0} connections dropped over http.max_connections`,
            }
          : {}),
      });
    }
    rows.push({
      id: ID,
      what: `broker CPU per event, ${l.n} consumers`,
      gwsync: `${l.gwsync.brokerCpuMsPerEvent.toFixed(1)} ms`,
      baseline: `${q.brokerCpuMsPerEvent.toFixed(1)} ms raw queues / ${s.brokerCpuMsPerEvent.toFixed(1)} ms raw stream`,
      ratio: l.gwsync.brokerCpuMsPerEvent / q.brokerCpuMsPerEvent,
      goal: "—",
      note: `idle broker CPU with ${l.n} gateways ${l.brokerIdleCpuPct.toFixed(1)}% of a core (included in the per-event figure)`,
    });
    rows.push({
      id: ID,
      what: `broker RSS idle / peak under load, queues held, ${l.n} consumers`,
      gwsync: `${l.brokerIdle.rssMb.toFixed(0)} / ${l.gwsync.brokerPeakRssMb.toFixed(0)} MB, ${l.gwsync.queues} queues`,
      baseline: `queues ${q.brokerIdle.rssMb.toFixed(0)} / ${q.brokerPeakRssMb.toFixed(0)} MB, ${q.queues} q; stream ${s.brokerIdle.rssMb.toFixed(0)} / ${s.brokerPeakRssMb.toFixed(0)} MB, ${s.queues} q`,
      goal: "—",
      note: `empty node ${l.brokerEmpty.rssMb.toFixed(0)} MB RSS; in use idle (memory_breakdown without slack and "binary") ${inUse(l.brokerIdle)} MB gwsync, ${inUse(q.brokerIdle)} MB raw queues, ${inUse(s.brokerIdle)} MB raw stream`,
    });
  }
  if (failure) {
    rows.push({
      id: ID,
      what: `fan-out to ${failure.n} gateways`,
      gwsync: "failed",
      baseline: "—",
      goal: "—",
      met: false,
      note: failure.error,
    });
  }
  return { rows, details: { publishes, levels, failure } };
}
