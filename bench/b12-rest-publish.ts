/**
 * B12: the REST publish call alone, as a user sees it (issue 19: p50 ≤ 1.5 ms, p99 ≤ 5 ms, fsync
 * before the answer kept). The publisher runs in a process of its own (`bench/lib/publisher-proc.ts`,
 * connected to the broker, its outbox dispatcher announcing each commit), the client is this process
 * (node:http, one kept-alive connection), 5 KB synapse APIs, sequential. Its floor, in the same run and
 * interleaved call by call: `bench/lib/floor-proc.ts`, a node:http server in its own process that
 * checks Basic auth, writes the body in one durable SQLite transaction (WAL, synchronous=FULL) on the
 * same disk, and answers — the least the job needs. The publisher's hops (src/hops.ts) break each
 * call down: received (client → handler entered), validated, committed, answered.
 *
 * GWSYNC_BENCH_B12_GATEWAYS=4 also runs 4 gateway processes and waits, after each call, until all of
 * them deployed it (their fetches and reports then run on the publisher's event loop between calls).
 */
import { createHash } from "node:crypto";
import { synapseApi } from "../test/harness/cluster.js";
import { HopRecorder, restPoster } from "./b1-latency.js";
import { Arrivals } from "./lib/arrivals.js";
import { type BenchChild, readProcCpuMs, spawnChild } from "./lib/children.js";
import { nowMs } from "./lib/clock.js";
import type { BenchContext, BenchOutcome } from "./lib/report.js";
import { scaled } from "./lib/scale.js";
import { API_SIZE_BYTES } from "./lib/seed.js";
import { fmtMs, summarize } from "./lib/stats.js";
import { BenchWorld, LABEL } from "./lib/world.js";

const FULL_CALLS = 1000;
const P50_GOAL_MS = 1.5;
const P99_GOAL_MS = 5;
const API_NAME = "B12Api";
const PER_UPDATE_TIMEOUT_MS = 60_000;

function gatewayCount(): number {
  const raw = process.env.GWSYNC_BENCH_B12_GATEWAYS;
  const n = raw === undefined || raw === "" ? 0 : Number(raw);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new Error(`GWSYNC_BENCH_B12_GATEWAYS must be 0 or more, got ${raw}`);
  return n;
}

export async function b12RestPublish(ctx: BenchContext): Promise<BenchOutcome> {
  const n = scaled("B12", FULL_CALLS, 50);
  const warmup = Math.min(100, Math.ceil(n / 10));
  const gateways = gatewayCount();
  const world = new BenchWorld();
  try {
    const { url, child: pub } = await world.startPublisherProcess();
    const floor = await spawnChild("floor", "floor-proc", []);
    world.children.set("floor", floor);
    const floorReady = await floor.request(
      { type: "start", dir: world.root, authorization: world.authorization },
      "ready",
    );
    const gws = gateways > 0 ? await world.startGateways(gateways, { reportEach: true }) : [];
    const arrivals =
      gateways > 0 ? new Arrivals(gws, "applied", (m) => m.sha256 as string | undefined) : undefined;
    await pub.measureClockOffset();
    const hops = await HopRecorder.start(pub, []);
    const headers = { authorization: world.authorization, "content-type": "application/xml" };
    const answer = (status: number, text: string) => {
      const body = JSON.parse(text) as { sha256?: string };
      if (status < 200 || status > 299 || typeof body.sha256 !== "string") {
        throw new Error(`POST answered ${status}: ${text.slice(0, 300)}`);
      }
      return body.sha256;
    };
    const publish = restPoster(`${url}/api/v1/artifacts?label=${encodeURIComponent(LABEL)}`, headers, answer);
    const toFloor = restPoster(`${floorReady.httpUrl as string}/bodies`, headers, answer);
    const cpu = (c: BenchChild) => readProcCpuMs(c.pid);
    let cpu0 = { pub: 0, floor: 0 };
    const gw: number[] = [];
    const fl: number[] = [];
    const windows: [number, number][] = [];
    ctx.log(
      `B12: ${warmup} warm-up + ${n} sequential REST publishes of a 5 KB API, floor interleaved${gateways ? `, ${gateways} gateways` : ""}`,
    );
    for (let i = 0; i < warmup + n; i++) {
      if (i === warmup) cpu0 = { pub: cpu(pub), floor: cpu(floor) };
      const xml = synapseApi({ name: API_NAME, revision: i + 1, size: API_SIZE_BYTES });
      const f0 = nowMs();
      const fsha = await toFloor(xml);
      const f1 = nowMs();
      if (fsha !== createHash("sha256").update(xml).digest("hex"))
        throw new Error("the floor answered another body's sha256");
      const g0 = nowMs();
      const sha = await publish(xml);
      const g1 = nowMs();
      if (arrivals) await arrivals.wait(sha, PER_UPDATE_TIMEOUT_MS);
      if (i >= warmup) {
        gw.push(g1 - g0);
        fl.push(f1 - f0);
        windows.push([g0, g1]);
      }
    }
    arrivals?.close();
    const cpuPub = (cpu(pub) - cpu0.pub) / n;
    const cpuFloor = (cpu(floor) - cpu0.floor) / n;
    const g = summarize(gw);
    const f = summarize(fl);
    const breakdown = await hops.breakdown(windows);
    ctx.log(
      `B12: REST publish p50 / p99 ${fmtMs(g.p50)} / ${fmtMs(g.p99)}; floor ${fmtMs(f.p50)} / ${fmtMs(f.p99)}`,
    );
    ctx.log(
      `B12: CPU per call: publisher ${fmtMs(cpuPub)}, floor ${fmtMs(cpuFloor)} (from /proc, 10 ms ticks)`,
    );
    ctx.log("B12: publisher hops, ms after the call began (p50 / p99):");
    for (const [name, st] of Object.entries(breakdown))
      ctx.log(`  ${name.padEnd(22)} ${fmtMs(st.p50)} / ${fmtMs(st.p99)}`);
    const what = `REST publish of a 5 KB API (${n} sequential, publisher in its own process${gateways ? `, ${gateways} gateways` : ""})`;
    return {
      rows: [
        {
          id: "B12",
          what: `${what}, p50`,
          gwsync: fmtMs(g.p50),
          baseline: `${fmtMs(f.p50)} floor`,
          ratio: g.p50 / f.p50,
          goal: `≤ ${P50_GOAL_MS} ms`,
          met: g.p50 <= P50_GOAL_MS,
          note: `hops p50: received ${fmtMs(breakdown["publisher.received"]?.p50 ?? Number.NaN)}, validated ${fmtMs(breakdown["publisher.validated"]?.p50 ?? Number.NaN)}, committed ${fmtMs(breakdown["publisher.committed"]?.p50 ?? Number.NaN)}, answered ${fmtMs(breakdown["publisher.answered"]?.p50 ?? Number.NaN)}; CPU per call publisher ${fmtMs(cpuPub)}, floor ${fmtMs(cpuFloor)}`,
        },
        {
          id: "B12",
          what: `${what}, p99`,
          gwsync: fmtMs(g.p99),
          baseline: `${fmtMs(f.p99)} floor`,
          ratio: g.p99 / f.p99,
          goal: `≤ ${P99_GOAL_MS} ms`,
          met: g.p99 <= P99_GOAL_MS,
        },
      ],
      details: {
        calls: n,
        warmup,
        gateways,
        gwsync: g,
        floor: f,
        hops: breakdown,
        cpuPerCallMs: { publisher: cpuPub, floor: cpuFloor },
      },
    };
  } finally {
    await world.close();
  }
}
