/**
 * Issue 20, "reconnect and catch-up that cannot stampede": many gateways (memory deployer, one AMQP
 * connection each, as in production) in this process, a publisher that admits only a few data-API
 * requests at once, and the broker restarted while changes are made. Every gateway reconnects and
 * catches up at once: the publisher refuses what is over its limit with 503 + Retry-After, the
 * gateways wait as told (no retry spent) and all end at exactly the store's revisions, and the
 * publishes made during the storm all answer.
 */
import assert from "node:assert/strict";
import { setImmediate as yieldToLoop } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import type { Gateway } from "../../src/gateway/gateway.js";
import { FAULT_BROKER_PORT, FaultBroker } from "../harness/fault-broker.js";
import { postgresEngine, type TestDatabase } from "../harness/store-engines.js";
import { truthFor } from "../harness/invariants.js";
import { CHANGED, waitFor } from "../harness/wait.js";
import { FaultWorld, PASSWORD, tinyApi, USER } from "./world.js";

/** 200 by default (the issue's "200+"); GWSYNC_STORM_GATEWAYS moves it for a quick or a bigger run. */
const GATEWAYS = Number(process.env.GWSYNC_STORM_GATEWAYS ?? "200");
const LIMIT = 4;
const LABEL = "S";
/** APIs of about 5 KB (the benchmarks' workload): a gateway's startup listing is about 500 KB. */
const APIS = 100;
const API_PAD = 5000;
/** Updates committed while the broker is down, on the first HOT_APIS APIs (events wait in every queue). */
const OUTAGE_UPDATES = 100;
const HOT_APIS = 20;
/** REST publishes at least, made while the gateways reconnect and catch up. */
const STORM_PUBLISHES = 40;
/** Gateways started together: the startup listing is the first storm. */
const START_BATCH = 100;
/** Bounds: a broker boot (~10 s here), reconnect backoff up to 10 s, and the storm itself. */
const STORM_TIMEOUT_MS = 240_000;
/** A publish that takes longer than this counts as failed (the storm must not stop publishes). */
const PUBLISH_TIMEOUT_MS = 30_000;
const AUTH = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}`;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

describe(`reconnect storm: ${GATEWAYS} gateways catch up at once from a publisher admitting ${LIMIT} data-API requests`, () => {
  const broker = new FaultBroker();
  const world = new FaultWorld(FAULT_BROKER_PORT);
  const gateways: Gateway[] = [];
  let db: TestDatabase | undefined;
  let busyWaits = 0;
  /** Data-API requests refused while the gateways started (their listings, 100 gateways at once). */
  let startupRefused = 0;
  /** Gateways allConverged has seen converged so far (progress lines). */
  let convergedCount = 0;
  let retries = 0;

  async function refused(): Promise<number> {
    const m = await world.publisher!.publisher.metrics.dataApiRequests.get();
    return m.values.find((v) => v.labels.outcome === "refused")?.value ?? 0;
  }

  /** Waits (on each gateway's own events) until every gateway holds exactly the store's revisions. */
  async function allConverged(timeoutMs: number): Promise<void> {
    const truth = await world.withTruth((s) => truthFor(s, [LABEL]));
    convergedCount = 0;
    for (const [i, gw] of gateways.entries()) {
      const exact = () =>
        gw.deployer.deployed().length === truth.size &&
        [...truth].every(([id, t]) => {
          const d = gw.deployer.get(id);
          return d?.revision === t.revision && d.sha256 === t.sha256;
        });
      await waitFor(gw.events, CHANGED, exact, `gateway g${i} to hold the store's ${truth.size} revisions`, timeoutMs);
      convergedCount++;
    }
  }

  before(async () => {
    await broker.start();
    // PostgreSQL: its reads are asynchronous, so data-API requests overlap as they do on a publisher
    // node of a shared database. (On SQLite every handler runs to its end in one turn of the event
    // loop and its reply is written at once: 200 gateways in one process never had 4 requests in
    // flight, 0 refused, even for their 500 KB startup listings.)
    db = await postgresEngine.create();
    world.database = db.config;
    // data_api_max_wait_ms = 0: no waiting for a slot, so the fleet meets the refusals (503 +
    // Retry-After) and the gateways' handling of them; with the default wait the queue absorbs this
    // storm (test/unit/data-api-admission.test.ts covers the queue).
    await world.startPublisher({
      heartbeatSec: 10,
      gwsyncExtra: `data_api_max_in_flight = ${LIMIT}\ndata_api_max_wait_ms = 0`,
    });
    const pub = world.publisher!.publisher;
    for (let i = 0; i < APIS; i++) await pub.deployApi(tinyApi(`Api${i}`, 0, API_PAD), [LABEL]);
    const t0 = Date.now();
    for (let i = 0; i < GATEWAYS; i += START_BATCH) {
      const batch = Array.from({ length: Math.min(START_BATCH, GATEWAYS - i) }, (_, j) =>
        world.makeGateway({
          name: `g${i + j}`,
          labels: [LABEL],
          saveLocally: false,
          // Production's default: 200 gateways share this one event loop, which a 2 s heartbeat
          // would not survive (the broker closed every connection, again and again).
          heartbeatSec: 10,
          retryMs: 100,
          maxRetries: 5,
          maxRetryDelayMs: 10_000,
        }),
      );
      for (const gw of batch) {
        gw.events.on("fetch-busy", () => busyWaits++);
        gw.events.on("fetch-retry", () => retries++);
        gateways.push(gw);
      }
      await Promise.all(batch.map((gw) => gw.start()));
    }
    // Connected: their queues exist, so the outage's events wait there for them.
    for (const gw of gateways) {
      await waitFor(gw.events, "broker", () => gw.brokerStatus.state === "connected", "a gateway to connect", STORM_TIMEOUT_MS);
    }
    await allConverged(STORM_TIMEOUT_MS);
    startupRefused = await refused();
    console.log(
      `startup: ${GATEWAYS} gateways loaded ${APIS} APIs in ${Date.now() - t0} ms; refused ${await refused()}, busy waits ${busyWaits}, retries ${retries}`,
    );
  });
  after(async () => {
    // 200 closes one after another would take minutes: close them together, then the world.
    await Promise.all(gateways.map((g) => g.close().catch(() => undefined)));
    world.gateways.clear();
    await world.close();
    await broker.destroy();
    await db?.drop();
  });

  test("the broker restarts after 100 changes: every gateway reconnects, catches up and converges; refusals > 0; every publish during the storm answers", async () => {
    const pub = world.publisher!.publisher;
    const url = world.publisher!.httpUrl!;
    await broker.stopApp();
    for (let n = 0; n < OUTAGE_UPDATES; n++) {
      await pub.deployApi(tinyApi(`Api${n % HOT_APIS}`, n + 1, API_PAD), [LABEL]);
      if (n % 25 === 24) await yieldToLoop();
    }
    const refusedBefore = await refused();
    const busyBefore = busyWaits;
    const retriesBefore = retries;
    await broker.startApp();
    const back = Date.now();
    const latencies: number[] = [];
    const failures: string[] = [];
    // Progress every 5 s (what a stuck storm was doing; nothing waits on it).
    const progress = setInterval(() => {
      void Promise.all([refused(), pub.store.outboxDepth()]).then(([r, outbox]) =>
        console.log(
          `  +${Date.now() - back} ms: connected ${gateways.filter((g) => g.brokerStatus.state === "connected").length}/${GATEWAYS}, publishes ${latencies.length} ok ${failures.length} failed, refused ${r - refusedBefore}, busy waits ${busyWaits - busyBefore}, outbox ${outbox}, converged ${convergedCount}`,
        ),
      );
    }, 5000);

    // Publish over REST while the fleet reconnects and catches up, until every gateway is connected
    // again (and at least STORM_PUBLISHES times): each must answer, and its latency is kept.
    const connected = () => gateways.every((g) => g.brokerStatus.state === "connected");
    let rev = OUTAGE_UPDATES;
    while (latencies.length + failures.length < STORM_PUBLISHES || !connected()) {
      if (Date.now() - back > STORM_TIMEOUT_MS) assert.fail("the gateways did not all reconnect in time");
      rev++;
      const t = performance.now();
      try {
        const res = await fetch(`${url}/api/v1/artifacts?label=${LABEL}`, {
          method: "POST",
          body: tinyApi(`Api${rev % HOT_APIS}`, rev, API_PAD),
          headers: { "content-type": "application/xml", authorization: AUTH },
          signal: AbortSignal.timeout(PUBLISH_TIMEOUT_MS),
        });
        const ms = performance.now() - t;
        await res.body?.cancel();
        if (res.status === 201 || res.status === 200) latencies.push(ms);
        else failures.push(`${res.status}`);
      } catch (err) {
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        failures.push(`network: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
      }
      // A publish every ~20 ms: the storm is the gateways', not this loop's.
      await new Promise((r) => setTimeout(r, 20));
    }
    const reconnectedMs = Date.now() - back;
    try {
      await allConverged(STORM_TIMEOUT_MS);
    } finally {
      clearInterval(progress);
    }
    const convergedMs = Date.now() - back;
    const refusedInStorm = (await refused()) - refusedBefore;
    const limits = await world.publisher!.publisher.metrics.limitExceeded.get();
    latencies.sort((a, b) => a - b);
    console.log(
      [
        `storm: ${GATEWAYS} gateways, data_api_max_in_flight ${LIMIT}`,
        `all reconnected ${reconnectedMs} ms and converged ${convergedMs} ms after the broker was back`,
        `data API refused ${startupRefused} during the startup listings and ${refusedInStorm} during the reconnect storm (503 + Retry-After), gateways waited ${busyWaits - busyBefore} times, retried ${retries - retriesBefore} failures`,
        `publisher limits hit: ${JSON.stringify(limits.values.map((v) => [v.labels.limit, v.value]))}`,
        `publishes during the storm: ${latencies.length} answered, ${failures.length} failed; p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${(latencies.at(-1) ?? 0).toFixed(1)} ms`,
      ].join("\n"),
    );
    assert.deepEqual(failures, [], "every publish made during the storm answered 2xx");
    assert.ok(latencies.length >= STORM_PUBLISHES);
    // With SQLite every handler runs to its end in one turn of the loop: requests overlap while their
    // replies are written, i.e. mostly the ~500 KB startup listings; say how many each phase refused.
    assert.ok(startupRefused + refusedInStorm > 0, "the fleet went over the limit: data-API requests were refused");
    assert.ok(busyWaits > 0, "the gateways waited out Retry-After");
  });
});
