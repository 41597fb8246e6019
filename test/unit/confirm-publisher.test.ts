/**
 * ConfirmPublisher.publishAll with a channel whose socket buffer is full: a confirm that fails while a
 * later message waits for 'drain' is reported to the caller, never left as an unhandled rejection
 * (B9's reconnect storm: the publisher process exited on "no publisher confirm within 10000 ms").
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { test } from "node:test";
import type { ConfirmChannel } from "amqplib";
import { ConfirmPublisher, confirmError, type OutgoingMessage } from "../../src/amqp/confirm-publisher.js";
import { isGwsyncError } from "../../src/errors.js";

/** A confirm channel that never confirms and whose buffer is full until the test emits 'drain'. */
class StuckChannel extends EventEmitter {
  published: string[] = [];
  publish(
    _exchange: string,
    routingKey: string,
    _body: Buffer,
    _options: unknown,
    _cb: (err?: unknown) => void,
  ) {
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
    const outcome = assert.rejects(all, (err: unknown) => isGwsyncError(err, "GWSYNC_BROKER_TIMEOUT"));
    // Message 1 is sent and its buffer is full: message 2 waits for 'drain' while 1's confirm times
    // out, which ends the wait. Let the timeout pass (plus turns of the loop for an unhandled
    // rejection to be reported), then a late 'drain' sends nothing more.
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(channel.published, ["m1"]);
    channel.emit("drain");
    await outcome;
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

test("a socket that never drains bounds publishAll by the confirm timeout, even when nothing of this call is in flight", async () => {
  const channel = new StuckChannel();
  const publisher = new ConfirmPublisher({ confirmTimeoutMs: 30 });
  publisher.attach(channel as unknown as ConfirmChannel);
  // An earlier call filled the buffer; its confirm fails on its own timer.
  const first = publisher.publishAll([message(1)]);
  first.catch(() => undefined);
  // This call has nothing in flight: only the drain wait's own bound can end it.
  const second = publisher.publishAll([message(2), message(3)]);
  await assert.rejects(
    second,
    (err: unknown) =>
      isGwsyncError(err, "GWSYNC_BROKER_TIMEOUT") &&
      /did not take more data/.test(String((err as Error).message)),
  );
  await assert.rejects(first, (err: unknown) => isGwsyncError(err, "GWSYNC_BROKER_TIMEOUT"));
  assert.deepEqual(channel.published, ["m1"], "nothing more is sent into a full buffer");
});

test("amqplib's confirm errors keep their meaning: a nack is a nack, a closed channel is not", () => {
  // amqplib 0.10 lib/channel.js: the 'nack' handler calls back with Error('message nacked'), the
  // 'close' handler every outstanding callback with Error('channel closed').
  const nack = confirmError(new Error("message nacked"));
  assert.equal(nack.code, "GWSYNC_BROKER_NACK");
  const closed = confirmError(new Error("channel closed"));
  assert.equal(closed.code, "GWSYNC_BROKER_UNREACHABLE");
  assert.match(closed.message, /channel closed/);
  assert.equal(closed.retryable, true);
});

/** A confirm channel that answers every publish at once, with a nack or an ack as the test says. */
class AnsweringChannel extends EventEmitter {
  nack = true;
  publish(
    _exchange: string,
    _routingKey: string,
    _body: Buffer,
    _options: unknown,
    cb: (err?: unknown) => void,
  ) {
    const nack = this.nack;
    setImmediate(() => cb(nack ? new Error("message nacked") : null));
    return true;
  }
}

test("a channel whose every publish is nacked for the streak time is reported stuck, once; a confirm in between resets the streak", async () => {
  const stuck: string[] = [];
  const channel = new AnsweringChannel();
  const publisher = new ConfirmPublisher({ nackStreakMs: 30, onStuckChannel: (r) => stuck.push(r) });
  publisher.attach(channel as unknown as ConfirmChannel);
  const publishNacked = () =>
    assert.rejects(publisher.publish(message(1)), (err: unknown) => isGwsyncError(err, "GWSYNC_BROKER_NACK"));

  // Nacks, then one ack before the streak time: no report.
  for (let i = 0; i < 3; i++) await publishNacked();
  channel.nack = false;
  await publisher.publish(message(2));
  await new Promise((r) => setTimeout(r, 40));
  channel.nack = true;
  await publishNacked();
  assert.deepEqual(stuck, [], "an ack in between ends the streak");

  // Nacks only, over more than the streak time: reported once, however many nacks follow.
  for (let i = 0; i < 3; i++) await publishNacked();
  await new Promise((r) => setTimeout(r, 40));
  for (let i = 0; i < 5; i++) await publishNacked();
  assert.equal(stuck.length, 1);
  assert.match(stuck[0]!, /nacked every publish on this channel for \d+ ms \(\d+ nacks/);

  // A new channel starts a new streak.
  const next = new AnsweringChannel();
  publisher.attach(next as unknown as ConfirmChannel);
  for (let i = 0; i < 3; i++) await publishNacked();
  await new Promise((r) => setTimeout(r, 40));
  await publishNacked();
  assert.equal(stuck.length, 2);
});

test("timeouts and closed channels do not count as nacks", async () => {
  const stuck: string[] = [];
  const channel = new StuckChannel();
  const publisher = new ConfirmPublisher({
    confirmTimeoutMs: 5,
    nackStreakMs: 0,
    onStuckChannel: (r) => stuck.push(r),
  });
  publisher.attach(channel as unknown as ConfirmChannel);
  for (let i = 0; i < 4; i++) {
    channel.emit("drain");
    await assert.rejects(publisher.publish(message(i)), (err: unknown) =>
      isGwsyncError(err, "GWSYNC_BROKER_TIMEOUT"),
    );
  }
  assert.deepEqual(stuck, []);
});

test("a channel whose publish throws (closing, its CloseOk not yet read) is not ready until a new one is attached", async () => {
  // amqplib's Channel.publish throws IllegalOperationError "Channel closing" / "Connection closing"
  // once close() was called; 'close' comes only with the CloseOk frame or the socket's end.
  class ClosingChannel extends EventEmitter {
    publish(): boolean {
      const err = new Error("Connection closing");
      err.name = "IllegalOperationError";
      throw err;
    }
  }
  const publisher = new ConfirmPublisher({ confirmTimeoutMs: 1000 });
  const closing = new ClosingChannel();
  publisher.attach(closing as unknown as ConfirmChannel);
  assert.equal(publisher.ready, true);
  await assert.rejects(publisher.publishAll([message(1)]), (err: unknown) =>
    isGwsyncError(err, "GWSYNC_BROKER_UNREACHABLE"),
  );
  assert.equal(publisher.ready, false, "not ready: a caller waiting for ready does not spin on it");
  closing.emit("close");
  assert.equal(publisher.ready, false);
  const next = new StuckChannel();
  publisher.attach(next as unknown as ConfirmChannel);
  assert.equal(publisher.ready, true, "the next channel attached is used");
});
