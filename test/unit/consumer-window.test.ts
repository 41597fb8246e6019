/**
 * QueueConsumer's widening window (WidenWindow, src/amqp/consumer.ts): after `after` small deliveries in
 * a row the consumer consumes again with the wide prefetch, and the first large delivery takes it back to
 * the base window. RabbitMQ applies a per-consumer prefetch (basic.qos, global = false) only to
 * consumers created after it (https://www.rabbitmq.com/docs/consumer-prefetch: "applied separately to
 * each new consumer on the channel"), so each change must be cancel → qos → consume; the real broker's
 * side is test/integration/consumer-window.test.ts. Deliveries made before a change stay unacked on the
 * channel and are acked by their tags as before.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ConsumeMessage } from "amqplib";
import { ACK, type Outcome, QueueConsumer } from "../../src/amqp/consumer.js";
import type { Channel, Envelope } from "../../src/amqp/envelope.js";
import { HEADER_BATCH } from "../../src/events/batch.js";
import { silentLogger } from "../../src/log.js";

/** A channel that records qos, consume and cancel in order, hands out tags 1, 2, … and records acks. */
class RecordingChannel {
  readonly calls: string[] = [];
  readonly acked = new Set<number>();
  #consumers = new Map<string, (msg: ConsumeMessage | null) => void>();
  #next = 0;
  #tags = 0;
  #prefetch = 0;

  async prefetch(n: number, global = false): Promise<void> {
    this.calls.push(`qos ${n}${global ? " global" : ""}`);
    this.#prefetch = n;
  }
  async consume(_queue: string, onMessage: (msg: ConsumeMessage | null) => void) {
    const tag = `c${++this.#next}`;
    this.calls.push(`consume ${tag} (prefetch ${this.#prefetch})`);
    this.#consumers.set(tag, onMessage);
    await new Promise((r) => setImmediate(r));
    return { consumerTag: tag };
  }
  /** While set, cancel() waits for it (a cancel-ok the broker has not sent yet). */
  cancelGate: Promise<void> | undefined;

  /** Holds every cancel-ok back until the function returned is called. */
  holdCancels(): () => void {
    let release!: () => void;
    this.cancelGate = new Promise<void>((r) => {
      release = r;
    });
    return release;
  }

  async cancel(tag: string): Promise<void> {
    this.calls.push(`cancel ${tag}`);
    await new Promise((r) => setImmediate(r));
    await this.cancelGate;
    this.#consumers.delete(tag);
  }
  async close(): Promise<void> {}

  /** Delivers to the newest live consumer, as the broker would. */
  deliver(bytes: number, headers: Record<string, unknown> = {}): number {
    const tag = ++this.#tags;
    const [consumerTag, onMessage] = [...this.#consumers].at(-1)!;
    onMessage({
      content: Buffer.alloc(bytes, 0x20),
      fields: {
        deliveryTag: tag,
        redelivered: false,
        exchange: "amq.topic",
        routingKey: "tokenRevocation",
        consumerTag,
      },
      properties: { headers, messageId: `m${tag}`, contentType: "text/plain" },
    } as unknown as ConsumeMessage);
    return tag;
  }

  ack(msg: ConsumeMessage, multiple = false): void {
    const tag = msg.fields.deliveryTag;
    if (multiple) for (let t = 1; t <= tag; t++) this.acked.add(t);
    else this.acked.add(tag);
  }
  nack(): void {}
}

const BASE = 8;
const WIDE = 64;
const SMALL = 100;

function consumer(handle: (env: Envelope) => Promise<Outcome> = async () => ACK): QueueConsumer {
  return new QueueConsumer({
    queue: "q",
    prefetch: BASE,
    widen: { prefetch: WIDE, smallBytes: SMALL, after: BASE },
    maxDeliveries: 5,
    retryDelayMs: 1,
    handle,
    logger: silentLogger,
  });
}

const turns = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

/** A started consumer whose window has widened (BASE small deliveries made). */
async function widened(
  handle?: (env: Envelope) => Promise<Outcome>,
): Promise<{ ch: RecordingChannel; c: QueueConsumer }> {
  const ch = new RecordingChannel();
  const c = consumer(handle);
  await c.start(ch as unknown as Channel);
  for (let i = 0; i < BASE; i++) ch.deliver(SMALL);
  await turns();
  assert.equal(c.window, WIDE);
  return { ch, c };
}

/**
 * A consumer whose window change on its first channel waits for a cancel-ok (released by `release`)
 * while the consumer has already started on a second channel `ch` (a reconnect).
 */
async function reconnectedDuringChange(): Promise<{
  old: RecordingChannel;
  release: () => void;
  c: QueueConsumer;
  ch: RecordingChannel;
}> {
  const old = new RecordingChannel();
  const release = old.holdCancels();
  const c = consumer();
  await c.start(old as unknown as Channel);
  for (let i = 0; i < BASE; i++) old.deliver(SMALL);
  await turns(); // the old channel's change waits for its cancel-ok
  const ch = new RecordingChannel();
  await c.start(ch as unknown as Channel); // the reconnect
  return { old, release, c, ch };
}

describe("QueueConsumer: the window widens while every delivery is small", () => {
  test("starts at the base window; after `after` small deliveries in a row it consumes again with the wide one", async () => {
    const ch = new RecordingChannel();
    const c = consumer();
    await c.start(ch as unknown as Channel);
    assert.deepEqual(ch.calls, ["qos 8", "consume c1 (prefetch 8)"]);
    assert.equal(c.window, BASE);
    for (let i = 0; i < BASE - 1; i++) ch.deliver(SMALL);
    await turns();
    assert.equal(c.window, BASE, "one small delivery short: no change");
    ch.deliver(SMALL);
    await turns();
    assert.deepEqual(ch.calls.slice(2), ["cancel c1", "qos 64", "consume c2 (prefetch 64)"]);
    assert.equal(c.window, WIDE);
    await c.stop();
  });

  test("the first large delivery takes it back to the base window; small ones widen it again", async () => {
    const { ch, c } = await widened();
    ch.deliver(SMALL + 1);
    await turns();
    assert.equal(c.window, BASE);
    assert.deepEqual(ch.calls.slice(-3), ["cancel c2", "qos 8", "consume c3 (prefetch 8)"]);
    // A large one in the run starts the count again.
    for (let i = 0; i < BASE - 1; i++) ch.deliver(SMALL);
    ch.deliver(SMALL * 10);
    for (let i = 0; i < BASE - 1; i++) ch.deliver(SMALL);
    await turns();
    assert.equal(c.window, BASE);
    ch.deliver(SMALL);
    await turns();
    assert.equal(c.window, WIDE);
    await c.stop();
  });

  test("a gwsync batch takes it back to the base window however small it is", async () => {
    const { ch, c } = await widened();
    ch.deliver(10, { [HEADER_BATCH]: 2 });
    await turns();
    assert.equal(c.window, BASE);
    await c.stop();
  });

  test("deliveries made before a change are acked by their own tags after it", async () => {
    const held: (() => void)[] = [];
    const { ch, c } = await widened(
      (env) =>
        new Promise<Outcome>((resolve) => {
          if (env.properties.messageId === "m1") held.push(() => resolve(ACK));
          else resolve(ACK);
        }),
    );
    assert.equal(ch.acked.has(1), false, "m1 still being handled");
    held[0]!();
    await turns();
    assert.deepEqual(
      [...ch.acked].sort((a, b) => a - b),
      Array.from({ length: BASE }, (_, i) => i + 1),
    );
    await c.stop();
  });

  test("without `widen` the window never changes", async () => {
    const ch = new RecordingChannel();
    const c = new QueueConsumer({
      queue: "q",
      prefetch: BASE,
      maxDeliveries: 5,
      retryDelayMs: 1,
      handle: async () => ACK,
      logger: silentLogger,
    });
    await c.start(ch as unknown as Channel);
    for (let i = 0; i < BASE * 4; i++) ch.deliver(SMALL);
    await turns();
    assert.deepEqual(ch.calls, ["qos 8", "consume c1 (prefetch 8)"]);
    await c.stop();
  });

  test("a change still running on the old channel after a reconnect never lets two changes run on the new one", async () => {
    const { old, release, c, ch } = await reconnectedDuringChange();
    const releaseNew = ch.holdCancels();
    for (let i = 0; i < BASE; i++) ch.deliver(SMALL);
    await turns(); // the new channel's change is under way (cancel c1 sent)
    release(); // the old change ends now
    await turns();
    // New wishes while the new channel's change still waits for its cancel-ok: back, then wide again.
    ch.deliver(SMALL + 1);
    await turns();
    for (let i = 0; i < BASE; i++) ch.deliver(SMALL);
    await turns();
    releaseNew();
    await turns(10);
    assert.deepEqual(
      ch.calls,
      ["qos 8", "consume c1 (prefetch 8)", "cancel c1", "qos 64", "consume c2 (prefetch 64)"],
      "one change at a time on the new channel, ending at the last wish",
    );
    assert.equal(c.window, WIDE);
    assert.deepEqual(
      old.calls,
      ["qos 8", "consume c1 (prefetch 8)", "cancel c1"],
      "nothing more on the old channel",
    );
    await c.stop();
  });

  test("a change on the old channel that ends after a reconnect leaves the new consumer for stop() to cancel", async () => {
    const { release, c, ch } = await reconnectedDuringChange();
    release();
    await turns();
    await c.stop();
    assert.deepEqual(ch.calls, ["qos 8", "consume c1 (prefetch 8)", "cancel c1"]);
  });

  test("stop() during a change waits for it and cancels the consumer it made", async () => {
    const ch = new RecordingChannel();
    const c = consumer();
    await c.start(ch as unknown as Channel);
    for (let i = 0; i < BASE; i++) ch.deliver(SMALL);
    await c.stop();
    const cancels = ch.calls.filter((x) => x.startsWith("cancel"));
    const consumes = ch.calls.filter((x) => x.startsWith("consume"));
    assert.equal(
      cancels.length,
      consumes.length,
      `every consumer made was cancelled: ${ch.calls.join(", ")}`,
    );
  });
});
