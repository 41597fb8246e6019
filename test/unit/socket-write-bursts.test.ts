/**
 * coalesceSocketWrites: amqplib's muxer writes each queued frame to the socket on its own, so with
 * noDelay a round of publishes was one write(2) and one TCP segment per message (BENCHMARKS.md, B4:
 * the broker read gwsync's publisher in ~1,100 small reads). Wrapped, one muxer pass is one write,
 * in the same order, and nothing waits past the pass. Runs amqplib's own Mux over a Writable that
 * records what reaches it.
 */
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { PassThrough, Writable } from "node:stream";
import { test } from "node:test";
import type { Channel } from "amqplib";
import { coalesceSocketWrites } from "../../src/amqp/confirm-publisher.js";

const require = createRequire(import.meta.url);
// Not in amqplib's exports: loaded by its path, beside the package's entry point.
const { Mux } = require(join(dirname(require.resolve("amqplib")), "lib", "mux.js")) as {
  Mux: new (out: Writable) => unknown;
};

/** A socket stand-in: each _write/_writev is one syscall; the kernel always has room (sync callback). */
class Sink extends Writable {
  calls = 0;
  received: Buffer[] = [];
  constructor() {
    super({ highWaterMark: 64 * 1024 });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.calls++;
    this.received.push(chunk);
    cb();
  }
  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    this.calls++;
    for (const c of chunks) this.received.push(c.chunk);
    cb();
  }
}

/** A channel as amqplib builds it: its frames go through a PassThrough piped into the muxer. */
function fakeConnection(coalesce: boolean) {
  const socket = new Sink();
  const muxer = new Mux(socket) as { pipeFrom(r: PassThrough): void };
  const buffer = new PassThrough({ objectMode: true, highWaterMark: 2048 });
  muxer.pipeFrom(buffer);
  const channel = { connection: { muxer, stream: socket } } as unknown as Channel;
  const wrapped = coalesce ? coalesceSocketWrites(channel) : false;
  return { socket, buffer, channel, wrapped };
}

const frame = (i: number) => Buffer.from(`frame ${i} `.padEnd(400, "."));
const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

test("a round of 256 frames reaches the socket in a few writes, in order, where it took one write each", async () => {
  for (const coalesce of [false, true]) {
    const { socket, buffer, wrapped } = fakeConnection(coalesce);
    assert.equal(wrapped, coalesce);
    const sent = Array.from({ length: 256 }, (_, i) => frame(i));
    for (const f of sent) buffer.write(f);
    await turns(10);
    assert.deepEqual(Buffer.concat(socket.received), Buffer.concat(sent), "every byte, in order");
    if (coalesce) {
      // ~100 KB against a 64 KB high-water mark: the muxer stops once and goes on at 'drain'.
      assert.ok(socket.calls <= 3, `one write per muxer pass, got ${socket.calls}`);
      assert.equal(socket.writableCorked, 0, "the socket is left uncorked");
    } else {
      assert.equal(socket.calls, 256, "amqplib alone: one write per frame");
    }
  }
});

test("a single frame leaves on the muxer's own pass, not held back", async () => {
  const { socket, buffer } = fakeConnection(true);
  buffer.write(frame(1));
  // The muxer's pass is the immediate after the frame's 'readable': two turns at most.
  await turns(2);
  assert.equal(socket.calls, 1);
  assert.deepEqual(socket.received, [frame(1)]);
});

test("wrapping twice wraps once, and an unknown shape is left alone", async () => {
  const { socket, buffer, channel } = fakeConnection(true);
  const muxer = (channel as unknown as { connection: { muxer: { _readIncoming: unknown } } }).connection.muxer;
  const pass = muxer._readIncoming;
  assert.equal(coalesceSocketWrites(channel), true);
  assert.equal(muxer._readIncoming, pass, "not wrapped a second time");
  for (let i = 0; i < 3; i++) buffer.write(frame(i));
  await turns(2);
  assert.equal(socket.calls, 1, "one pass, one write");
  assert.equal(socket.writableCorked, 0);
  assert.equal(coalesceSocketWrites({} as Channel), false);
  assert.equal(coalesceSocketWrites({ connection: { muxer: {}, stream: socket } } as unknown as Channel), false);
});
