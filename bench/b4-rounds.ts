/**
 * Issue 19, B4: gwsync's WSO2-wire phase alone (15,000 token revocations through emitMany() in calls of
 * 500 → 4 gateway processes), with the outbox dispatcher's rounds timed from the `gwsync:hop` channel
 * (the publisher runs in this process): how many rounds, how long each waited for its confirms, and
 * the CPU per event of the broker, the 4 gateways and this process. A round's confirm waits for the
 * message to be persisted or acknowledged in all 4 queues, so with MAX_ROUNDS_IN_FLIGHT rounds of 256
 * unconfirmed, its wait is what the queues hold ahead of it over the rate the gateways take it at.
 *
 * With `direct`, the same events are confirm-published to the gateways' exchange by a plain amqplib
 * channel of this process, all in flight at once as B4's raw baseline does, with the properties
 * gwsync's dispatcher gives them: the gateways' side alone, without gwsync's publisher.
 *
 *   node --import tsx bench/b4-rounds.ts [direct]
 */
import { randomUUID } from "node:crypto";
import { subscribe } from "node:diagnostics_channel";
import { loadavg } from "node:os";
import { setImmediate as tick } from "node:timers/promises";
import { toHubWire } from "../src/events/dialect.js";
import { encodeTokenRevocation } from "../src/events/encode.js";
import { HEADER_HOPS, HEADER_ORIGIN } from "../src/events/topics.js";
import { HOP_CHANNEL, type HopRecord } from "../src/hops.js";
import { cpuMs, listenerPid } from "./lib/broker-wire.js";
import { nowMs } from "./lib/clock.js";
import { drainOutbox } from "./lib/seed.js";
import { BENCH_BROKER_PORT, BenchWorld, confirmPublishAll } from "./lib/world.js";

const N = 15_000;
const EMIT_CALL = 500;
const DONE_TIMEOUT_MS = 600_000;
const direct = process.argv.includes("direct");

const world = new BenchWorld({ batchRuntimeEvents: 0 });
try {
  const svc = await world.startPublisher();
  const gws = await world.startGateways(4);
  const brokerPid = listenerPid(BENCH_BROKER_PORT);
  const hops: HopRecord[] = [];
  subscribe(HOP_CHANNEL, (m) => hops.push(m as HopRecord));
  const expiryTime = Date.now() + 3_600_000;
  const tokens = Array.from({ length: N }, () => randomUUID());
  console.log(
    `B4 gwsync phase alone${direct ? ", events published by a plain amqplib channel, not by gwsync's publisher" : ""}: ${N} revocations → 4 gateways; load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
  const done = gws.map((g) =>
    g.request({ type: "runtime-target", count: N }, "runtime-done", DONE_TIMEOUT_MS),
  );
  const gwPids = gws.map((g) => g.pid);
  const c0 = cpuMs(gwPids);
  const b0 = cpuMs([brokerPid]);
  const p0 = process.cpuUsage();
  const t0 = nowMs();
  if (direct) {
    const ch = await world.confirmChannel();
    const messages = tokens.map((revokedToken) => {
      const e = encodeTokenRevocation({ revokedToken, expiryTime, type: "JWT" });
      const wire = toHubWire("4.x", "tokenRevocation", e.body);
      return {
        body: wire.body,
        messageId: e.eventId,
        headers: { [HEADER_ORIGIN]: "local", [HEADER_HOPS]: 0, ...wire.headers },
      };
    });
    await confirmPublishAll(ch, world.exchange, "tokenRevocation", messages);
  }
  for (let i = 0; i < (direct ? 0 : N); i += EMIT_CALL) {
    await svc.publisher.emitMany(
      tokens.slice(i, i + EMIT_CALL).map((revokedToken) => ({
        stream: "tokenRevocation" as const,
        event: { revokedToken, expiryTime, type: "JWT" },
      })),
    );
    await tick();
  }
  const emitted = nowMs() - t0;
  await drainOutbox(svc);
  const drained = nowMs() - t0;
  const ends = await Promise.all(done);
  const applied = Math.max(...ends.map((m, i) => gws[i]!.toParentClock(m.t as number))) - t0;
  const p1 = process.cpuUsage(p0);
  const perEvent = (ms: number) => Math.round((1000 * ms) / N);
  console.log(
    `emitMany() loop ${emitted.toFixed(0)} ms, outbox drained at ${drained.toFixed(0)} ms, applied everywhere at ${applied.toFixed(0)} ms: ${Math.round((N / applied) * 1000)}/s`,
  );
  console.log(
    `CPU per event: broker ${perEvent(cpuMs([brokerPid]) - b0)} µs, 4 gateways ${perEvent(cpuMs(gwPids) - c0)} µs, this process (publisher) ${perEvent((p1.user + p1.system) / 1000)} µs`,
  );
  if (!direct) {
    const published = hops.filter((h) => h.hop === "outbox.published");
    const confirmed = hops.filter((h) => h.hop === "outbox.confirmed");
    // Rounds confirm in the order they were published (one channel, confirms in order).
    const waits = published
      .map((p, i) => (confirmed[i]?.t ?? Number.NaN) - p.t)
      .filter(Number.isFinite)
      .sort((a, b) => a - b);
    const q = (f: number) => waits[Math.floor(f * (waits.length - 1))]!.toFixed(1);
    console.log(
      `${published.length} rounds (${(N / published.length).toFixed(0)} events each); publish → confirmed, ms: p10 ${q(0.1)}, p50 ${q(0.5)}, p90 ${q(0.9)}, max ${q(1)}`,
    );
  }
} finally {
  await world.close();
}
