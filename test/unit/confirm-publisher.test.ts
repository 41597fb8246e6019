/**
 * ConfirmPublisher.publishAll with a channel whose socket buffer is full: a confirm that fails while a
 * later message waits for 'drain' is reported to the caller, never left as an unhandled rejection
 * (B9's reconnect storm: the publisher process exited on "no publisher confirm within 10000 ms").
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { test } from "node:test";
import type { ConfirmChannel } from "amqplib";
import { ConfirmPublisher, type OutgoingMessage } from "../../src/amqp/confirm-publisher.js";
import { isGwsyncError } from "../../src/errors.js";

/** A confirm channel that never confirms and whose buffer is full until the test emits 'drain'. */
class StuckChannel extends EventEmitter {
  published: string[] = [];
  publish(_exchange: string, routingKey: string, _body: Buffer, _options: unknown, _cb: (err?: unknown) => void) {
    this.published.push(routingKey);
    return false;
  }
}

const message = (n: number): OutgoingMessage => ({
  exchange: "amq.topic",
  routingKey: `m${n}`,
  body: Buffer.from("x"),
  options: {},
});

test("a confirm timing out while the next message waits for drain rejects publishAll, with no unhandled rejection, and sends nothing more", async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on("unhandledRejection", onUnhandled);
  try {
    const channel = new StuckChannel();
    const publisher = new ConfirmPublisher({ confirmTimeoutMs: 20 });
    publisher.attach(channel as unknown as ConfirmChannel);
    const all = publisher.publishAll([message(1), message(2), message(3)]);
    // Message 1 is sent and its buffer is full: message 2 waits for 'drain' while 1's confirm times
    // out. Let the timeout pass (plus turns of the loop for an unhandled rejection to be reported).
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(channel.published, ["m1"]);
    channel.emit("drain");
    await assert.rejects(all, (err: unknown) => isGwsyncError(err, "GWSYNC_BROKER_TIMEOUT"));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(channel.published, ["m1"], "nothing is sent after a failure");
    assert.deepEqual(unhandled, []);
  } finally {
    process.off("unhandledRejection", onUnhandled);
  }
});

test("a channel closing under messages waiting for drain fails them all once", async () => {
  const channel = new StuckChannel();
  const publisher = new ConfirmPublisher({ confirmTimeoutMs: 60_000 });
  publisher.attach(channel as unknown as ConfirmChannel);
  const all = publisher.publishAll([message(1), message(2)]);
  channel.emit("close");
  await assert.rejects(all, (err: unknown) => isGwsyncError(err, "GWSYNC_BROKER_UNREACHABLE"));
  assert.equal(publisher.ready, false);
});
