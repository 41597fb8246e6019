import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import amqp from "amqplib";
import { deadLetterQueueName } from "../../src/amqp/topology.js";
import { encodeBatch, HEADER_BATCH } from "../../src/events/batch.js";
import { encodeTokenRevocation } from "../../src/events/encode.js";
import type { Gateway } from "../../src/gateway/gateway.js";
import { BROKER_URL, drainQueue, drainQueueUntil, publishRaw } from "../harness/broker.js";
import { TestCluster } from "../harness/cluster.js";
import { counter, waitFor } from "../harness/wait.js";

const RUNTIME = ["runtime", "rejected", "handled"];
const BATCH = 100;

describe("batched runtime events ([gwsync] batch_runtime_events)", () => {
  const cluster = new TestCluster();
  const gws: Gateway[] = [];
  /** A queue of our own on the hub, to see the messages as the broker carries them. */
  const observer = `${cluster.id}.observer`;

  before(async () => {
    await cluster.startPublisher("", `batch_runtime_events = ${BATCH}`);
    for (let i = 0; i < 2; i++) gws.push(await cluster.startGateway({ name: `b${i}`, labels: ["L"] }));
    const conn = await amqp.connect(BROKER_URL);
    const ch = await conn.createChannel();
    await ch.assertQueue(observer, { durable: false, autoDelete: false });
    await ch.bindQueue(observer, cluster.exchange, "tokenRevocation");
    await conn.close();
  });
  after(async () => {
    const conn = await amqp.connect(BROKER_URL);
    const ch = await conn.createChannel();
    await ch.deleteQueue(observer);
    await conn.close();
    await cluster.close();
  });

  test("1,000 revocations emitted at once cross in batches and are all applied on every gateway", async () => {
    const messages = gws.map((g) => counter(g.events, "handled", (stream) => stream === "tokenRevocation"));
    const applied = gws.map((g) =>
      counter(g.events, "runtime", (stream, result) => stream === "tokenRevocation" && result === "applied"),
    );
    const tokens = Array.from({ length: 1000 }, (_, i) => `batch-${i}-${cluster.id}`);
    await cluster.publisher!.publisher.emitMany(
      tokens.map((revokedToken) => ({
        stream: "tokenRevocation" as const,
        event: { revokedToken, expiryTime: 0, type: "JWT", ttl: 3600 },
      })),
    );
    await waitFor(
      gws.map((g) => g.events),
      RUNTIME,
      () => applied.every((c) => c.count >= tokens.length),
      "1,000 revocations applied on both gateways",
    );
    for (const g of gws)
      for (const t of tokens)
        assert.ok(g.runtime.revokedTokens.isRevoked(t), `${t} revoked on ${g.config.gwsync.nodeId}`);
    for (const [i, m] of messages.entries()) {
      assert.equal(applied[i]!.count, tokens.length, "each event applied once");
      assert.ok(m.count <= Math.ceil(tokens.length / BATCH) + 2, `${m.count} messages carried 1,000 events`);
    }
    const seen = await drainQueue(observer);
    assert.ok(
      seen.length >= tokens.length / BATCH && seen.length < tokens.length / 2,
      `${seen.length} messages on the hub`,
    );
    assert.ok(
      seen.every((m) => typeof m.headers[HEADER_BATCH] === "number"),
      "every message of the burst is a batch",
    );
    for (const c of [...messages, ...applied]) c.stop();
  });

  test("a lone event still goes out in WSO2's single-event format", async () => {
    const token = `lone-${cluster.id}`;
    await cluster.publisher!.publisher.emit({
      stream: "tokenRevocation",
      event: { revokedToken: token, expiryTime: 0, type: "JWT", ttl: 3600 },
    });
    await waitFor(
      gws.map((g) => g.events),
      RUNTIME,
      () => gws.every((g) => g.runtime.revokedTokens.isRevoked(token) !== undefined),
      "the lone revocation on both gateways",
    );
    const seen = await drainQueue(observer);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.headers[HEADER_BATCH], undefined);
    const body = JSON.parse(seen[0]!.body.toString("utf8")) as {
      event: { payloadData: { revokedToken: string } };
    };
    assert.equal(body.event.payloadData.revokedToken, token);
  });

  test("one invalid event of a batch is dead-lettered alone with its reason; the others are applied", async () => {
    const good = [0, 1].map((i) =>
      encodeTokenRevocation({ revokedToken: `good-${i}-${cluster.id}`, expiryTime: 0, type: "JWT" }),
    );
    const badId = randomUUID();
    const badBody = Buffer.from(
      JSON.stringify({ event: { payloadData: { eventId: badId, revokedToken: 7 } } }),
    );
    const body = encodeBatch([
      { messageId: good[0]!.eventId, timestamp: Date.now(), body: good[0]!.body },
      { messageId: badId, timestamp: Date.now(), body: badBody },
      { messageId: good[1]!.eventId, timestamp: Date.now(), body: good[1]!.body },
    ]);
    await publishRaw(cluster.exchange, "tokenRevocation", [body], {
      headers: { [HEADER_BATCH]: 3 },
      messageId: () => `${good[0]!.eventId}+3`,
    });
    await waitFor(
      gws.map((g) => g.events),
      RUNTIME,
      () =>
        gws.every((g) =>
          [0, 1].every((i) => g.runtime.revokedTokens.isRevoked(`good-${i}-${cluster.id}`) !== undefined),
        ),
      "the two valid events of the batch applied on both gateways",
    );
    for (const g of gws) {
      const dead = await drainQueueUntil(deadLetterQueueName(g.queueName), 1);
      assert.equal(dead.length, 1, "only the invalid event is dead-lettered");
      assert.match(String(dead[0]!.headers["x-gwsync-reason"]), /revokedToken/);
      assert.equal(dead[0]!.headers[HEADER_BATCH], undefined, "the copy is a single event, not a batch");
      assert.deepEqual(JSON.parse(dead[0]!.body.toString("utf8")), JSON.parse(badBody.toString("utf8")));
    }
  });

  test("a batch whose envelope is invalid is dead-lettered whole, and the gateway keeps going", async () => {
    const g = gws[1]!;
    const rejected = counter(g.events, "rejected");
    const notABatch = Buffer.from(JSON.stringify({ gwsyncBatch: 2, events: [] }));
    await publishRaw(cluster.exchange, "tokenRevocation", [notABatch], { headers: { [HEADER_BATCH]: 0 } });
    const after = `after-bad-batch-${cluster.id}`;
    await cluster.publisher!.publisher.emit({
      stream: "tokenRevocation",
      event: { revokedToken: after, expiryTime: 0, type: "JWT", ttl: 3600 },
    });
    await waitFor(
      g.events,
      RUNTIME,
      () => rejected.count >= 1 && g.runtime.revokedTokens.isRevoked(after) !== undefined,
      "rejection, then the next event applied",
    );
    const dead = await drainQueueUntil(deadLetterQueueName(g.queueName), 1);
    assert.equal(dead.length, 1);
    assert.match(String(dead[0]!.headers["x-gwsync-reason"]), /batch/);
    rejected.stop();
  });
});
