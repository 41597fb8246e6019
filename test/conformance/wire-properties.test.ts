/**
 * The AMQP properties of every message gwsync sends, compared with what Andes' JMS producer writes and
 * its consumer reads (ANDES = wso2/andes @ 72655e00 modules/andes-core/client/src/main/java/org/wso2/andes/client/,
 * and modules/andes-core/common/.../framing/ for the header field types). No broker: the dispatcher,
 * the consumer's dead-letter path and the relay's pass-through are driven with fakes.
 */
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import type { Channel, ConsumeMessage } from "amqplib";
import type { ConfirmPublisher, OutgoingMessage } from "../../src/amqp/confirm-publisher.js";
import { QueueConsumer } from "../../src/amqp/consumer.js";
import { envelopeOf } from "../../src/amqp/envelope.js";
import { encodeBatch, HEADER_BATCH } from "../../src/events/batch.js";
import { encodeKeyManager, encodeTokenRevocation } from "../../src/events/encode.js";
import { HEADER_HOPS, HEADER_ORIGIN, HEADER_SEQ } from "../../src/events/topics.js";
import { silentLogger } from "../../src/log.js";
import { OutboxDispatcher } from "../../src/publisher/outbox-dispatcher.js";
import { LabelDirectory } from "../../src/relay/artifact-snapshot.js";
import { planForward } from "../../src/relay/forward-plan.js";
import type { OutboxMessage } from "../../src/store/types.js";
import { fakeOutbox } from "../harness/fake-outbox.js";

// amqplib's own field-table codec (what goes on the wire for a header value); its package exports hide it.
const require = createRequire(import.meta.url);
const codec = require(join(dirname(require.resolve("amqplib")), "lib", "codec.js")) as {
  encodeTable: (b: Buffer, v: unknown, o: number) => number;
};

/** Andes' AMQType identifiers (common/src/main/java/org/wso2/andes/framing/AMQType.java:44-673): no 'A' arrays. */
const ANDES_FIELD_TYPES = new Set([
  "S",
  "i",
  "D",
  "T",
  "F",
  "V",
  "x",
  "c",
  "C",
  "t",
  "k",
  "b",
  "s",
  "I",
  "l",
  "f",
  "d",
]);

/** The one-letter type tags of an AMQP field table as amqplib encodes it. */
function fieldTypes(headers: Record<string, unknown>): Map<string, string> {
  const buf = Buffer.alloc(64 * 1024);
  const len = codec.encodeTable(buf, headers, 0);
  const types = new Map<string, string>();
  let o = 4;
  while (o < len) {
    const keyLen = buf[o]!;
    const key = buf.subarray(o + 1, o + 1 + keyLen).toString();
    o += 1 + keyLen;
    const tag = String.fromCharCode(buf[o]!);
    types.set(key, tag);
    o += 1;
    // Only the scalar types gwsync uses need skipping here.
    const width: Record<string, number> = { b: 1, s: 2, I: 4, l: 8, d: 8, t: 1, V: 0 };
    if (tag === "S") o += 4 + buf.readUInt32BE(o);
    else if (tag in width) o += width[tag]!;
    else throw new Error(`unexpected field type ${tag}`);
  }
  return types;
}

function dispatch(
  rows: OutboxMessage[],
  options: { dialect?: "4.x" | "3.2.0"; batch?: number } = {},
): Promise<OutgoingMessage[]> {
  const { store } = fakeOutbox(rows);
  const sent: OutgoingMessage[] = [];
  const publisher = {
    ready: true,
    publishAll: async (m: OutgoingMessage[]) => void sent.push(...m),
  } as unknown as ConfirmPublisher;
  const d = new OutboxDispatcher({
    store,
    publisher,
    exchange: "amq.topic",
    logger: silentLogger,
    ...(options.dialect ? { dialect: options.dialect } : {}),
    ...(options.batch ? { batchRuntimeEvents: options.batch } : {}),
  });
  return d.drain().then(() => sent);
}

const row = (id: number, topic: string, body: Buffer): OutboxMessage => ({
  id,
  topic,
  messageId: `evt-${id}`,
  body,
  headers: { [HEADER_ORIGIN]: "r1", [HEADER_HOPS]: 0, [HEADER_SEQ]: 1_000_000 + id },
  createdAt: 1_700_000_000_000 + id,
  attempts: 0,
});

describe("conformance: properties of the messages gwsync publishes", () => {
  test("4.x: text/plain, UTF-8, ms timestamp, the event id as message id, persistent (BasicMessageProducer_0_8.java:115-130, JMSTextMessage.java:38,103)", async () => {
    const [m] = await dispatch([
      row(
        1,
        "tokenRevocation",
        encodeTokenRevocation({ revokedToken: "t", expiryTime: 1, type: "JWT" }).body,
      ),
    ]);
    assert.equal(m?.options?.contentType, "text/plain");
    assert.equal(m?.options?.contentEncoding, "UTF-8");
    assert.equal(m?.options?.timestamp, 1_700_000_000_001);
    assert.equal(m?.options?.messageId, "evt-1");
    assert.equal(m?.options?.persistent, true);
  });

  test("JMS_QPID_DESTTYPE goes out as a 32-bit int, the type FieldTable.getInteger reads (BasicMessageProducer_0_8.java:108, FieldTable.java:238-249)", async () => {
    const [m] = await dispatch([
      row(
        1,
        "keyManager",
        encodeKeyManager({
          action: "delete",
          name: "k",
          type: "t",
          enabled: false,
          organization: "o",
          config: null,
        }).body,
      ),
    ]);
    const types = fieldTypes(m?.options?.headers as Record<string, unknown>);
    assert.equal(types.get("JMS_QPID_DESTTYPE"), "I");
    // Every header gwsync adds is of a type Andes can decode: an 'A' (array) would fail the whole message.
    for (const [key, tag] of types) assert.ok(ANDES_FIELD_TYPES.has(tag), `${key} is written as '${tag}'`);
  });

  test("3.2.0: a MapMessage content type, no text encoding", async () => {
    const [m] = await dispatch(
      [
        row(
          1,
          "tokenRevocation",
          encodeTokenRevocation({ revokedToken: "t", expiryTime: 1, type: "JWT" }).body,
        ),
      ],
      { dialect: "3.2.0" },
    );
    assert.equal(m?.options?.contentType, "jms/map-message");
    assert.equal(m?.options?.contentEncoding, undefined);
    assert.equal(fieldTypes(m?.options?.headers as Record<string, unknown>).get("JMS_QPID_DESTTYPE"), "I");
  });

  test("opt-in batches keep their own content type (gwsync consumers only)", async () => {
    const body = encodeTokenRevocation({ revokedToken: "t", expiryTime: 1, type: "JWT" }).body;
    // Runtime events carry the same headers (origin, hops), so consecutive ones share a batch.
    const same = (r: OutboxMessage) => ({ ...r, headers: { [HEADER_ORIGIN]: "r1", [HEADER_HOPS]: 0 } });
    const sent = await dispatch(
      [same(row(1, "tokenRevocation", body)), same(row(2, "tokenRevocation", body))],
      { batch: 8 },
    );
    assert.equal(sent.length, 1);
    assert.equal(sent[0]?.options?.contentType, "application/vnd.gwsync.batch+json");
  });
});

function fakeChannel() {
  const copies: { queue: string; body: Buffer; options: Record<string, unknown> }[] = [];
  let deliver: (m: ConsumeMessage) => void = () => undefined;
  const ch = {
    prefetch: async () => undefined,
    consume: async (_q: string, cb: (m: ConsumeMessage) => void) => {
      deliver = cb;
      return { consumerTag: "c" };
    },
    sendToQueue: (queue: string, body: Buffer, options: Record<string, unknown>) =>
      void copies.push({ queue, body, options }),
    ack: () => undefined,
    nack: () => undefined,
  } as unknown as Channel;
  return { ch, copies, deliver: (m: ConsumeMessage) => deliver(m) };
}

function message(
  body: Buffer,
  properties: Record<string, unknown>,
  routingKey = "tokenRevocation",
): ConsumeMessage {
  return {
    content: body,
    fields: { routingKey, deliveryTag: 1, redelivered: false, exchange: "amq.topic", consumerTag: "c" },
    properties: { headers: {}, ...properties },
  } as unknown as ConsumeMessage;
}

describe("conformance: copies and forwards keep the original's properties", () => {
  test("a dead-letter copy keeps the content type, encoding, message id and timestamp it arrived with", async () => {
    const { ch, copies, deliver } = fakeChannel();
    let settled!: () => void;
    const done = new Promise<void>((r) => {
      settled = r;
    });
    const consumer = new QueueConsumer({
      queue: "q",
      prefetch: 1,
      maxDeliveries: 1,
      retryDelayMs: 0,
      handle: async () => ({ kind: "reject", reason: "bad" }),
      onReject: () => setImmediate(settled),
      deadLetterQueue: "dlq",
      logger: silentLogger,
    });
    await consumer.start(ch);
    deliver(
      message(Buffer.from([0, 0, 0, 0]), { contentType: "jms/map-message", messageId: "ID:1", timestamp: 5 }),
    );
    await done;
    assert.equal(copies.length, 1);
    assert.deepEqual(
      [copies[0]?.options.contentType, copies[0]?.options.messageId, copies[0]?.options.timestamp],
      ["jms/map-message", "ID:1", 5],
    );
  });

  test("a bad event of a batch is dead-lettered alone as a 4.x text message", async () => {
    const { ch, copies, deliver } = fakeChannel();
    let settled!: () => void;
    const done = new Promise<void>((r) => {
      settled = r;
    });
    const consumer = new QueueConsumer({
      queue: "q",
      prefetch: 1,
      maxDeliveries: 1,
      retryDelayMs: 0,
      handle: async () => ({
        kind: "ack",
        deadLetters: [{ body: Buffer.from("{}"), messageId: "e2", timestamp: 7, reason: "bad" }],
      }),
      onReject: () => setImmediate(settled),
      deadLetterQueue: "dlq",
      logger: silentLogger,
    });
    await consumer.start(ch);
    const batch = encodeBatch([{ messageId: "e2", timestamp: 7, body: Buffer.from("{}") }]);
    deliver(
      message(batch, { contentType: "application/vnd.gwsync.batch+json", headers: { [HEADER_BATCH]: 1 } }),
    );
    await done;
    assert.equal(copies[0]?.options.contentType, "text/plain");
  });

  test("the relay forwards a foreign (WSO2) message with its properties untouched, an absent content type included", async () => {
    const body = encodeTokenRevocation({ revokedToken: "t", expiryTime: 1, type: "JWT" }).body;
    const ctx = {
      localRegion: "a",
      remoteRegion: "b",
      maxHops: 1,
      maxMessageBytes: 1 << 20,
      remoteExchange: "amq.topic",
      routingKeyOf: (s: string) => s,
      store: () => {
        throw new Error("not used for runtime streams");
      },
      labels: new LabelDirectory(() => {
        throw new Error("not used");
      }, 0),
    };
    for (const properties of [
      {
        contentType: "text/plain",
        contentEncoding: "UTF-8",
        messageId: "ID:abc",
        timestamp: 9,
        type: "t",
        appId: "wso2",
        priority: 4,
        userId: "admin",
        headers: { JMS_QPID_DESTTYPE: 2 },
      },
      { messageId: "ID:def", timestamp: 10, headers: {} },
    ]) {
      const plan = await planForward(envelopeOf(message(body, properties)), ctx);
      assert.equal(plan.kind, "forward");
      const out = plan.kind === "forward" ? plan.messages[0]! : undefined;
      assert.deepEqual(out?.body, body);
      const o = out?.options as Record<string, unknown>;
      for (const key of [
        "contentType",
        "contentEncoding",
        "messageId",
        "timestamp",
        "type",
        "appId",
        "priority",
      ] as const) {
        assert.equal(o[key], (properties as Record<string, unknown>)[key], key);
      }
      // user-id is checked by RabbitMQ against the publishing connection: the relay's own user.
      assert.equal(o.userId, undefined);
      if ("JMS_QPID_DESTTYPE" in properties.headers)
        assert.equal(fieldTypes(o.headers as Record<string, unknown>).get("JMS_QPID_DESTTYPE"), "I");
    }
  });
});
