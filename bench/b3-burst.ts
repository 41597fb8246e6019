/**
 * B3: a burst of 10,000 updates (1,000 APIs × 10 revisions, round-robin) published as fast as the
 * plugin hook takes them → all 4 gateway processes converged on the last revision of every API.
 * Figure: updates per second, from the first deployApi call to the last gateway's last deploy
 * (coalescing several updates of one API is allowed and counts). Baseline in the same run: raw
 * amqplib confirm-publish of 10,000 × 5 KB → 4 consumer processes writing each file atomically.
 */
import { setImmediate as tick } from "node:timers/promises";
import { synapseApi } from "../test/harness/cluster.js";
import { nowMs } from "./lib/clock.js";
import type { BenchContext, BenchOutcome } from "./lib/report.js";
import { scaled } from "./lib/scale.js";
import { API_SIZE_BYTES, apiName, drainOutbox } from "./lib/seed.js";
import { fmtMs, fmtRate } from "./lib/stats.js";
import { BenchWorld, confirmPublishAll, LABEL } from "./lib/world.js";

const FULL_UPDATES = 10_000;
const UPDATES_PER_API = 10;
const GATEWAYS = 4;
const GOAL_RATIO = 0.7;
const YIELD_EVERY = 100;
const CONVERGE_TIMEOUT_MS = 600_000;
const RAW_KEY = "raw-b3";

export async function b3Burst(ctx: BenchContext): Promise<BenchOutcome> {
  const n = scaled("B3", FULL_UPDATES, 100);
  const apis = Math.max(1, Math.round(n / UPDATES_PER_API));
  const rounds = Math.ceil(n / apis);
  const world = new BenchWorld();
  try {
    const svc = await world.startPublisher();
    const gws = await world.startGateways(GATEWAYS);
    const raws = await world.startRawConsumers(GATEWAYS, { routingKey: RAW_KEY, mode: "file" });
    for (const c of [...gws, ...raws]) await c.measureClockOffset();
    // Bodies built before the clock starts: neither side pays for making the workload.
    const xml: string[] = [];
    for (let i = 0; i < n; i++)
      xml.push(
        synapseApi({
          name: apiName("Burst", i % apis),
          revision: Math.floor(i / apis) + 1,
          size: API_SIZE_BYTES,
        }),
      );

    const rawMessages = xml.map((x, i) => ({
      body: Buffer.from(x),
      messageId: `${world.id}-${i}`,
      headers: { "x-file": `${apiName("Burst", i % apis)}.xml` },
    }));
    const rawRun = async (run: number) => {
      ctx.log(`B3: raw baseline run ${run}, ${n} confirm-publishes → ${GATEWAYS} consumers`);
      const rawDone = raws.map((c) => c.request({ type: "target", count: n }, "done", CONVERGE_TIMEOUT_MS));
      const r0 = nowMs();
      await confirmPublishAll(await world.confirmChannel(), world.exchange, RAW_KEY, rawMessages);
      const confirmedMs = nowMs() - r0;
      const end = Math.max(
        ...(await Promise.all(rawDone)).map((m, i) => raws[i]!.toParentClock(m.t as number)),
      );
      return { ms: end - r0, confirmedMs };
    };
    // ABA order (raw, gwsync, raw): load on this shared machine drifts; the mean of the raw runs cancels it.
    const rawA = await rawRun(1);

    ctx.log(`B3: gwsync, ${n} deployApi calls (${apis} APIs × ${rounds}) → ${GATEWAYS} gateways`);
    const expected = new Map<string, string>();
    const g0 = nowMs();
    for (let i = 0; i < n; i++) {
      const r = await svc.publisher.deployApi(xml[i]!, [LABEL]);
      expected.set(r.apiId, r.sha256);
      if ((i + 1) % YIELD_EVERY === 0) await tick();
    }
    const publishedMs = nowMs() - g0;
    const converged = gws.map((g) => g.waitFor("converged", CONVERGE_TIMEOUT_MS));
    for (const g of gws) g.send({ type: "expect", entries: [...expected] });
    await drainOutbox(svc);
    const announcedMs = nowMs() - g0;
    const conv = await Promise.all(converged);
    const gwEnd = Math.max(...conv.map((m, i) => gws[i]!.toParentClock(m.t as number)));
    const gwMs = gwEnd - g0;
    const rawB = await rawRun(2);
    const rawMs = (rawA.ms + rawB.ms) / 2;
    const rawConfirmedMs = (rawA.confirmedMs + rawB.confirmedMs) / 2;
    const gwRate = n / (gwMs / 1000);
    const rawRate = n / (rawMs / 1000);
    const deploysPerGateway = conv.map((m) => m.changes as number);
    return {
      rows: [
        {
          id: "B3",
          what: `burst ${n.toLocaleString("en-US")} updates → ${GATEWAYS} gateways converged`,
          gwsync: fmtRate(gwRate),
          baseline: `${fmtRate(rawRate)} raw`,
          ratio: gwRate / rawRate,
          goal: `≥ ${GOAL_RATIO}× raw`,
          met: gwRate >= GOAL_RATIO * rawRate,
          note: `gwsync: deployApi loop ${fmtMs(publishedMs)}, outbox drained at ${fmtMs(announcedMs)}, converged at ${fmtMs(gwMs)}; file writes per gateway ${deploysPerGateway.join("/")} (coalesced from ${n}); raw (mean of runs before and after): confirms at ${fmtMs(rawConfirmedMs)}, all written at ${fmtMs(rawA.ms)} / ${fmtMs(rawB.ms)}`,
        },
      ],
      details: {
        updates: n,
        apis,
        gwsyncMs: gwMs,
        publishedMs,
        announcedMs,
        rawMs,
        rawRuns: [rawA, rawB],
        gwRate,
        rawRate,
        deploysPerGateway,
      },
    };
  } finally {
    await world.close();
  }
}
