/**
 * B11: the fleet view with 200 gateways reporting on 10,000 APIs (issue 18: "the page stays responsive").
 *
 * The publisher runs in its own process (bench/lib/publisher-proc.ts) on a store seeded with 10,000
 * APIs. 200 simulated gateways then do what real ones do on the real broker: a heartbeat every 5 s and,
 * at connect, a full report snapshot of every API they serve, in parts of MAX_REPORT_ENTRIES
 * (src/events/gateway-report.ts), all 200 at once (8,000 messages, 2 million entries). A few gateways
 * serve an older artifact of some APIs or refused one, so "only not complete" has something to find.
 * Measured, over REST from this (another) process, sequentially:
 * - report ingestion: entries/s from the first report published until /api/v1/fleet shows every
 *   gateway's stream complete;
 * - p50/p99 of /api/v1/fleet, one API's /rollout, /rollouts (first page), /rollouts?problems=1,
 *   /refusals, and the status page's refresh (fleet + refusals + rollouts in parallel, as ui/app.js);
 * - baseline in the same run: /api/v1/status (the store's per-label counts and the gateways);
 * - the publisher's RSS (VmRSS, VmHWM) after ingestion and after the queries.
 */
import { randomBytes } from "node:crypto";
import type { ConfirmChannel } from "amqplib";
import { type GatewayReport, MAX_REPORT_ENTRIES, REPORT_ROUTING_KEY } from "../src/events/gateway-report.js";
import { HEARTBEAT_ROUTING_KEY, type Heartbeat } from "../src/events/heartbeat.js";
import { reportRetryDelay } from "../src/gateway/apply-report.js";
import { nowMs } from "./lib/clock.js";
import type { BenchContext, BenchOutcome, BenchRow } from "./lib/report.js";
import { scaled } from "./lib/scale.js";
import { drainOutbox, publishApis } from "./lib/seed.js";
import { fmtMb, fmtMs, fmtRate, type LatencySummary, summarize } from "./lib/stats.js";
import { BenchWorld, LABEL } from "./lib/world.js";

const ID = "B11";
const FULL_APIS = 10_000;
const FULL_GATEWAYS = 200;
const FULL_SAMPLES = 40;
const HEARTBEAT_MS = 5000;
const INGEST_TIMEOUT_MS = 600_000;
const POLL_MS = 500;
/** The status page refreshes every 2 s: a refresh slower than that is not responsive. */
const GOAL_PAGE_P99_MS = 1000;
/** One gateway in this many serves an older artifact of one API in this many. */
const BEHIND_EVERY = 20;
const REFUSING_EVERY = 25;

const sha = () => randomBytes(32).toString("hex");

function heartbeat(nodeId: string, labels: string[], deployed: number, appliedSeq: number): Heartbeat {
  return {
    nodeId,
    region: "bench",
    labels,
    appliedSeq,
    deployed,
    version: "bench",
    status: "ready",
    intervalMs: HEARTBEAT_MS,
    sentAt: Date.now(),
  };
}

/** The full snapshot a gateway sends at connect: what it serves, in parts (sequence numbers after `seqBase`). */
function fullSnapshot(nodeId: string, g: number, served: [string, string][], seqBase = 0): GatewayReport[] {
  const behind = g % BEHIND_EVERY === 0;
  const refusing = g % REFUSING_EVERY === 1;
  const entries: GatewayReport["apis"] = served.map(([apiId, sha256], i) => {
    if (behind && i % BEHIND_EVERY === 0) return { apiId, served: { revision: 0, sha256: sha() } };
    if (refusing && i % (REFUSING_EVERY * 10) === 0)
      return {
        apiId,
        refusal: { revision: 1, code: "GWSYNC_ARTIFACT_CONFLICT", message: "bench refusal", at: Date.now() },
      };
    return { apiId, served: { revision: 1, sha256 } };
  });
  const parts = Math.max(1, Math.ceil(entries.length / MAX_REPORT_ENTRIES));
  const out: GatewayReport[] = [];
  for (let p = 0; p < parts; p++) {
    out.push({
      nodeId,
      boot: "bench-boot",
      seq: seqBase + p + 1,
      kind: "full",
      part: p + 1,
      parts,
      served: entries.filter((e) => e.served).length,
      refused: entries.filter((e) => e.refusal).length,
      apis: entries.slice(p * MAX_REPORT_ENTRIES, (p + 1) * MAX_REPORT_ENTRIES),
      sentAt: Date.now(),
    });
  }
  return out;
}

async function publishJson(
  ch: ConfirmChannel,
  exchange: string,
  key: string,
  bodies: unknown[],
): Promise<void> {
  for (const b of bodies) {
    if (!ch.publish(exchange, key, Buffer.from(JSON.stringify(b)), { contentType: "application/json" })) {
      await new Promise((r) => ch.once("drain", r));
    }
  }
  await ch.waitForConfirms();
}

/**
 * Sends report messages the way many gateways share one connection: each publish confirmed on its own
 * (true: taken, false: refused by the publisher's full report queue), one shared wait for 'drain'.
 */
function confirmedSender(ch: ConfirmChannel, exchange: string): (body: unknown) => Promise<boolean> {
  let draining: Promise<void> | undefined;
  return async (body) => {
    while (draining) await draining;
    let full = false;
    const taken = new Promise<boolean>((resolve) => {
      full = !ch.publish(
        exchange,
        REPORT_ROUTING_KEY,
        Buffer.from(JSON.stringify(body)),
        { contentType: "application/json" },
        (err) => resolve(err === null || err === undefined),
      );
    });
    if (full && !draining) {
      draining = new Promise<void>((r) =>
        ch.once("drain", () => {
          draining = undefined;
          r();
        }),
      );
    }
    return taken;
  };
}

/**
 * One simulated gateway's snapshot, as src/gateway/apply-report.ts sends it: all parts; the parts the
 * publisher's queue refused, again after reportRetryDelay, each alone under its own seq and part
 * (GWSYNC_BENCH_B11_RESEND=whole: the whole snapshot again under new seqs, as gateways did before).
 * Counts the parts refused on the way and the parts taken (recorded by the publisher).
 */
async function snapshotUntilTaken(
  send: (body: unknown) => Promise<boolean>,
  nodeId: string,
  g: number,
  served: [string, string][],
  count: { refused: number; taken: number },
): Promise<void> {
  const whole = process.env.GWSYNC_BENCH_B11_RESEND === "whole";
  let seqBase = 0;
  let parts = fullSnapshot(nodeId, g, served, seqBase);
  for (let attempt = 0; ; attempt++) {
    const taken = await Promise.all(parts.map((p) => send(p)));
    const left = parts.filter((_, i) => !taken[i]);
    count.taken += parts.length - left.length;
    if (left.length === 0) return;
    count.refused += left.length;
    await new Promise((r) => setTimeout(r, reportRetryDelay(attempt)));
    if (whole) {
      seqBase += parts.length;
      parts = fullSnapshot(nodeId, g, served, seqBase);
    } else parts = left;
  }
}

interface Timed {
  summary: LatencySummary;
  firstMs: number;
  bytes: number;
}

export async function b11FleetView(ctx: BenchContext): Promise<BenchOutcome> {
  const apis = scaled(ID, FULL_APIS, 100);
  // GWSYNC_BENCH_B11_GATEWAYS: the fleet's size alone (issue 20: the view at 1,000 gateways).
  const gateways = process.env.GWSYNC_BENCH_B11_GATEWAYS
    ? Number(process.env.GWSYNC_BENCH_B11_GATEWAYS)
    : scaled(ID, FULL_GATEWAYS, 4);
  const samples = scaled(ID, FULL_SAMPLES, 10);
  const world = new BenchWorld({ storeOnTmpfs: true });
  let beating: NodeJS.Timeout | undefined;
  try {
    ctx.log(`${ID}: seeding ${apis} APIs`);
    const seeder = await world.startPublisher();
    const published = await publishApis(seeder, { count: apis, prefix: "Fleet" });
    await drainOutbox(seeder);
    const head = await seeder.publisher.store.headSeq();
    await seeder.close();
    world.publisher = undefined;

    const { child: pub, url } = await world.startPublisherProcess();
    const headers = { authorization: world.authorization, accept: "application/json" };
    const get = async (path: string): Promise<{ ms: number; bytes: number; body: unknown }> => {
      const t0 = nowMs();
      const res = await fetch(`${url}${path}`, { headers });
      const text = await res.text();
      const ms = nowMs() - t0;
      if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${text.slice(0, 200)}`);
      return { ms, bytes: text.length, body: JSON.parse(text) };
    };

    const ch = await (await world.connection()).createConfirmChannel();
    await ch.assertExchange(world.exchange, "topic", { durable: true });
    const nodes = Array.from({ length: gateways }, (_, g) => ({
      nodeId: `${world.id}-gw-${String(g).padStart(3, "0")}`,
      // Every fifth gateway serves a second label too: two label sets, as real fleets have.
      labels: g % 5 === 0 ? [LABEL, "Internal"] : [LABEL],
    }));
    const beatAll = () =>
      publishJson(
        ch,
        world.exchange,
        HEARTBEAT_ROUTING_KEY,
        // Caught up (applied seq = head), but the gateways that serve older artifacts: they never caught up.
        nodes.map((n, g) => heartbeat(n.nodeId, n.labels, apis, g % BEHIND_EVERY === 0 ? 0 : head)),
      );
    await beatAll();
    beating = setInterval(() => void beatAll().catch(() => undefined), HEARTBEAT_MS);

    // Every gateway connects at once and sends its full snapshot.
    // In API id order, as a gateway sends its snapshot (src/gateway/apply-report.ts, sendFull).
    const served = [...published.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const messages = nodes.flatMap((n, g) => fullSnapshot(n.nodeId, g, served));
    const entries = messages.reduce((s, m) => s + m.apis.length, 0);
    ctx.log(
      `${ID}: ${gateways} gateways report ${entries.toLocaleString("en-US")} entries in ${messages.length} messages`,
    );
    const t0 = nowMs();
    const send = confirmedSender(ch, world.exchange);
    const count = { refused: 0, taken: 0 };
    await Promise.all(nodes.map((n, g) => snapshotUntilTaken(send, n.nodeId, g, served, count)));
    const refusedParts = count.refused;
    const resend =
      process.env.GWSYNC_BENCH_B11_RESEND === "whole" ? "whole snapshots" : "refused parts alone";
    const publishedMs = nowMs() - t0;
    ctx.log(
      `${ID}: every snapshot taken after ${Math.round(publishedMs)} ms; ${refusedParts} parts refused by the full report queue and sent again (${resend}); ${count.taken} parts taken`,
    );
    let ingestMs = Number.NaN;
    for (;;) {
      const fleet = (await get("/api/v1/fleet")).body as { gateways: { report: string }[] };
      const complete = fleet.gateways.filter((g) => g.report === "complete").length;
      if (fleet.gateways.length === gateways && complete === gateways) {
        ingestMs = nowMs() - t0;
        break;
      }
      if (nowMs() - t0 > INGEST_TIMEOUT_MS)
        throw new Error(`after ${INGEST_TIMEOUT_MS} ms ${complete}/${gateways} report streams complete`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    const rate = entries / (ingestMs / 1000);
    ctx.log(
      `${ID}: ingested in ${Math.round(ingestMs)} ms (${fmtRate(rate)} entries; published in ${Math.round(publishedMs)} ms)`,
    );
    const memIngest = pub.memory();

    const ids = [...published.keys()];
    const measure = async (
      name: string,
      fn: (i: number) => Promise<{ ms: number; bytes: number }>,
    ): Promise<Timed> => {
      const first = await fn(0);
      const ms: number[] = [];
      let bytes = first.bytes;
      for (let i = 1; i <= samples; i++) {
        const r = await fn(i);
        ms.push(r.ms);
        bytes = r.bytes;
      }
      const summary = summarize(ms);
      ctx.log(
        `${ID}: ${name}: first ${fmtMs(first.ms)}, p50 ${fmtMs(summary.p50)}, p99 ${fmtMs(summary.p99)} (${bytes} bytes)`,
      );
      return { summary, firstMs: first.ms, bytes };
    };
    const page = async () => {
      const t = nowMs();
      const parts = await Promise.all([
        get("/api/v1/fleet"),
        get("/api/v1/refusals?limit=200"),
        get("/api/v1/rollouts?offset=0&limit=50"),
      ]);
      return { ms: nowMs() - t, bytes: parts.reduce((s, p) => s + p.bytes, 0) };
    };
    const results: Record<string, Timed> = {};
    results.status = await measure("status (baseline)", () => get("/api/v1/status"));
    results.problems = await measure("rollouts?problems=1", () =>
      get("/api/v1/rollouts?problems=1&limit=50"),
    );
    const problems = (await get("/api/v1/rollouts?problems=1&limit=1")).body as { total: number };
    results.fleet = await measure("fleet", () => get("/api/v1/fleet"));
    results.rollout = await measure("rollout of one API", (i) =>
      get(`/api/v1/artifacts/${encodeURIComponent(ids[(i * 7919) % ids.length]!)}/rollout`),
    );
    results.rollouts = await measure("rollouts (first page)", () =>
      get("/api/v1/rollouts?offset=0&limit=50"),
    );
    results.refusals = await measure("refusals", () => get("/api/v1/refusals?limit=200"));
    results.page = await measure("status page refresh", page);
    const memEnd = pub.memory();

    const base = results.status!.summary;
    const rows: BenchRow[] = [];
    const scale = `${gateways} gateways × ${apis.toLocaleString("en-US")} APIs`;
    const row = (key: string, what: string, goal?: number): void => {
      const r = results[key]!;
      for (const [p, v, b] of [
        ["p50", r.summary.p50, base.p50],
        ["p99", r.summary.p99, base.p99],
      ] as const) {
        rows.push({
          id: ID,
          what: `${what}, ${p} (${scale})`,
          gwsync: fmtMs(v),
          baseline: `${fmtMs(b)} /status`,
          ratio: v / b,
          goal: goal !== undefined && p === "p99" ? `≤ ${goal} ms` : "—",
          ...(goal !== undefined && p === "p99" ? { met: v <= goal } : {}),
        });
      }
    };
    row("page", "status page refresh (fleet + refusals + rollouts)", GOAL_PAGE_P99_MS);
    row("fleet", "GET /api/v1/fleet");
    row("rollout", "GET /api/v1/artifacts/{id}/rollout");
    row("rollouts", "GET /api/v1/rollouts, first page");
    row("problems", "GET /api/v1/rollouts?problems=1");
    row("refusals", "GET /api/v1/refusals");
    rows.push({
      id: ID,
      what: `report ingestion (${entries.toLocaleString("en-US")} entries, ${messages.length} messages)`,
      gwsync: `${fmtRate(rate)} entries`,
      baseline: "—",
      goal: "—",
      note: `all ${gateways} streams complete ${Math.round(ingestMs)} ms after the first report was published (every snapshot taken after ${Math.round(publishedMs)} ms; ${refusedParts} parts refused by the full report queue and sent again, ${resend}, as gateways do; ${count.taken} parts taken and recorded); ${problems.total} APIs not complete`,
    });
    rows.push({
      id: ID,
      what: `publisher RSS after ingestion / after the queries (${scale})`,
      gwsync: `${fmtMb(memIngest.rssKb)} / ${fmtMb(memEnd.rssKb)}`,
      baseline: "—",
      goal: "—",
      note: `peak (VmHWM) ${fmtMb(memEnd.hwmKb)}; first /rollouts?problems=1 (builds the rollout index) ${fmtMs(results.problems!.firstMs)}`,
    });
    return {
      rows,
      details: {
        apis,
        gateways,
        samples,
        entries,
        messages: messages.length,
        publishedMs,
        refusedParts,
        partsTaken: count.taken,
        ingestMs,
        entriesPerSecond: rate,
        notComplete: problems.total,
        rssAfterIngestKb: memIngest.rssKb,
        rssEndKb: memEnd.rssKb,
        hwmKb: memEnd.hwmKb,
        latencies: Object.fromEntries(
          Object.entries(results).map(([k, v]) => [k, { ...v.summary, firstMs: v.firstMs, bytes: v.bytes }]),
        ),
      },
    };
  } finally {
    if (beating) clearInterval(beating);
    await world.close();
  }
}
