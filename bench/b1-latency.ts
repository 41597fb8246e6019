/**
 * B1: publish → file deployed on all of 4 gateway processes, 1,000 sequential 5 KB updates, p50/p99.
 * Baseline in the same run, interleaved update by update: raw amqplib confirm-publish of the same
 * 5 KB body → 4 consumer processes that write the file atomically and ack; lsyncd (delay 0) where
 * installed. Each process stamps its own "file is in place" time; the parent corrects clock offsets.
 */
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { mkdtempSync, rmSync } from "node:fs";
import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HOP_CHANNEL, type HopRecord } from "../src/hops.js";
import { synapseApi } from "../test/harness/cluster.js";
import { Arrivals } from "./lib/arrivals.js";
import { type BenchChild, readProcCpuMs } from "./lib/children.js";
import { nowMs } from "./lib/clock.js";
import { LSYNCD, lsyncdInstalled, measureLsyncd } from "./lib/lsyncd.js";
import type { BenchContext, BenchOutcome, BenchRow } from "./lib/report.js";
import { scaled } from "./lib/scale.js";
import { fmtMs, summarize } from "./lib/stats.js";
import { BenchWorld, confirmPublish, LABEL } from "./lib/world.js";

const FULL_UPDATES = 1000;
/**
 * Gateway processes (and raw consumers) per mode: 4, the benchmark's figure. GWSYNC_BENCH_B1_GATEWAYS=1
 * shows one update's path with no other gateway competing for the 2 cores (BENCHMARKS.md, issue 19).
 */
const GATEWAYS = gatewayCount(process.env.GWSYNC_BENCH_B1_GATEWAYS);

function gatewayCount(v: string | undefined): number {
  if (v === undefined || v === "") return 4;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 16)
    throw new Error(`GWSYNC_BENCH_B1_GATEWAYS must be an integer from 1 to 16, got ${v}`);
  return n;
}
const API_SIZE_BYTES = 5000;
const P50_GOAL_RATIO = 1.5;
/** Issue 19's goal: p99 within 2× the raw transport's. */
const P99_RATIO_GOAL = 2;
const LSYNCD_GOAL_FACTOR = 20;
/** lsyncd forks rsync per change: fewer samples keep the run short and are plenty for a p50. */
const LSYNCD_SAMPLES = 100;
const PER_UPDATE_TIMEOUT_MS = 30_000;
const RAW_KEY = "raw-b1";
const API_NAME = "BenchLatency";

interface ModeResult {
  gw: ReturnType<typeof summarize>;
  raw: ReturnType<typeof summarize>;
  call: ReturnType<typeof summarize>;
  bodies: string[];
  offsets: { name: string }[];
  breakdown: Record<string, ReturnType<typeof summarize>>;
}

/**
 * How the update is published: `rest`, a POST /api/v1/artifacts from this process to a publisher
 * process of its own (what a user, the CLI or a CI job sees); `library`, the plugin hook's
 * deployApi() called in this process (the publisher shares this process's event loop).
 */
type Via = "rest" | "library";

interface Publishing {
  call: (xml: string) => Promise<{ sha256: string }>;
  /** The publisher's process when it has one of its own (REST). */
  child?: BenchChild;
}

async function startPublishing(world: BenchWorld, via: Via): Promise<Publishing> {
  if (via === "library") {
    const svc = await world.startPublisher();
    return { call: (xml) => svc.publisher.deployApi(xml, [LABEL]) };
  }
  const { url, child } = await world.startPublisherProcess();
  const target = `${url}/api/v1/artifacts?label=${encodeURIComponent(LABEL)}`;
  const headers = { authorization: world.authorization, "content-type": "application/xml" };
  const answer = (status: number, text: string) => {
    const body = JSON.parse(text) as { sha256?: string; message?: string };
    if (status < 200 || status > 299 || typeof body.sha256 !== "string") {
      throw new Error(`POST /api/v1/artifacts answered ${status}: ${text.slice(0, 300)}`);
    }
    return { sha256: body.sha256 };
  };
  if (process.env.GWSYNC_BENCH_B1_CLIENT === "fetch") {
    // Node's fetch keeps the connection alive between calls too, at ~0.3-0.5 ms more CPU per request.
    return {
      child,
      call: async (xml) => {
        const res = await fetch(target, { method: "POST", body: xml, headers });
        return answer(res.status, await res.text());
      },
    };
  }
  return { child, call: restPoster(target, headers, answer) };
}

/**
 * A REST client on one kept-alive connection (node:http), as curl --keepalive or any HTTP library:
 * POSTs the body, resolves with `answer(status, text)`. B1 and B12 use it.
 */
export function restPoster<T>(
  target: string,
  headers: Record<string, string>,
  answer: (status: number, text: string) => T,
): (body: string) => Promise<T> {
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 1 });
  return (text) =>
    new Promise((resolve, reject) => {
      const body = Buffer.from(text);
      const req = httpRequest(
        target,
        { method: "POST", agent, headers: { ...headers, "content-length": String(body.length) } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            try {
              resolve(answer(res.statusCode ?? 0, Buffer.concat(chunks).toString("utf8")));
            } catch (err) {
              reject(err);
            }
          });
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(body);
    });
}

/** Hops a gateway passes for an artifact event; the others (runtime streams) are not B1's. */
const GATEWAY_STREAM_HOPS = new Set(["gateway.delivered", "gateway.acked"]);

/**
 * The hops (src/hops.ts) of every update: the publisher's (its own process, or this one for the
 * library path) and each gateway's, on this process's clock. An update's hop is the first record of
 * that name inside the update's window (updates are sequential); a gateway hop counts when all
 * gateways passed it, at the last of them.
 */
export class HopRecorder {
  readonly #local: HopRecord[] = [];
  #unsubscribe: (() => void) | undefined;
  readonly #publisher: BenchChild | undefined;
  readonly #gateways: BenchChild[];

  private constructor(publisher: BenchChild | undefined, gateways: BenchChild[]) {
    this.#publisher = publisher;
    this.#gateways = gateways;
  }

  static async start(publisher: BenchChild | undefined, gateways: BenchChild[]): Promise<HopRecorder> {
    const r = new HopRecorder(publisher, gateways);
    if (publisher === undefined) {
      const fn = (m: unknown) => void r.#local.push(m as HopRecord);
      subscribe(HOP_CHANNEL, fn);
      r.#unsubscribe = () => unsubscribe(HOP_CHANNEL, fn);
    }
    for (const c of [...(publisher ? [publisher] : []), ...gateways]) {
      await c.request({ type: "hops-record" }, "hops-recording");
    }
    return r;
  }

  async #take(c: BenchChild): Promise<HopRecord[]> {
    const m = await c.request({ type: "hops-take" }, "hops", 60_000);
    return (m.records as HopRecord[]).map((h) => ({ ...h, t: c.toParentClock(h.t) }));
  }

  async breakdown(
    windows: readonly [number, number][],
  ): Promise<Record<string, ReturnType<typeof summarize>>> {
    this.#unsubscribe?.();
    const publisherHops = this.#publisher ? await this.#take(this.#publisher) : this.#local;
    const gatewayHops = await Promise.all(this.#gateways.map((g) => this.#take(g)));
    const relevant = (h: HopRecord) => !GATEWAY_STREAM_HOPS.has(h.hop) || h.key === "notification";
    const firstIn = (records: HopRecord[], w: readonly [number, number]) => {
      const out = new Map<string, number>();
      for (const h of records) {
        if (h.t < w[0] || h.t > w[1] || !relevant(h) || out.has(h.hop)) continue;
        out.set(h.hop, h.t);
      }
      return out;
    };
    const deltas = new Map<string, number[]>();
    const add = (name: string, d: number) => {
      const list = deltas.get(name) ?? [];
      list.push(d);
      deltas.set(name, list);
    };
    for (const w of windows) {
      for (const [name, t] of firstIn(publisherHops, w)) add(name, t - w[0]);
      const perGateway = gatewayHops.map((records) => firstIn(records, w));
      const names = new Set(perGateway.flatMap((m) => [...m.keys()]));
      for (const name of names) {
        const ts = perGateway.map((m) => m.get(name));
        if (ts.every((t) => t !== undefined)) {
          add(name, Math.max(...(ts as number[])) - w[0]);
          // The first gateway too: the spread between first and last is the gateways' waiting on each other.
          add(`${name} (first)`, Math.min(...(ts as number[])) - w[0]);
        }
      }
    }
    const order = [...deltas.entries()].map(([name, ds]) => [name, summarize(ds)] as const);
    order.sort((a, b) => a[1].p50 - b[1].p50);
    return Object.fromEntries(order);
  }
}

/**
 * One pass: gwsync and raw interleaved update by update. `inline`: the publisher runs with
 * publish_directly_to_gateway = true (the event carries the artifact, the gateways do not fetch it).
 */
async function measureMode(
  ctx: BenchContext,
  n: number,
  warmup: number,
  inline: boolean,
  via: Via,
): Promise<ModeResult> {
  const world = new BenchWorld({ inline });
  try {
    const publish = await startPublishing(world, via);
    const gws = await world.startGateways(GATEWAYS, { reportEach: true });
    const raws = await world.startRawConsumers(GATEWAYS, {
      routingKey: RAW_KEY,
      mode: "file",
      reportEach: true,
    });
    const offsets = [];
    const pub = publish.child === undefined ? [] : [publish.child];
    for (const c of [...pub, ...gws, ...raws])
      offsets.push({ name: c.name, ...(await c.measureClockOffset()) });
    const hops = await HopRecorder.start(publish.child, gws);
    // CPU each process spends per update (gwsync's and raw's run interleaved, so each side's own).
    const cpuOf = (cs: BenchChild[]) => cs.reduce((sum, c) => sum + readProcCpuMs(c.pid), 0);
    const cpu0 = { pub: cpuOf(pub), gws: cpuOf(gws), raws: cpuOf(raws), bench: process.cpuUsage() };
    const windows: [number, number][] = [];
    const ch = await world.confirmChannel();
    const gwArrivals = new Arrivals(gws, "applied", (m) => m.sha256 as string | undefined);
    const rawArrivals = new Arrivals(raws, "written", (m) => m.id as string | undefined);
    const gwLat: number[] = [];
    const rawLat: number[] = [];
    /** How long deployApi itself (validate + one SQLite transaction) blocked the caller. */
    const callMs: number[] = [];
    const bodies: string[] = [];
    const mode = `${inline ? "inline" : "fetch"}, ${via}`;
    ctx.log(`B1 (${mode}): ${warmup} warm-up + ${n} sequential updates, gwsync and raw interleaved`);
    for (let i = 0; i < warmup + n; i++) {
      const xml = synapseApi({ name: API_NAME, revision: i + 1, size: API_SIZE_BYTES });
      if (i >= warmup && bodies.length < LSYNCD_SAMPLES) bodies.push(xml);
      // Raw: confirm-publish → 4 consumers wrote the file.
      const id = `${world.id}-raw-${i}`;
      const rawDone = rawArrivals.wait(id, PER_UPDATE_TIMEOUT_MS);
      const r0 = nowMs();
      const confirmed = confirmPublish(ch, world.exchange, RAW_KEY, Buffer.from(xml), {
        messageId: id,
        headers: { "x-file": `admin--${API_NAME}_v1.0.0.xml` },
      });
      const r1 = await rawDone;
      await confirmed;
      // gwsync: the plugin hook's deployApi → the file deployed on 4 gateways.
      const g0 = nowMs();
      const res = await publish.call(xml);
      const called = nowMs() - g0;
      const g1 = await gwArrivals.wait(res.sha256, PER_UPDATE_TIMEOUT_MS);
      if (i >= warmup) {
        windows.push([g0, g1]);
        rawLat.push(r1 - r0);
        gwLat.push(g1 - g0);
        callMs.push(called);
      }
      if ((i + 1) % 200 === 0) ctx.log(`B1 (${mode}): ${i + 1}/${warmup + n}`);
    }
    gwArrivals.close();
    rawArrivals.close();
    const perUpdate = (ms: number) => fmtMs(ms / (warmup + n));
    const benchCpu = process.cpuUsage(cpu0.bench);
    ctx.log(
      `B1 (${mode}): CPU per update: ${pub.length > 0 ? `publisher ${perUpdate(cpuOf(pub) - cpu0.pub)}, ` : ""}${GATEWAYS} gateways ${perUpdate(cpuOf(gws) - cpu0.gws)}, ${GATEWAYS} raw consumers ${perUpdate(cpuOf(raws) - cpu0.raws)}, bench process (clients of both) ${perUpdate((benchCpu.user + benchCpu.system) / 1000)}`,
    );
    const breakdown = await hops.breakdown(windows);
    ctx.log(
      `B1 (${mode}): hops, ms after the publish call began (p50 / p99 over ${windows.length} updates; gateway hops: the last of ${GATEWAYS})`,
    );
    for (const [name, st] of Object.entries(breakdown))
      ctx.log(`  ${name.padEnd(22)} ${fmtMs(st.p50)} / ${fmtMs(st.p99)}`);
    return {
      gw: summarize(gwLat),
      raw: summarize(rawLat),
      call: summarize(callMs),
      bodies,
      offsets,
      breakdown,
    };
  } finally {
    await world.close();
  }
}

/**
 * What the lsyncd goal asks of this machine: the same run's raw AMQP path (confirm-publish → the
 * consumers wrote the file) is itself only so many times faster than lsyncd, and any pipeline over the
 * broker is at best that fast. When raw's own factor is below the goal, no AMQP-based pipeline meets it.
 */
export function lsyncdCeiling(lsyncdP50: number, rawP50: number, gwP50: number): string {
  const rawFactor = lsyncdP50 / rawP50;
  const needed = (LSYNCD_GOAL_FACTOR * rawP50) / lsyncdP50;
  const reach =
    rawFactor >= LSYNCD_GOAL_FACTOR
      ? `within the transport's reach here (gwsync needs p50 ≤ ${fmtMs(lsyncdP50 / LSYNCD_GOAL_FACTOR)})`
      : `beyond the transport here: it would take gwsync ${needed.toFixed(2)}× faster than raw AMQP itself`;
  return `gwsync ${(lsyncdP50 / gwP50).toFixed(1)}× faster than lsyncd; raw AMQP in the same run (p50 ${fmtMs(rawP50)}) is ${rawFactor.toFixed(1)}× faster than lsyncd, so ${LSYNCD_GOAL_FACTOR}× is ${reach}`;
}

/** GWSYNC_BENCH_B1_VIA=rest|library runs one way only; by default both, REST first. */
function vias(): Via[] {
  const v = process.env.GWSYNC_BENCH_B1_VIA;
  if (v === undefined || v === "") return ["rest", "library"];
  if (v === "rest" || v === "library") return [v];
  throw new Error(`GWSYNC_BENCH_B1_VIA must be rest or library, got ${v}`);
}

const VIA_LABEL: Record<Via, string> = {
  rest: "REST POST from another process",
  library: "deployApi() in process",
};

export async function b1Latency(ctx: BenchContext): Promise<BenchOutcome> {
  const n = scaled("B1", FULL_UPDATES, 20);
  const warmup = Math.min(50, Math.ceil(n / 10));
  const rows: BenchRow[] = [];
  const modes: Record<string, ModeResult> = {};
  for (const via of vias()) {
    for (const inline of [false, true]) {
      const r = await measureMode(ctx, n, warmup, inline, via);
      const label = `${inline ? "inline artifact (publish_directly_to_gateway)" : "fetched from the data API (default)"}, ${VIA_LABEL[via]}`;
      modes[`${inline ? "inline" : "fetch"}-${via}`] = r;
      rows.push(
        {
          id: "B1",
          what: `publish → deployed on ${GATEWAYS} gateways, p50 (${n} × 5 KB), ${label}`,
          gwsync: fmtMs(r.gw.p50),
          baseline: `${fmtMs(r.raw.p50)} raw`,
          ratio: r.gw.p50 / r.raw.p50,
          goal: `≤ ${P50_GOAL_RATIO}× raw`,
          met: r.gw.p50 <= P50_GOAL_RATIO * r.raw.p50,
          note: `the ${via === "rest" ? "REST call" : "deployApi() call"} itself (validation + commit${via === "rest" ? " + HTTP" : ""}) took p50 ${fmtMs(r.call.p50)}, p99 ${fmtMs(r.call.p99)} of it`,
        },
        {
          id: "B1",
          what: `publish → deployed on ${GATEWAYS} gateways, p99, ${label}`,
          gwsync: fmtMs(r.gw.p99),
          baseline: `${fmtMs(r.raw.p99)} raw`,
          ratio: r.gw.p99 / r.raw.p99,
          goal: `≤ ${P99_RATIO_GOAL}× raw`,
          met: r.gw.p99 <= P99_RATIO_GOAL * r.raw.p99,
        },
      );
    }
  }
  const first = Object.values(modes)[0]!;
  const gw = first.gw;
  const bodies = first.bodies;
  // The transport's own ceiling in this run: raw confirm-publish → 4 consumers, the default mode's.
  const raw = first.raw;
  const root = mkdtempSync(join(tmpdir(), "gwsync-bench-lsyncd-"));
  let lsyncd: ReturnType<typeof summarize> | undefined;
  try {
    if (process.env.GWSYNC_BENCH_B1_LSYNCD === "0") {
      ctx.log("B1: lsyncd baseline skipped (GWSYNC_BENCH_B1_LSYNCD=0)");
    } else if (lsyncdInstalled()) {
      ctx.log(`B1: lsyncd (delay 0, rsync --checksum), ${bodies.length} updates`);
      // One failing baseline must not throw away the rows measured above: it becomes a row of its own.
      try {
        lsyncd = summarize(await measureLsyncd(root, bodies, GATEWAYS));
        rows.push({
          id: "B1",
          what: "vs lsyncd (delay 0, rsync --checksum) → 4 folders, p50",
          gwsync: fmtMs(gw.p50),
          baseline: `${fmtMs(lsyncd.p50)} lsyncd`,
          ratio: gw.p50 / lsyncd.p50,
          goal: `≥ ${LSYNCD_GOAL_FACTOR}× faster`,
          met: lsyncd.p50 >= LSYNCD_GOAL_FACTOR * gw.p50,
          note: lsyncdCeiling(lsyncd.p50, raw.p50, gw.p50),
        });
      } catch (err) {
        rows.push({
          id: "B1",
          what: "vs lsyncd (delay 0, rsync --checksum) → 4 folders, p50",
          gwsync: fmtMs(gw.p50),
          baseline: "failed",
          goal: `≥ ${LSYNCD_GOAL_FACTOR}× faster`,
          met: false,
          note: `the lsyncd baseline failed: ${(err as Error).message}`,
        });
      }
    } else {
      rows.push({
        id: "B1",
        what: "vs lsyncd (delay 0) → 4 folders, p50",
        gwsync: fmtMs(gw.p50),
        baseline: "not run",
        goal: `≥ ${LSYNCD_GOAL_FACTOR}× faster`,
        note: `lsyncd not installed (apt-get install lsyncd): ${LSYNCD} is missing, so this baseline was not measured`,
      });
    }
    return {
      rows,
      details: {
        updates: n,
        warmup,
        ...Object.fromEntries(
          Object.entries(modes).map(([k, m]) => [
            k,
            { gwsync: m.gw, raw: m.raw, publishCall: m.call, hops: m.breakdown, clockOffsets: m.offsets },
          ]),
        ),
        lsyncd,
      },
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
