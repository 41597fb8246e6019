/**
 * Issue 19, B4: which of the ways gwsync's WSO2-wire phase differs from B4's raw baseline costs the
 * broker or the consumers more. The raw phase of B4 (15,000 token revocations confirm-published → 4
 * consumer processes that keep them in a Map), varied one factor at a time:
 *
 * - `plain`: as B4's raw baseline (persistent, messageId and timestamp), all 15,000 in flight at once;
 * - `props`: with the properties gwsync's publisher gives a WSO2-wire revocation (content type,
 *   content encoding, the origin and hops headers; src/publisher/outbox-dispatcher.ts);
 * - `paced`: in groups of 500 every 60 ms, as emitMany() commits them (B4: calls of 500);
 * - `rounds4`: in rounds of 256 with at most 4 rounds unconfirmed, as the outbox dispatcher sends them
 *   (DEFAULT_OUTBOX_BATCH, MAX_ROUNDS_IN_FLIGHT);
 * - with `qargs`: every variant again on queues declared with a gateway queue's arguments
 *   (x-expires, x-max-length, x-queue-type: src/amqp/topology.ts);
 * - with `journal`: consumers that append each event to a file and fsync it before each ack (a
 *   gateway's revocation journal does; src/gateway/runtime/journal.ts);
 * - with `burn=<µs>`: consumers that keep the CPU busy that much longer per event (a gateway spends
 *   more CPU per event than the raw consumer: what that costs the broker and the rate).
 *
 * Each line: the rate from the first publish to the last consumer's last event, and the CPU per event
 * of the broker (less its rate over 1.5 s just before) and of the 4 consumers, from /proc.
 *
 *   node --import tsx bench/b4-raw-variants.ts [qargs] [journal] [burn=<µs>]
 */
import { randomUUID } from "node:crypto";
import { DEFAULT_QUEUE_EXPIRES_MS, DEFAULT_QUEUE_MAX_LENGTH } from "../src/config/defaults.js";
import { encodeTokenRevocation } from "../src/events/encode.js";
import { HEADER_HOPS, HEADER_ORIGIN } from "../src/events/topics.js";
import { DEFAULT_OUTBOX_BATCH, MAX_ROUNDS_IN_FLIGHT } from "../src/publisher/outbox-dispatcher.js";
import { cpuMs, listenerPid } from "./lib/broker-wire.js";
import { nowMs } from "./lib/clock.js";
import { BENCH_BROKER_PORT, BenchWorld } from "./lib/world.js";

const N = 15_000;
const ROUTING_KEY = "raw-b4-variants";
const PACE_EVERY = 500;
const PACE_MS = 60;
const IDLE_SAMPLE_MS = 1500;
const DONE_TIMEOUT_MS = 300_000;

const args = new Set(process.argv.slice(2));
const qargs = args.has("qargs");
const journal = args.has("journal");
const burnArg = [...args].find((a) => a.startsWith("burn="));
const burnUs = burnArg === undefined ? 0 : Number(burnArg.slice("burn=".length));
if (!Number.isFinite(burnUs) || burnUs < 0 || burnUs > 10_000)
  throw new Error(`burn=<µs> from 0 to 10000, got ${burnArg}`);

type Props = () => Record<string, unknown>;
const plain: Props = () => ({ timestamp: Date.now() });
const gwsyncProps: Props = () => ({
  timestamp: Date.now(),
  contentType: "text/plain",
  contentEncoding: "UTF-8",
  headers: { [HEADER_ORIGIN]: "local", [HEADER_HOPS]: 0 },
});

const world = new BenchWorld({});
try {
  const raws = await world.startRawConsumers(4, {
    routingKey: ROUTING_KEY,
    mode: "token",
    journal,
    burnUs,
    ...(qargs
      ? {
          queueArguments: {
            "x-expires": DEFAULT_QUEUE_EXPIRES_MS,
            "x-max-length": DEFAULT_QUEUE_MAX_LENGTH,
            "x-queue-type": "classic",
          },
        }
      : {}),
  });
  const brokerPid = listenerPid(BENCH_BROKER_PORT);
  const ch = await world.confirmChannel();
  const expiryTime = Date.now() + 3_600_000;
  const consumerPids = raws.map((r) => r.pid);

  const phase = async (name: string, props: Props, how: "all" | "paced" | "rounds") => {
    const bodies = Array.from({ length: N }, () =>
      encodeTokenRevocation({ revokedToken: randomUUID(), expiryTime, type: "JWT" }),
    );
    const i0 = cpuMs([brokerPid]);
    const it0 = nowMs();
    await new Promise((r) => setTimeout(r, IDLE_SAMPLE_MS));
    const idlePerMs = (cpuMs([brokerPid]) - i0) / (nowMs() - it0);
    const done = raws.map((c) => c.request({ type: "target", count: N }, "done", DONE_TIMEOUT_MS));
    const c0 = cpuMs(consumerPids);
    const b0 = cpuMs([brokerPid]);
    const t0 = nowMs();
    const all: Promise<void>[] = [];
    const inFlight = new Set<Promise<unknown>>();
    let round: Promise<void>[] = [];
    for (let i = 0; i < N; i++) {
      if (how === "paced" && i > 0 && i % PACE_EVERY === 0) await new Promise((r) => setTimeout(r, PACE_MS));
      if (how === "rounds" && i > 0 && i % DEFAULT_OUTBOX_BATCH === 0) {
        const r = Promise.all(round);
        round = [];
        inFlight.add(r);
        void r.then(() => inFlight.delete(r));
        if (inFlight.size >= MAX_ROUNDS_IN_FLIGHT) await Promise.race(inFlight);
      }
      const b = bodies[i]!;
      let ok = true;
      const confirmed = new Promise<void>((resolve, reject) => {
        ok = ch.publish(
          world.exchange,
          ROUTING_KEY,
          b.body,
          { persistent: true, messageId: b.eventId, ...props() },
          (err) => (err ? reject(err) : resolve()),
        );
      });
      all.push(confirmed);
      round.push(confirmed);
      if (!ok) await new Promise<void>((r) => ch.once("drain", () => r()));
    }
    await Promise.all(all);
    const ends = await Promise.all(done);
    const ms = Math.max(...ends.map((m, k) => raws[k]!.toParentClock(m.t as number))) - t0;
    const brokerUs = (1000 * (cpuMs([brokerPid]) - b0 - idlePerMs * (nowMs() - t0))) / N;
    const consumersUs = (1000 * (cpuMs(consumerPids) - c0)) / N;
    console.log(
      `${name.padEnd(8)} ${Math.round((N / ms) * 1000)
        .toLocaleString("en-US")
        .padStart(
          6,
        )}/s   broker ${Math.round(brokerUs)} µs/event   4 consumers ${Math.round(consumersUs)} µs/event`,
    );
  };

  console.log(
    `B4's raw phase varied (${N.toLocaleString("en-US")} events, 4 consumers${qargs ? ", gateway queue arguments" : ""}${journal ? ", journal fsynced before each ack" : ""}${burnUs > 0 ? `, ${burnUs} µs more CPU per event in each consumer` : ""}); load ${(
      await import("node:os")
    )
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
  for (let rep = 0; rep < 2; rep++) {
    await phase("plain", plain, "all");
    await phase("props", gwsyncProps, "all");
    await phase("paced", plain, "paced");
    await phase("rounds4", plain, "rounds");
  }
} finally {
  await world.close();
}
