/**
 * B1: publish → file deployed on all of 4 gateway processes, 1,000 sequential 5 KB updates, p50/p99.
 * Baseline in the same run, interleaved update by update: raw amqplib confirm-publish of the same
 * 5 KB body → 4 consumer processes that write the file atomically and ack; lsyncd (delay 0) where
 * installed. Each process stamps its own "file is in place" time; the parent corrects clock offsets.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { synapseApi } from "../test/harness/cluster.js";
import { Arrivals } from "./lib/arrivals.js";
import { nowMs } from "./lib/clock.js";
import { LSYNCD, lsyncdInstalled, measureLsyncd } from "./lib/lsyncd.js";
import type { BenchContext, BenchOutcome, BenchRow } from "./lib/report.js";
import { scaled } from "./lib/scale.js";
import { fmtMs, summarize } from "./lib/stats.js";
import { BenchWorld, confirmPublish, LABEL } from "./lib/world.js";

const FULL_UPDATES = 1000;
const GATEWAYS = 4;
const API_SIZE_BYTES = 5000;
const P50_GOAL_RATIO = 1.5;
const P99_GOAL_MS = 10;
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
): Promise<ModeResult> {
  const world = new BenchWorld({ inline });
  try {
    const svc = await world.startPublisher();
    const gws = await world.startGateways(GATEWAYS, { reportEach: true });
    const raws = await world.startRawConsumers(GATEWAYS, {
      routingKey: RAW_KEY,
      mode: "file",
      reportEach: true,
    });
    const offsets = [];
    for (const c of [...gws, ...raws]) offsets.push({ name: c.name, ...(await c.measureClockOffset()) });
    const ch = await world.confirmChannel();
    const gwArrivals = new Arrivals(gws, "applied", (m) => m.sha256 as string | undefined);
    const rawArrivals = new Arrivals(raws, "written", (m) => m.id as string | undefined);
    const gwLat: number[] = [];
    const rawLat: number[] = [];
    /** How long deployApi itself (validate + one SQLite transaction) blocked the caller. */
    const callMs: number[] = [];
    const bodies: string[] = [];
    const mode = inline ? "inline" : "fetch";
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
      const res = await svc.publisher.deployApi(xml, [LABEL]);
      const called = nowMs() - g0;
      const g1 = await gwArrivals.wait(res.sha256, PER_UPDATE_TIMEOUT_MS);
      if (i >= warmup) {
        rawLat.push(r1 - r0);
        gwLat.push(g1 - g0);
        callMs.push(called);
      }
      if ((i + 1) % 200 === 0) ctx.log(`B1 (${mode}): ${i + 1}/${warmup + n}`);
    }
    gwArrivals.close();
    rawArrivals.close();
    return { gw: summarize(gwLat), raw: summarize(rawLat), call: summarize(callMs), bodies, offsets };
  } finally {
    await world.close();
  }
}

export async function b1Latency(ctx: BenchContext): Promise<BenchOutcome> {
  const n = scaled("B1", FULL_UPDATES, 20);
  const warmup = Math.min(50, Math.ceil(n / 10));
  const rows: BenchRow[] = [];
  const modes: Record<string, ModeResult> = {};
  for (const inline of [false, true]) {
    const r = await measureMode(ctx, n, warmup, inline);
    const label = inline
      ? "inline artifact (publish_directly_to_gateway)"
      : "fetched from the data API (default)";
    modes[inline ? "inline" : "fetch"] = r;
    rows.push(
      {
        id: "B1",
        what: `publish → deployed on ${GATEWAYS} gateways, p50 (${n} × 5 KB), ${label}`,
        gwsync: fmtMs(r.gw.p50),
        baseline: `${fmtMs(r.raw.p50)} raw`,
        ratio: r.gw.p50 / r.raw.p50,
        goal: `≤ ${P50_GOAL_RATIO}× raw`,
        met: r.gw.p50 <= P50_GOAL_RATIO * r.raw.p50,
        note: `deployApi() itself (validation + SQLite commit) took p50 ${fmtMs(r.call.p50)}, p99 ${fmtMs(r.call.p99)} of it`,
      },
      {
        id: "B1",
        what: `publish → deployed on ${GATEWAYS} gateways, p99, ${label}`,
        gwsync: fmtMs(r.gw.p99),
        baseline: `${fmtMs(r.raw.p99)} raw`,
        ratio: r.gw.p99 / r.raw.p99,
        goal: `≤ ${P99_GOAL_MS} ms`,
        met: r.gw.p99 <= P99_GOAL_MS,
      },
    );
  }
  const gw = modes.fetch!.gw;
  const bodies = modes.fetch!.bodies;
  const world = { root: mkdtempSync(join(tmpdir(), "gwsync-bench-lsyncd-")) };
  try {
    let lsyncd: ReturnType<typeof summarize> | undefined;
    if (lsyncdInstalled()) {
      ctx.log(`B1: lsyncd (delay 0), ${bodies.length} updates`);
      lsyncd = summarize(await measureLsyncd(world.root, bodies, GATEWAYS));
      rows.push({
        id: "B1",
        what: "vs lsyncd (delay 0) → 4 folders, p50",
        gwsync: fmtMs(gw.p50),
        baseline: `${fmtMs(lsyncd.p50)} lsyncd`,
        ratio: gw.p50 / lsyncd.p50,
        goal: `≥ ${LSYNCD_GOAL_FACTOR}× faster`,
        met: lsyncd.p50 >= LSYNCD_GOAL_FACTOR * gw.p50,
      });
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
        fetch: { gwsync: modes.fetch!.gw, raw: modes.fetch!.raw, deployApiCall: modes.fetch!.call },
        inline: { gwsync: modes.inline!.gw, raw: modes.inline!.raw, deployApiCall: modes.inline!.call },
        lsyncd,
        clockOffsets: { fetch: modes.fetch!.offsets, inline: modes.inline!.offsets },
      },
    };
  } finally {
    rmSync(world.root, { recursive: true, force: true });
  }
}
