import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ConfirmPublisher, OutgoingMessage } from "../../src/amqp/confirm-publisher.js";
import { decodeBatch, encodeBatch, HEADER_BATCH } from "../../src/events/batch.js";
import { encodeKeyManager, encodeTokenRevocation } from "../../src/events/encode.js";
import { silentLogger } from "../../src/log.js";
import { OutboxDispatcher } from "../../src/publisher/outbox-dispatcher.js";
import type { OutboxMessage } from "../../src/store/types.js";
import { fakeOutbox } from "../harness/fake-outbox.js";

const revocation = (token: string) =>
  encodeTokenRevocation({ revokedToken: token, expiryTime: 0, type: "JWT" });

describe("gwsync batch codec", () => {
  test("round trip: every event comes back decoded, with its id and timestamp", () => {
    const events = ["a", "b", "c"].map(revocation);
    const body = encodeBatch(
      events.map((e, i) => ({ messageId: e.eventId, timestamp: 1000 + i, body: e.body })),
    );
    const r = decodeBatch("tokenRevocation", body);
    assert.ok(r.ok);
    assert.deepEqual(
      r.parts.map((p) => [
        p.messageId,
        p.timestamp,
        p.result.ok && p.result.event.topic === "tokenRevocation" && p.result.event.revokedToken,
      ]),
      events.map((e, i) => [e.eventId, 1000 + i, ["a", "b", "c"][i]]),
    );
    assert.deepEqual(JSON.parse(r.parts[1]!.body().toString()), JSON.parse(events[1]!.body.toString()));
  });

  test("a part whose id is not its event's eventId is invalid on its own", () => {
    const e = revocation("x");
    const r = decodeBatch(
      "tokenRevocation",
      encodeBatch([{ messageId: "someone-else", timestamp: 1, body: e.body }]),
    );
    assert.ok(r.ok);
    assert.equal(r.parts[0]!.result.ok, false);
    assert.match(!r.parts[0]!.result.ok ? r.parts[0]!.result.reason : "", /differs from the event's eventId/);
  });

  test("refuses notifications, oversize bodies, bad JSON and a wrong envelope", () => {
    const body = encodeBatch([{ messageId: "m", timestamp: 1, body: revocation("y").body }]);
    const reasons = [
      decodeBatch("notification", body),
      decodeBatch("tokenRevocation", body, { maxBytes: 10 }),
      decodeBatch("tokenRevocation", Buffer.from("{not json")),
      decodeBatch("tokenRevocation", Buffer.from('{"gwsyncBatch":1,"events":[]}')),
      decodeBatch(
        "tokenRevocation",
        Buffer.from('{"gwsyncBatch":1,"events":[{"id":"m","ts":-1,"body":{}}]}'),
      ),
    ].map((r) => (r.ok ? "accepted" : r.reason));
    assert.match(reasons[0]!, /cannot carry a gwsync batch/);
    assert.match(reasons[1]!, /over the 10-byte limit/);
    assert.match(reasons[2]!, /not valid JSON/);
    assert.match(reasons[3]!, /events/);
    assert.match(reasons[4]!, /ts/);
  });
});

describe("OutboxDispatcher with batch_runtime_events", () => {
  function rowsOf(list: { topic: string; body: Buffer; messageId: string }[]): OutboxMessage[] {
    return list.map((m, i) => ({
      id: i + 1,
      topic: m.topic,
      messageId: m.messageId,
      body: m.body,
      headers: { "x-gwsync-origin": "r", "x-gwsync-hops": 0 },
      createdAt: 1,
      attempts: 0,
    }));
  }

  async function dispatch(
    rows: OutboxMessage[],
    batchRuntimeEvents: number,
    maxMessageBytes?: number,
  ): Promise<OutgoingMessage[]> {
    const sent: OutgoingMessage[] = [];
    const { store } = fakeOutbox(rows);
    const publisher = {
      ready: true,
      publishAll: async (m: OutgoingMessage[]) => {
        sent.push(...m);
      },
    } as unknown as ConfirmPublisher;
    const d = new OutboxDispatcher({
      store,
      publisher,
      exchange: "x",
      logger: silentLogger,
      batchRuntimeEvents,
      ...(maxMessageBytes ? { maxMessageBytes } : {}),
    });
    assert.equal(await d.drain(), rows.length);
    return sent;
  }

  test("groups consecutive events of one runtime stream, up to the count cap; other rows stay single", async () => {
    const tr = (t: string) => {
      const e = revocation(t);
      return { topic: "tokenRevocation", body: e.body, messageId: e.eventId };
    };
    const km = encodeKeyManager({
      action: "add",
      name: "k",
      type: "default",
      enabled: true,
      organization: "carbon.super",
      config: {},
    });
    const rows = rowsOf([
      tr("1"),
      tr("2"),
      tr("3"),
      { topic: "keyManager", body: km.body, messageId: km.eventId },
      tr("4"),
      { topic: "notification", body: Buffer.from("{}"), messageId: "n" },
      tr("5"),
    ]);
    const sent = await dispatch(rows, 2);
    assert.deepEqual(
      sent.map((m) => [m.routingKey, m.options?.headers?.[HEADER_BATCH] ?? 1]),
      [
        ["tokenRevocation", 2],
        ["tokenRevocation", 1],
        ["keyManager", 1],
        ["tokenRevocation", 1],
        ["notification", 1],
        ["tokenRevocation", 1],
      ],
    );
    const first = decodeBatch("tokenRevocation", sent[0]!.body);
    assert.ok(first.ok && first.parts.length === 2 && first.parts.every((p) => p.result.ok));
    assert.equal(sent[1]!.body, rows[2]!.body, "a single event goes out byte for byte as stored");
  });

  test("keeps a batch under the message size cap", async () => {
    const rows = rowsOf(
      Array.from({ length: 10 }, (_, i) => {
        const e = revocation(`t${i}`);
        return { topic: "tokenRevocation", body: e.body, messageId: e.eventId };
      }),
    );
    const one = rows[0]!.body.length;
    const sent = await dispatch(rows, 100, 3 * (one + 120));
    assert.ok(sent.length >= 4, `${sent.length} messages`);
    for (const m of sent) assert.ok(m.body.length <= 3 * (one + 120));
    const total = sent.reduce((n, m) => n + Number(m.options?.headers?.[HEADER_BATCH] ?? 1), 0);
    assert.equal(total, 10);
  });
});
