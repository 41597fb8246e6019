/**
 * The B1 raw baseline alone (issue 19): confirm-publish of a 5 KB body → 4 raw consumer processes
 * that write it temp + fsync + rename and ack, with no gwsync process running, measured exactly as
 * B1 measures its raw rows. `node --import tsx bench/raw-only.ts [updates] [gwsync-idle]`: with
 * "idle", a B1 world's publisher and 4 gateways are started first and left idle, to tell their mere
 * presence from the interleaving.
 */
import { synapseApi } from "../test/harness/cluster.js";
import { Arrivals } from "./lib/arrivals.js";
import { nowMs } from "./lib/clock.js";
import { fmtMs, summarize } from "./lib/stats.js";
import { BenchWorld, confirmPublish } from "./lib/world.js";

const n = Number(process.argv[2] ?? 300);
const withIdle = process.argv[3] === "idle";
const world = new BenchWorld({});
try {
  if (withIdle) {
    await world.startPublisherProcess();
    await world.startGateways(4, { reportEach: true });
  }
  const raws = await world.startRawConsumers(4, { routingKey: "raw-only", mode: "file", reportEach: true });
  for (const c of raws) await c.measureClockOffset();
  const ch = await world.confirmChannel();
  const arrivals = new Arrivals(raws, "written", (m) => m.id as string | undefined);
  const lat: number[] = [];
  for (let i = 0; i < n + 30; i++) {
    const xml = synapseApi({ name: "BenchLatency", revision: i + 1, size: 5000 });
    const id = `${world.id}-raw-${i}`;
    const done = arrivals.wait(id, 30_000);
    const t0 = nowMs();
    const confirmed = confirmPublish(ch, world.exchange, "raw-only", Buffer.from(xml), {
      messageId: id,
      headers: { "x-file": "admin--BenchLatency_v1.0.0.xml" },
    });
    const t1 = await done;
    await confirmed;
    if (i >= 30) lat.push(t1 - t0);
    await new Promise((r) => setTimeout(r, 25));
  }
  arrivals.close();
  const s = summarize(lat);
  process.stdout.write(
    `raw only${withIdle ? " (publisher + 4 gateways idle)" : ""}: ${n} updates p50 ${fmtMs(s.p50)} p99 ${fmtMs(s.p99)}\n`,
  );
} finally {
  await world.close();
}
