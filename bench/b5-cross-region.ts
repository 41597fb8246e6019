/**
 * B5: region A publish → file deployed on all of region B's 4 gateway processes, through two brokers
 * (5672 for A, 5673 for B), A's relay and B's publisher (which stores the relayed artifact before
 * announcing it in B); p50/p99 over sequential updates. Baseline in the same run, interleaved update
 * by update: the same-region path of B1 (a publish in region B → the same 4 gateways). Region B's
 * broker is started here when it is not running (and stopped at the end only then).
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deadLetterQueueName, ingressQueueName, LANES, relayQueueName } from "../src/amqp/topology.js";
import { loadConfig } from "../src/config/load-config.js";
import { Relay } from "../src/relay/relay.js";
import { synapseApi } from "../test/harness/cluster.js";
import { portOpen } from "../test/harness/rabbit-node.js";
import { SecondBroker } from "../test/harness/second-broker.js";
import { Arrivals } from "./lib/arrivals.js";
import { nowMs } from "./lib/clock.js";
import type { BenchContext, BenchOutcome } from "./lib/report.js";
import { scaled } from "./lib/scale.js";
import { API_SIZE_BYTES } from "./lib/seed.js";
import { fmtMs, summarize } from "./lib/stats.js";
import { BENCH_BROKER_PORT, BenchWorld, LABEL } from "./lib/world.js";

/** Fewer than B1's 1,000: each update crosses twice as many hops and is paired with a local one. */
const FULL_UPDATES = 300;
const GATEWAYS = 4;
const P99_GOAL_MS = 15;
const REGION_B_PORT = 5673;
const PER_UPDATE_TIMEOUT_MS = 30_000;

function jndiFile(port: number): string {
  return (
    `connectionfactory.TopicConnectionFactory = amqp://guest:guest@clientid/?brokerlist='tcp://127.0.0.1:${port}'\n` +
    "topic.notification = notification\ntopic.tokenRevocation = tokenRevocation\n" +
    "topic.keyManager = keyManager\ntopic.asyncWebhooksData = asyncWebhooksData\n"
  );
}

interface ModeResult {
  cross: ReturnType<typeof summarize>;
  local: ReturnType<typeof summarize>;
  relayed: ReturnType<typeof summarize>;
  wasRunning: boolean;
}

export async function b5CrossRegion(ctx: BenchContext): Promise<BenchOutcome> {
  const n = scaled("B5", FULL_UPDATES, 20);
  const warmup = Math.min(30, Math.ceil(n / 10));
  const rows = [];
  const details: Record<string, unknown> = { updates: n, warmup };
  for (const inline of [false, true]) {
    const r = await measureMode(ctx, n, warmup, inline);
    const label = inline ? "inline artifact (publish_directly_to_gateway)" : "fetched (default)";
    details[inline ? "inline" : "fetch"] = r;
    rows.push(
      {
        id: "B5",
        what: `region A → region B's ${GATEWAYS} gateways, p50 (${n} × 5 KB), ${label}`,
        gwsync: fmtMs(r.cross.p50),
        baseline: `${fmtMs(r.local.p50)} same-region`,
        ratio: r.cross.p50 / r.local.p50,
        goal: "—",
        note: `A's relay had the change confirmed by B's broker at p50 ${fmtMs(r.relayed.p50)} (p99 ${fmtMs(r.relayed.p99)}); publishers of both regions and A's relay run in the bench process, B's gateways are 4 processes`,
      },
      {
        id: "B5",
        what: `region A → region B's ${GATEWAYS} gateways, p99, ${label}`,
        gwsync: fmtMs(r.cross.p99),
        baseline: `${fmtMs(r.local.p99)} same-region`,
        ratio: r.cross.p99 / r.local.p99,
        goal: `≤ ${P99_GOAL_MS} ms`,
        met: r.cross.p99 <= P99_GOAL_MS,
      },
    );
  }
  const pull = await measurePull(ctx, n, warmup);
  details.pull = pull;
  const mode = `pull agreement, poll ${PULL_POLL_SEC} s (no AMQP between the regions)`;
  rows.push(
    {
      id: "B5",
      what: `region A → region B's ${GATEWAYS} gateways, p50 (${n} × 5 KB), ${mode}`,
      gwsync: fmtMs(pull.cross.p50),
      baseline: `${fmtMs(pull.local.p50)} same-region`,
      ratio: pull.cross.p50 / pull.local.p50,
      goal: "—",
      note: `B's puller had committed the change at p50 ${fmtMs(pull.relayed.p50)} (p99 ${fmtMs(pull.relayed.p99)}); a pull waits up to one poll interval, so the figure is about half of it plus the pull; both publishers run in the bench process, B's gateways are 4 processes`,
    },
    {
      id: "B5",
      what: `region A → region B's ${GATEWAYS} gateways, p99, ${mode}`,
      gwsync: fmtMs(pull.cross.p99),
      baseline: `${fmtMs(pull.local.p99)} same-region`,
      ratio: pull.cross.p99 / pull.local.p99,
      goal: "—",
    },
  );
  return { rows, details };
}

/** The clone's poll interval in the pull row (the agreement's minimum is 0.05 s). */
const PULL_POLL_SEC = 0.1;
/** A label of region B's own in the pull row (the agreement's label belongs to the master). */
const LOCAL_LABEL = "Region B";

/**
 * The pull row: region B is a clone of region A by a replication agreement (HTTPS only, no relay, no
 * jndi_dir); an update in A reaches B's gateways when B's next pull stores it and B's outbox announces
 * it. Same-region baseline interleaved as in the relay rows.
 */
async function measurePull(ctx: BenchContext, n: number, warmup: number): Promise<ModeResult> {
  const id = `bench-${randomBytes(4).toString("hex")}`;
  const broker = new SecondBroker({ port: REGION_B_PORT });
  const wasRunning = await portOpen(REGION_B_PORT);
  await broker.start();
  const a = new BenchWorld({ id, region: `${id}-a` });
  const b = new BenchWorld({ id, region: `${id}-b`, brokerUrl: broker.url() });
  try {
    const svcA = await a.startPublisher();
    const svcB = await b.startPublisher();
    // The replicated label belongs to the master; B's gateways also serve a label of B's own, where
    // the same-region baseline is published.
    const gws = await b.startGateways(GATEWAYS, { reportEach: true, labels: [LABEL, LOCAL_LABEL] });
    for (const g of gws) await g.measureClockOffset();
    const res = await fetch(`${svcB.httpUrl}/api/v1/replication/agreements`, {
      method: "POST",
      headers: { authorization: b.authorization, "content-type": "application/json" },
      body: JSON.stringify({
        master: { url: svcA.httpUrl, ...a.httpCredentials },
        labels: [LABEL],
        pollInterval: PULL_POLL_SEC,
      }),
    });
    const created = (await res.json()) as { identifier?: string; message?: string };
    if (res.status !== 201 || created.identifier === undefined)
      throw new Error(`B5 pull: the agreement was refused (${res.status}): ${created.message}`);
    const agreement = created.identifier;
    let committedAt = 0;
    let waitingFor = -1;
    svcB.replication.events.on("change", (_id, c) => {
      if (c.seq === waitingFor && c.outcome === "applied") committedAt = nowMs();
    });
    const arrivals = new Arrivals(gws, "applied", (m) => m.sha256 as string | undefined);
    const cross: number[] = [];
    const pulled: number[] = [];
    const local: number[] = [];
    ctx.log(`B5 pull: ${warmup} warm-up + ${n} sequential updates, poll ${PULL_POLL_SEC} s, same-region interleaved`);
    for (let i = 0; i < warmup + n; i++) {
      committedAt = 0;
      const c0 = nowMs();
      const rc = await svcA.publisher.deployApi(
        synapseApi({ name: "Pulled", revision: i + 1, size: API_SIZE_BYTES }),
        [LABEL],
      );
      waitingFor = rc.seq;
      const c1 = await arrivals.wait(rc.sha256, PER_UPDATE_TIMEOUT_MS);
      // The baseline: a publish of B's own, on a label B owns, to the same gateways.
      const l0 = nowMs();
      const rl = await svcB.publisher.deployApi(
        synapseApi({ name: "SameRegion", revision: i + 1, size: API_SIZE_BYTES }),
        [LOCAL_LABEL],
      );
      const l1 = await arrivals.wait(rl.sha256, PER_UPDATE_TIMEOUT_MS);
      if (i >= warmup) {
        cross.push(c1 - c0);
        if (committedAt > 0) pulled.push(committedAt - c0);
        local.push(l1 - l0);
      }
      if ((i + 1) % 100 === 0) ctx.log(`B5 pull: ${i + 1}/${warmup + n}`);
    }
    arrivals.close();
    ctx.log(`B5 pull: agreement ${agreement}`);
    return { cross: summarize(cross), local: summarize(local), relayed: summarize(pulled), wasRunning };
  } finally {
    await b.close();
    await a.close();
    await broker.stop();
  }
}

async function measureMode(
  ctx: BenchContext,
  n: number,
  warmup: number,
  inline: boolean,
): Promise<ModeResult> {
  const id = `bench-${randomBytes(4).toString("hex")}`;
  const regionA = `${id}-a`;
  const regionB = `${id}-b`;
  const jndiDir = mkdtempSync(join(tmpdir(), "gwsync-bench-jndi-"));
  writeFileSync(join(jndiDir, `${regionA}.properties`), jndiFile(BENCH_BROKER_PORT));
  writeFileSync(join(jndiDir, `${regionB}.properties`), jndiFile(REGION_B_PORT));
  const broker = new SecondBroker({ port: REGION_B_PORT });
  ctx.log(`B5: region B's broker on ${REGION_B_PORT} (started here if not running)`);
  const wasRunning = await portOpen(REGION_B_PORT);
  await broker.start();
  const a = new BenchWorld({ id, region: regionA, jndiDir, inline });
  const b = new BenchWorld({ id, region: regionB, jndiDir, brokerUrl: broker.url(), inline });
  for (const lane of LANES) {
    const queue = relayQueueName(regionA, regionB, lane);
    a.queues.add(queue);
    a.queues.add(deadLetterQueueName(queue));
  }
  // Each region's publisher runs an ingress (its region is in the mesh).
  for (const [world, region] of [
    [a, regionA],
    [b, regionB],
  ] as const) {
    world.queues.add(ingressQueueName(region));
    world.queues.add(deadLetterQueueName(ingressQueueName(region)));
  }
  let relay: Relay | undefined;
  try {
    const svcA = await a.startPublisher();
    const svcB = await b.startPublisher();
    relay = new Relay({ config: loadConfig({ text: a.relayToml(), role: "relay", env: {} }).config });
    await relay.start();
    const gws = await b.startGateways(GATEWAYS, { reportEach: true });
    for (const g of gws) await g.measureClockOffset();
    const arrivals = new Arrivals(gws, "applied", (m) => m.sha256 as string | undefined);
    const cross: number[] = [];
    /** When A's relay had the change confirmed by B's broker (the "settled" of a forward). */
    const relayed: number[] = [];
    let settledAt = 0;
    relay.events.on("settled", (_region: string, _lane: string, decision: { kind: string }) => {
      if (decision.kind === "forward") settledAt = nowMs();
    });
    const local: number[] = [];
    ctx.log(`B5: ${warmup} warm-up + ${n} sequential updates, cross-region and same-region interleaved`);
    for (let i = 0; i < warmup + n; i++) {
      settledAt = 0;
      const c0 = nowMs();
      const rc = await svcA.publisher.deployApi(
        synapseApi({ name: "CrossRegion", revision: i + 1, size: API_SIZE_BYTES }),
        [LABEL],
      );
      const c1 = await arrivals.wait(rc.sha256, PER_UPDATE_TIMEOUT_MS);
      const l0 = nowMs();
      const rl = await svcB.publisher.deployApi(
        synapseApi({ name: "SameRegion", revision: i + 1, size: API_SIZE_BYTES }),
        [LABEL],
      );
      const l1 = await arrivals.wait(rl.sha256, PER_UPDATE_TIMEOUT_MS);
      if (i >= warmup) {
        cross.push(c1 - c0);
        if (settledAt > 0) relayed.push(settledAt - c0);
        local.push(l1 - l0);
      }
      if ((i + 1) % 100 === 0) ctx.log(`B5: ${i + 1}/${warmup + n}`);
    }
    arrivals.close();
    return { cross: summarize(cross), local: summarize(local), relayed: summarize(relayed), wasRunning };
  } finally {
    await relay?.close().catch(() => undefined);
    await b.close();
    await a.close();
    await broker.stop();
    rmSync(jndiDir, { recursive: true, force: true });
  }
}
