/**
 * B4: 50,000 token revocations emitted through the plugin hook → applied on 4 gateway processes.
 * Figure: revocations per second from the first emit() to the last gateway's last apply (and, for
 * diagnosis, each gateway's own apply rate). Baseline in the same run: raw amqplib confirm-publish
 * of the same encoded events → 4 consumer processes that parse each and keep it in a Map.
 */
import { randomUUID } from "node:crypto";
import { setImmediate as tick } from "node:timers/promises";
import { encodeTokenRevocation } from "../src/events/encode.js";
import { cpuMs, listenerPid, WIRE_STATS, wireDelta, wireSnapshot } from "./lib/broker-wire.js";
import { nowMs } from "./lib/clock.js";
import type { BenchContext, BenchOutcome } from "./lib/report.js";
import { scaled } from "./lib/scale.js";
import { drainOutbox } from "./lib/seed.js";
import { fmtMs, fmtRate } from "./lib/stats.js";
import { BENCH_BROKER_PORT, BenchWorld, confirmPublishAll } from "./lib/world.js";

const FULL_EVENTS = 50_000;
const GATEWAYS = 4;
const GOAL_PER_SEC = 20_000;
/** Issue 19's goal for the WSO2 wire: at least this share of the raw baseline's rate in the same run. */
const GOAL_RATIO = 0.9;
const YIELD_EVERY = 500;
const TOKEN_TTL_MS = 60 * 60 * 1000;
const DONE_TIMEOUT_MS = 600_000;
const RAW_KEY = "raw-b4";
const IDLE_SAMPLE_MS = 2000;

/** Events per message when gwsync batches runtime events (the publisher's batch_runtime_events). */
const BATCH = 500;

interface ModeResult {
  gwMs: number;
  emittedMs: number;
  announcedMs: number;
  rawRuns: number[];
  applyRates: number[];
  /** CPU (ms) per event of each phase: raw A, gwsync, raw B. */
  cpu: PhaseCpu[];
  /** GWSYNC_BENCH_WIRE=1: the broker's per-queue and per-connection counts of each phase. */
  wire?: unknown[];
}

/** CPU per event (ms) of one phase: the broker, the 4 gateways or raw consumers, this process. */
interface PhaseCpu {
  phase: string;
  broker: number;
  /** The broker's, less what it used at its rate of the 2 s before the phase (other work of the machine). */
  brokerLessIdle: number;
  brokerIdlePct: number;
  consumers: number;
  /** The bench process: the raw publisher, or gwsync's publisher service (it runs in this process). */
  bench: number;
}

async function measureMode(ctx: BenchContext, n: number, batch: number): Promise<ModeResult> {
  const mode = batch > 1 ? `batches of ${batch}` : "one message per event";
  const world = new BenchWorld({ batchRuntimeEvents: batch });
  try {
    const svc = await world.startPublisher();
    const gws = await world.startGateways(GATEWAYS);
    const raws = await world.startRawConsumers(GATEWAYS, { routingKey: RAW_KEY, mode: "token" });
    for (const c of [...gws, ...raws]) await c.measureClockOffset();
    const expiryTime = Date.now() + TOKEN_TTL_MS;
    const tokens = Array.from({ length: n }, () => randomUUID());

    const brokerPid = listenerPid(BENCH_BROKER_PORT);
    const cpu: PhaseCpu[] = [];
    const wire: unknown[] = [];
    /** Runs `body` as phase `phase`, counting the CPU of the broker, `consumers` and this process. */
    const measured = async <T>(phase: string, consumers: { pid: number }[], body: () => Promise<T>) => {
      const pids = consumers.map((c) => c.pid);
      const w0 = WIRE_STATS ? wireSnapshot([world.id]) : undefined;
      // The broker serves other work of the machine too: its rate over 2 idle seconds just before.
      const i0 = cpuMs([brokerPid]);
      const it0 = nowMs();
      await new Promise((r) => setTimeout(r, IDLE_SAMPLE_MS));
      const idlePerMs = (cpuMs([brokerPid]) - i0) / (nowMs() - it0);
      const t0 = nowMs();
      const b0 = cpuMs([brokerPid]);
      const c0 = cpuMs(pids);
      const p0 = process.cpuUsage();
      const out = await body();
      const p1 = process.cpuUsage(p0);
      const brokerMs = cpuMs([brokerPid]) - b0;
      const row: PhaseCpu = {
        phase,
        broker: brokerMs / n,
        brokerLessIdle: (brokerMs - idlePerMs * (nowMs() - t0)) / n,
        brokerIdlePct: idlePerMs * 100,
        consumers: (cpuMs(pids) - c0) / n,
        bench: (p1.user + p1.system) / 1000 / n,
      };
      cpu.push(row);
      ctx.log(
        `B4 (${mode}) ${phase}: CPU per event: broker ${us(row.broker)} (${us(row.brokerLessIdle)} less its idle rate of ${row.brokerIdlePct.toFixed(1)} % just before), ${GATEWAYS} consumers ${us(row.consumers)}, bench process ${us(row.bench)}`,
      );
      if (w0) {
        const d = { phase, ...wireDelta(w0, wireSnapshot([world.id])) };
        wire.push(d);
        ctx.log(`B4 (${mode}) ${phase}: broker wire ${JSON.stringify(d)}`);
      }
      return out;
    };
    const bodies = tokens.map((t) => encodeTokenRevocation({ revokedToken: t, expiryTime, type: "JWT" }));
    const rawMessages = bodies.map((b) => ({ body: b.body, messageId: b.eventId }));
    const rawRun = async (run: number) => {
      ctx.log(`B4 (${mode}): raw baseline run ${run}, ${n} confirm-publishes → ${GATEWAYS} consumers`);
      const ch = await world.confirmChannel();
      return measured(`raw ${run}`, raws, async () => {
        const rawDone = raws.map((c) => c.request({ type: "target", count: n }, "done", DONE_TIMEOUT_MS));
        const r0 = nowMs();
        await confirmPublishAll(ch, world.exchange, RAW_KEY, rawMessages);
        return (
          Math.max(...(await Promise.all(rawDone)).map((m, i) => raws[i]!.toParentClock(m.t as number))) - r0
        );
      });
    };
    // ABA order (raw, gwsync, raw): load on this shared machine drifts; the mean of the raw runs cancels it.
    const rawA = await rawRun(1);

    ctx.log(
      `B4 (${mode}): gwsync, ${n} revocations through emitMany() (calls of ${YIELD_EVERY}) → ${GATEWAYS} gateways`,
    );
    const { gwMs, emittedMs, announcedMs, finished } = await measured("gwsync", gws, async () => {
      const done = gws.map((g) =>
        g.request({ type: "runtime-target", count: n }, "runtime-done", DONE_TIMEOUT_MS),
      );
      const g0 = nowMs();
      // The plugin hook's batch form: one transaction (one fsync) per call, as a control plane revoking
      // many tokens at once (a user's sessions, a compromised app) would call it.
      for (let i = 0; i < n; i += YIELD_EVERY) {
        await svc.publisher.emitMany(
          tokens.slice(i, i + YIELD_EVERY).map((revokedToken) => ({
            stream: "tokenRevocation" as const,
            event: { revokedToken, expiryTime, type: "JWT" },
          })),
        );
        await tick();
      }
      const emittedMs = nowMs() - g0;
      await drainOutbox(svc);
      const announcedMs = nowMs() - g0;
      const finished = await Promise.all(done);
      const ends = finished.map((m, i) => gws[i]!.toParentClock(m.t as number));
      return { gwMs: Math.max(...ends) - g0, emittedMs, announcedMs, finished };
    });
    const applyRates = finished.map((m) => n / (((m.t as number) - (m.firstT as number)) / 1000));
    const rawB = await rawRun(2);
    return {
      gwMs,
      emittedMs,
      announcedMs,
      rawRuns: [rawA, rawB],
      applyRates,
      cpu,
      ...(WIRE_STATS ? { wire } : {}),
    };
  } finally {
    await world.close();
  }
}

const us = (ms: number) => `${(ms * 1000).toFixed(0)} µs`;

export async function b4Revocations(ctx: BenchContext): Promise<BenchOutcome> {
  const n = scaled("B4", FULL_EVENTS, 500);
  // GWSYNC_BENCH_B4_MODES=wso2 (or batched) runs one mode only; both by default.
  const only = (process.env.GWSYNC_BENCH_B4_MODES ?? "wso2,batched").split(",").map((m) => m.trim());
  const modes = {
    single: only.includes("wso2") ? await measureMode(ctx, n, 0) : undefined,
    batched: only.includes("batched") ? await measureMode(ctx, n, BATCH) : undefined,
  };
  const row = (r: ModeResult, label: string) => {
    const rawMs = (r.rawRuns[0]! + r.rawRuns[1]!) / 2;
    const gwRate = n / (r.gwMs / 1000);
    const rawRate = n / (rawMs / 1000);
    return {
      id: "B4",
      what: `${n.toLocaleString("en-US")} token revocations → ${GATEWAYS} gateways, ${label}`,
      gwsync: fmtRate(gwRate),
      baseline: `${fmtRate(rawRate)} raw`,
      ratio: gwRate / rawRate,
      goal: `≥ ${GOAL_RATIO}× raw and ≥ ${GOAL_PER_SEC.toLocaleString("en-US")}/s`,
      met: gwRate >= GOAL_RATIO * rawRate && gwRate >= GOAL_PER_SEC,
      note: `emitMany() loop ${fmtMs(r.emittedMs)}, outbox drained at ${fmtMs(r.announcedMs)}, applied everywhere at ${fmtMs(r.gwMs)}; each gateway's own apply rate ${r.applyRates.map((x) => fmtRate(x)).join(" / ")}; raw (one message per event) runs before/after ${fmtRate(n / (r.rawRuns[0]! / 1000))} / ${fmtRate(n / (r.rawRuns[1]! / 1000))}; CPU per event (broker / ${GATEWAYS} consumers / bench process) ${r.cpu.map((c) => `${c.phase} ${us(c.broker)} (${us(c.brokerLessIdle)} less idle) / ${us(c.consumers)} / ${us(c.bench)}`).join(", ")}`,
    };
  };
  return {
    rows: [
      ...(modes.single ? [row(modes.single, "WSO2 wire (one message per event, default)")] : []),
      ...(modes.batched ? [row(modes.batched, `gwsync batches (batch_runtime_events = ${BATCH})`)] : []),
    ],
    details: { events: n, single: modes.single, batched: modes.batched },
  };
}
