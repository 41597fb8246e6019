import assert from "node:assert/strict";
import { test } from "node:test";
import amqp from "amqplib";
import { coalesceSocketWrites } from "../../src/amqp/confirm-publisher.js";
import { BROKER_URL } from "../harness/broker.js";

/**
 * coalesceSocketWrites reaches into amqplib's connection (its muxer and socket): the unit test
 * (socket-write-bursts) runs amqplib's own Mux on a hand-built channel, this one checks that a real
 * amqplib confirm channel on the real broker has that shape, so an amqplib upgrade that moves it fails
 * here instead of silently writing one TCP segment per frame again.
 */
test("on a real amqplib confirm channel the socket writes are coalesced: 256 publishes in a few writes, all confirmed", async () => {
  const conn = await amqp.connect(BROKER_URL, { noDelay: true });
  try {
    const ch = await conn.createConfirmChannel();
    assert.equal(coalesceSocketWrites(ch), true, "amqplib's connection has the muxer and socket it expects");
    const { queue } = await ch.assertQueue("", { exclusive: true, autoDelete: true });
    const socket = (ch as unknown as { connection: { stream: { _write: unknown; _writev: unknown } } })
      .connection.stream;
    let writes = 0;
    for (const method of ["_write", "_writev"] as const) {
      const original = socket[method] as (...args: unknown[]) => unknown;
      socket[method] = function (this: unknown, ...args: unknown[]) {
        writes++;
        return original.apply(this, args);
      };
    }
    const body = Buffer.alloc(300, 1);
    for (let i = 0; i < 256; i++) ch.sendToQueue(queue, body, { messageId: `m${i}` });
    await ch.waitForConfirms();
    // 256 publishes are 768 frames (method, header, body): amqplib alone made 256 writes here.
    assert.ok(writes <= 32, `a few writes for 768 frames, got ${writes}`);
    assert.equal((await ch.checkQueue(queue)).messageCount, 256, "every message reached the queue");
    await ch.close();
  } finally {
    await conn.close();
  }
});
