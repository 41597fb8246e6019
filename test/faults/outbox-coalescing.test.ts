/**
 * Issue 20, B9: after a broker outage the outbox holds many revisions of a few APIs. Coalescing
 * (src/publisher/outbox-coalesce.ts) sends one DEPLOY per API and label set, not one per revision:
 * the gateways still end at exactly the store's last revisions, and a queue this test binds to the
 * notification stream receives at most one event per API. On the engines that hold the outbox in a
 * database: SQLite, PostgreSQL and MySQL/MariaDB (the Git store's outbox is its SQLite file).
 */
import assert from "node:assert/strict";
import { setImmediate as yieldToLoop } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import amqp from "amqplib";
import { FAULT_BROKER_PORT, FaultBroker } from "../harness/fault-broker.js";
import { assertClean } from "../harness/invariants.js";
import { type EngineFactory, mysqlEngine, postgresEngine, sqliteEngine } from "../harness/store-engines.js";
import { FaultWorld, pollUntil, tinyApi } from "./world.js";

const LABEL = "C";
const APIS = 3;
/** Revisions per API committed while the broker is away: 3 × 100 rows, beyond one claim of 256. */
const REVISIONS = 100;
const RECONNECT_TIMEOUT_MS = 120_000;

describe("outbox coalescing: revisions saved while the broker is away go out as one event per API", () => {
  const broker = new FaultBroker();

  before(async () => {
    await broker.start();
  });
  after(async () => {
    await broker.destroy();
  });

  for (const engine of [sqliteEngine, postgresEngine, mysqlEngine] as EngineFactory[]) {
    test(`${engine.name}: ${APIS} APIs × ${REVISIONS} revisions during the outage → ≤ ${APIS} events on the broker, gateways at the last revisions`, async () => {
      const world = new FaultWorld(FAULT_BROKER_PORT);
      const db = engine.name === "sqlite" ? undefined : await engine.create();
      if (db) world.database = db.config;
      const counted = `${world.id}.count`;
      try {
        await world.startPublisher({ heartbeatSec: 1 });
        const pub = world.publisher!.publisher;
        for (let a = 0; a < APIS; a++) await pub.deployApi(tinyApi(`Co${a}`, 0), [LABEL]);
        for (const name of ["g1", "g2"])
          await world.startGateway({ name, labels: [LABEL], heartbeatSec: 1, retryMs: 50, maxRetries: 5 });
        for (const name of ["g1", "g2"]) await world.waitConverged(name, RECONNECT_TIMEOUT_MS);
        await pollUntil(
          async () => (await pub.store.outboxDepth()) === 0,
          "the first publishes to be confirmed",
        );
        // Our own durable queue on the notification stream: it counts what the broker carried.
        const conn = await amqp.connect(broker.url);
        const ch = await conn.createChannel();
        await ch.assertQueue(counted, { durable: true });
        await ch.bindQueue(counted, world.exchange, "notification");
        await conn.close();
        const coalescedBefore = (await pub.metrics.outboxCoalesced.get()).values[0]?.value ?? 0;
        /** What the publisher's `coalesced` event reported (the quorum-cluster test relies on it). */
        const reported: string[] = [];
        pub.events.on("coalesced", (rows) => reported.push(...rows.map((r) => r.messageId)));

        await broker.stopApp();
        for (let rev = 1; rev <= REVISIONS; rev++) {
          for (let a = 0; a < APIS; a++) await pub.deployApi(tinyApi(`Co${a}`, rev), [LABEL]);
          if (rev % 10 === 0) await yieldToLoop();
        }
        assert.ok(
          (await pub.store.outboxDepth()) >= APIS * REVISIONS,
          "the outage's events wait in the outbox",
        );
        await broker.startApp();

        for (const name of ["g1", "g2"]) await world.waitConverged(name, RECONNECT_TIMEOUT_MS);
        await pollUntil(
          async () => (await pub.store.outboxDepth()) === 0,
          "the outbox to drain",
          RECONNECT_TIMEOUT_MS,
        );
        // Confirmed = enqueued on every bound durable queue: the count is final.
        const check = await amqp.connect(broker.url);
        const cc = await check.createChannel();
        const { messageCount } = await cc.checkQueue(counted);
        await cc.deleteQueue(counted);
        await check.close();
        const coalesced = ((await pub.metrics.outboxCoalesced.get()).values[0]?.value ?? 0) - coalescedBefore;
        console.log(
          `${engine.name}: ${APIS * REVISIONS} events committed during the outage, ${messageCount} on the broker, ${coalesced} coalesced`,
        );
        assert.ok(messageCount >= 1 && messageCount <= APIS, `${messageCount} events reached the broker`);
        assert.equal(coalesced, APIS * REVISIONS - messageCount);
        assert.equal(reported.length, coalesced, "publisher.events 'coalesced' reports each coalesced row");
        assert.equal(new Set(reported).size, reported.length, "each once");
        await world.withTruth(async (s) => {
          for (let a = 0; a < APIS; a++) {
            const id = await s.findApiId(`Co${a}`, "1.0.0");
            assert.ok(id);
            const stored = await s.getArtifact(id, LABEL);
            assert.equal(stored?.revision, REVISIONS + 1);
            for (const name of ["g1", "g2"]) {
              const d = world.gateways.get(name)!.deployer.get(id);
              assert.equal(d?.revision, REVISIONS + 1, `${name} holds the last revision of Co${a}`);
              assert.equal(d?.sha256, stored?.sha256);
            }
          }
        });
        for (const name of ["g1", "g2"]) assertClean(await world.judge(name));
      } finally {
        await world.close();
        await db?.drop();
      }
    });
  }
});
