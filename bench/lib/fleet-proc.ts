/**
 * Many gwsync gateways in one process, for the fleet benchmarks (B8–B10): `node fleet-proc.mjs`.
 * Each gateway is a full `Gateway` (memory-only deployer, its own node id, its own AMQP connection and
 * durable queues, heartbeats and reports), as in production; only the process is shared, so a 2-core
 * machine can hold hundreds of them. The parent hears, per artifact (sha256), when every gateway of
 * this process served it ("all-applied", with the first and last gateway's times), and per expected
 * state when every gateway converged on it ("converged"). The same process can instead run raw
 * amqplib consumers (the baselines): one connection each, on a queue of its own or on one stream.
 * Timestamps come from this process's clock (performance.timeOrigin + now()).
 */
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from "amqplib";
import { loadConfig } from "../../src/config/load-config.js";
import { createLogger } from "../../src/log.js";
import { Gateway } from "../../src/gateway/gateway.js";
import { type IpcMessage, send, serve } from "./child-ipc.js";
import { nowMs } from "./clock.js";

/** Gateways started at once: each opens a connection, declares its queues and reads the data API. */
const START_CONCURRENCY = 20;

const gateways: Gateway[] = [];
/** sha256 → how many of this process's gateways served it, first and last time. */
const served = new Map<string, { count: number; first: number; last: number }>();
/** apiId → sha256 every gateway must serve ("expect"); per gateway, how many it matches. */
let expected: Map<string, string> | undefined;
let matched: Set<string>[] = [];
let convergedAt: number[] = [];
let convergedSent = false;
let deploys = 0;

function note(sha256: string | undefined): void {
  if (sha256 === undefined) return;
  const t = nowMs();
  const e = served.get(sha256) ?? { count: 0, first: t, last: t };
  e.count++;
  e.last = t;
  served.set(sha256, e);
  if (e.count === gateways.length) {
    served.delete(sha256);
    send({ type: "all-applied", sha256, first: e.first, t: e.last, gateways: e.count });
  }
}

function check(i: number, apiId: string): void {
  if (!expected) return;
  const want = expected.get(apiId);
  if (want === undefined) return;
  const set = matched[i]!;
  if (gateways[i]!.deployer.get(apiId)?.sha256 === want) set.add(apiId);
  else set.delete(apiId);
  if (set.size === expected.size && convergedAt[i] === 0) {
    convergedAt[i] = nowMs();
    maybeConverged();
  }
}

function maybeConverged(): void {
  if (convergedSent || !expected || convergedAt.some((t) => t === 0)) return;
  convergedSent = true;
  const times = [...convergedAt].sort((a, b) => a - b);
  send({ type: "converged", t: times[times.length - 1], first: times[0], times, gateways: gateways.length });
}

/**
 * GWSYNC_BENCH_FLEET_LOG_LEVEL (e.g. warn): the simulated gateways log at that level to stderr (one
 * line per record, every gateway's node id in it); unset, they log nothing, as before.
 */
const fleetLogger = process.env.GWSYNC_BENCH_FLEET_LOG_LEVEL
  ? createLogger({ level: process.env.GWSYNC_BENCH_FLEET_LOG_LEVEL, pretty: false })
  : undefined;

async function startGateways(configs: string[]): Promise<void> {
  const t0 = nowMs();
  let next = 0;
  const one = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= configs.length) return;
      const { config } = loadConfig({ text: configs[i]!, role: "gateway", env: {} });
      const gw = new Gateway({ config, http: false, ...(fleetLogger ? { logger: fleetLogger } : {}) });
      gateways[i] = gw;
      gw.events.on("applied", (outcome, apiId) => {
        if (outcome !== "deployed") return;
        deploys++;
        note(gw.deployer.get(apiId)?.sha256);
        if (expected) check(i, apiId);
      });
      await gw.start();
    }
  };
  await Promise.all(Array.from({ length: START_CONCURRENCY }, one));
  send({ type: "ready", t0, t: nowMs(), gateways: gateways.length });
}

/**
 * Notification events over this process's gateways: received, applied, and skipped by why ("stale": at
 * or below the revision the gateway already applied, acknowledged without a fetch); and how their waits
 * for a running catch-up ended (`catch-up-wait:<outcome>`: all but `applied` went on to fetch).
 */
async function notificationCounts(): Promise<Record<string, number>> {
  const out: Record<string, number> = { received: 0, applied: 0 };
  for (const gw of gateways) {
    const reg = gw.metrics.registry;
    for (const [name, key] of [
      ["gwsync_events_received_total", "received"],
      ["gwsync_events_applied_total", "applied"],
      ["gwsync_events_skipped_total", "skipped"],
    ] as const) {
      const metric = reg.getSingleMetric(name);
      if (!metric) continue;
      for (const v of (await metric.get()).values) {
        if (v.labels.stream !== "notification") continue;
        const k = key === "skipped" ? `skipped:${String(v.labels.why)}` : key;
        out[k] = (out[k] ?? 0) + v.value;
      }
    }
    const waits = reg.getSingleMetric("gwsync_catch_up_waits_total");
    for (const v of waits ? (await waits.get()).values : []) {
      const k = `catch-up-wait:${String(v.labels.outcome)}`;
      out[k] = (out[k] ?? 0) + v.value;
    }
  }
  return out;
}

// --- raw baselines -------------------------------------------------------------------------------

interface RawConsumer {
  conn: ChannelModel;
  ch: Channel;
}
const raws: RawConsumer[] = [];
const received = new Map<string, { count: number; first: number; last: number }>();

function noteRaw(id: string | undefined): void {
  if (id === undefined) return;
  const t = nowMs();
  const e = received.get(id) ?? { count: 0, first: t, last: t };
  e.count++;
  e.last = t;
  received.set(id, e);
  if (e.count === raws.length) {
    received.delete(id);
    send({ type: "all-received", id, first: e.first, t: e.last, consumers: e.count });
  }
}

/**
 * `queues`: one per consumer (per-queue fan-out) or the same stream name for all (stream fan-out,
 * read from "next" with a prefetch window: RabbitMQ requires both for a stream over AMQP 0-9-1).
 */
async function startRaw(m: IpcMessage): Promise<void> {
  const queues = m.queues as string[];
  const stream = m.stream === true;
  const prefetch = m.prefetch as number;
  let next = 0;
  const one = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= queues.length) return;
      // noDelay: Nagle would hold 5 KB frames back ~40 ms (docs/architecture.md#nagle).
      const conn = await amqp.connect(m.url as string, { noDelay: true });
      const ch = await conn.createChannel();
      await ch.prefetch(prefetch);
      const onMessage = (msg: ConsumeMessage | null) => {
        if (!msg) return;
        ch.ack(msg);
        noteRaw(msg.properties.messageId as string | undefined);
      };
      await ch.consume(queues[i]!, onMessage, {
        noAck: false,
        ...(stream ? { arguments: { "x-stream-offset": "next" } } : {}),
      });
      raws[i] = { conn, ch };
    }
  };
  await Promise.all(Array.from({ length: START_CONCURRENCY }, one));
  send({ type: "consuming", consumers: raws.length });
}

async function stopRaw(): Promise<void> {
  await Promise.all(
    raws.splice(0).map(async (r) => {
      await r.ch.close().catch(() => undefined);
      await r.conn.close().catch(() => undefined);
    }),
  );
}

async function handle(m: IpcMessage): Promise<void> {
  switch (m.type) {
    case "start":
      return startGateways(m.configs as string[]);
    case "start-raw":
      return startRaw(m);
    case "expect": {
      expected = new Map(m.entries as [string, string][]);
      matched = gateways.map(() => new Set<string>());
      convergedAt = gateways.map(() => 0);
      convergedSent = false;
      for (let i = 0; i < gateways.length; i++) for (const id of expected.keys()) check(i, id);
      return;
    }
    case "stats": {
      const mem = process.memoryUsage();
      send({
        type: "stats",
        rss: mem.rss,
        heapUsed: mem.heapUsed,
        deploys,
        gateways: gateways.length,
        events: await notificationCounts(),
      });
      return;
    }
    case "stop": {
      await Promise.all(gateways.map((g) => g.close().catch(() => undefined)));
      await stopRaw();
      send({ type: "stopped" });
      process.exit(0);
    }
  }
}

serve(handle);
