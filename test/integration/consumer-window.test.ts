/**
 * The widening window of QueueConsumer (src/amqp/consumer.ts, WidenWindow) on the real RabbitMQ. It
 * relies on two things the broker does, checked here rather than taken from our notes:
 * - a basic.qos with global = false applies to consumers created after it, so the consumer made after
 *   the change gets the wide window while the cancelled one keeps what it was sent
 *   (https://www.rabbitmq.com/docs/consumer-prefetch, "applied separately to each new consumer on the
 *   channel");
 * - deliveries made to a cancelled consumer stay unacked on the channel and are acked by their tags
 *   (delivery tags are the channel's), with no channel error and nothing redelivered.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import amqp from "amqplib";
import { ACK, type Outcome, QueueConsumer } from "../../src/amqp/consumer.js";
import type { Channel } from "../../src/amqp/envelope.js";
import { silentLogger } from "../../src/log.js";
import { pollUntil } from "../faults/world.js";
import { BROKER_URL, cleanupBroker, testId } from "../harness/broker.js";

const BASE = 16;
const WIDE = 128;
const SMALL = 100;
const MESSAGES = 600;
const queue = testId("window");

after(() => cleanupBroker({ queues: [queue] }));

test("real broker: after BASE small deliveries the consumer is sent WIDE more unacked; the first consumer's deliveries are acked after the change", async () => {
  const conn = await amqp.connect(BROKER_URL, { noDelay: true });
  try {
    const setup = await conn.createConfirmChannel();
    await setup.assertQueue(queue, { durable: false });
    for (let i = 0; i < MESSAGES; i++)
      setup.sendToQueue(queue, Buffer.alloc(SMALL, 0x20), { messageId: `m${i}` });
    await setup.waitForConfirms();

    const seen: string[] = [];
    let hold = true;
    const held: (() => void)[] = [];
    const c = new QueueConsumer({
      queue,
      prefetch: BASE,
      widen: { prefetch: WIDE, smallBytes: SMALL, after: BASE },
      maxDeliveries: 5,
      retryDelayMs: 1,
      handle: (env) => {
        seen.push(env.properties.messageId as string);
        return hold ? new Promise<Outcome>((resolve) => held.push(() => resolve(ACK))) : Promise.resolve(ACK);
      },
      logger: silentLogger,
    });
    const ch = await conn.createChannel();
    let channelError: Error | undefined;
    ch.on("error", (err: Error) => {
      channelError = err;
    });
    await c.start(ch as unknown as Channel);

    // Nothing acked: the first consumer takes BASE, the one made after the change WIDE more.
    // (The queue's ready count is the broker's: no event announces it.)
    await pollUntil(
      async () =>
        seen.length === BASE + WIDE &&
        (await setup.checkQueue(queue)).messageCount === MESSAGES - BASE - WIDE,
      `${BASE + WIDE} deliveries and ${MESSAGES - BASE - WIDE} ready`,
      10_000,
    );
    assert.equal(c.window, WIDE);
    assert.equal(seen.length, BASE + WIDE, "no more than the two windows");

    // The held deliveries, the cancelled consumer's included, are acked; the rest flows.
    hold = false;
    for (const release of held) release();
    await pollUntil(
      async () => seen.length === MESSAGES && (await setup.checkQueue(queue)).messageCount === 0,
      "every message delivered",
      10_000,
    );
    await c.stop();
    assert.equal(channelError, undefined, "no ack was refused");
    assert.equal(new Set(seen).size, MESSAGES, "each message delivered once (nothing redelivered)");
    const after = await conn.createChannel();
    const left = await after.checkQueue(queue);
    assert.equal(left.messageCount, 0);
    await after.close();
  } finally {
    await conn.close().catch(() => undefined);
  }
});
