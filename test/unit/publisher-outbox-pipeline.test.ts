import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, test } from "node:test";
import type { ConfirmPublisher, OutgoingMessage } from "../../src/amqp/confirm-publisher.js";
import { silentLogger } from "../../src/log.js";
import {
  MAX_ROUNDS_IN_FLIGHT,
  OutboxDispatcher,
  type OutboxDispatcherOptions,
} from "../../src/publisher/outbox-dispatcher.js";
import type { OutboxMessage } from "../../src/store/types.js";
import { fakeOutbox } from "../harness/fake-outbox.js";

/** An in-memory outbox (test/harness/fake-outbox.ts) holding `count` rows m1..m<count>. */
function fakeStore(count: number) {
  const rows: OutboxMessage[] = Array.from({ length: count }, (_, i) => ({
    id: i + 1,
    topic: "notification",
    messageId: `m${i + 1}`,
    body: Buffer.from(`{"n":${i + 1}}`),
    headers: {},
    createdAt: 1,
    attempts: 0,
  }));
  return fakeOutbox(rows);
}

/** A broker whose confirms the test releases (or fails) round by round. */
function heldPublisher() {
  const rounds: { messages: OutgoingMessage[]; confirm: () => void; fail: (e: Error) => void }[] = [];
  const events = new EventEmitter();
  const publisher = {
    ready: true,
    publishAll: (messages: OutgoingMessage[]) =>
      new Promise<void>((resolve, reject) => {
        rounds.push({ messages, confirm: resolve, fail: reject });
        events.emit("round");
      }),
  } as unknown as ConfirmPublisher;
  const roundCount = (n: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`only ${rounds.length} of ${n} rounds published`)),
        5000,
      );
      const check = () => {
        if (rounds.length >= n) {
          clearTimeout(timer);
          events.off("round", check);
          resolve();
        }
      };
      events.on("round", check);
      check();
    });
  return { publisher, rounds, roundCount };
}

/** A started dispatcher reading two rows per round. */
function startDispatcher(
  store: OutboxDispatcherOptions["store"],
  publisher: OutboxDispatcherOptions["publisher"],
  pollMs: number,
): OutboxDispatcher {
  const d = new OutboxDispatcher({
    store,
    publisher,
    exchange: "x",
    logger: silentLogger,
    batchSize: 2,
    pollMs,
  });
  d.start();
  return d;
}

const ids = (r: { messages: OutgoingMessage[] }) => r.messages.map((m) => m.options.messageId);

describe("OutboxDispatcher pipelining", () => {
  test("publishes the next rows while earlier ones wait for their confirms, up to the round limit", async () => {
    const { store, left } = fakeStore(10);
    const { publisher, rounds, roundCount } = heldPublisher();
    const d = startDispatcher(store, publisher, 10_000);
    await roundCount(MAX_ROUNDS_IN_FLIGHT);
    // Nothing confirmed yet, and no fifth round: the window is full.
    assert.equal(rounds.length, MAX_ROUNDS_IN_FLIGHT);
    assert.deepEqual(rounds.map(ids), [
      ["m1", "m2"],
      ["m3", "m4"],
      ["m5", "m6"],
      ["m7", "m8"],
    ]);
    assert.equal(left().length, 10, "nothing is deleted before its confirm");
    rounds[0]!.confirm();
    await roundCount(MAX_ROUNDS_IN_FLIGHT + 1);
    assert.deepEqual(ids(rounds[4]!), ["m9", "m10"]);
    assert.deepEqual(left().slice(0, 2), ["m3", "m4"], "a confirmed round is deleted");
    for (const r of rounds.slice(1)) r.confirm();
    await d.stop(1000);
    assert.deepEqual(left(), []);
  });

  test("a failed round releases its rows: every row not yet confirmed is published again", async () => {
    const { store, left } = fakeStore(6);
    const { publisher, rounds, roundCount } = heldPublisher();
    const d = startDispatcher(store, publisher, 10);
    await roundCount(3);
    rounds[0]!.confirm();
    rounds[1]!.fail(new Error("channel closed"));
    rounds[2]!.fail(new Error("channel closed"));
    // The failed rounds gave their rows back: the next claims take m3..m6 again.
    await roundCount(5);
    const resent = rounds.slice(3).flatMap(ids);
    assert.deepEqual(resent.slice(0, 4), ["m3", "m4", "m5", "m6"]);
    for (const r of rounds.slice(3)) r.confirm();
    await d.stop(1000);
    assert.deepEqual(left(), [], "everything confirmed in the end, nothing lost");
  });

  test("a publish that fails at once, with the publisher still ready, is retried after a pause, never in a loop of promises alone", async () => {
    // The publisher froze so in the quorum-cluster fault test: a connection renewed after a nack
    // streak is 'closing' until its CloseOk is read, and each claim's publish failed at once; claims
    // and failures were all promises, so the event loop never read that frame nor ran a timer.
    const { store, left } = fakeStore(4);
    let calls = 0;
    const publisher = {
      get ready() {
        // The old loop never yields: end it after many calls, so that the test fails instead of hanging.
        return calls < 5000;
      },
      publishAll: () => {
        calls++;
        return Promise.reject(new Error("Connection closing"));
      },
    } as unknown as ConfirmPublisher;
    const d = startDispatcher(store, publisher, 50);
    await new Promise((r) => setTimeout(r, 120));
    const during = calls;
    calls = 5000;
    await d.stop(100);
    assert.ok(during >= 2, `the rows were tried again after the pause (${during} publishes)`);
    assert.ok(
      during <= 4 * MAX_ROUNDS_IN_FLIGHT,
      `${during} publishes in 120 ms with a 50 ms pause after a failure`,
    );
    assert.deepEqual(left(), ["m1", "m2", "m3", "m4"], "nothing lost: the rows stay in the outbox");
  });

  test("another node's commit, reported by the store, wakes the dispatcher without waiting for the poll", async () => {
    const outbox = fakeStore(0);
    const { publisher, rounds, roundCount } = heldPublisher();
    const d = startDispatcher(outbox.store, publisher, 600_000);
    outbox.commitElsewhere([
      {
        id: 1,
        topic: "notification",
        messageId: "n1",
        body: Buffer.from("{}"),
        headers: {},
        createdAt: 1,
        attempts: 0,
      },
    ]);
    await roundCount(1);
    assert.deepEqual(ids(rounds[0]!), ["n1"]);
    rounds[0]!.confirm();
    await d.stop(1000);
    assert.deepEqual(outbox.left(), []);
  });

  test("two dispatchers on one outbox never publish the same row", async () => {
    const outbox = fakeStore(40);
    const a = heldPublisher();
    const b = heldPublisher();
    const da = startDispatcher(outbox.store, a.publisher, 10);
    const db = startDispatcher(outbox.store, b.publisher, 10);
    await Promise.all([a.roundCount(MAX_ROUNDS_IN_FLIGHT), b.roundCount(MAX_ROUNDS_IN_FLIGHT)]);
    const inFlight = [...a.rounds, ...b.rounds].flatMap(ids);
    assert.equal(new Set(inFlight).size, inFlight.length, "no row is in two rounds at once");
    // Confirm everything as it comes until the outbox is empty.
    const confirmAll = setInterval(() => {
      for (const r of [...a.rounds, ...b.rounds]) r.confirm();
    }, 5);
    try {
      await da.stop(5000);
      await db.stop(5000);
    } finally {
      clearInterval(confirmAll);
    }
    const published = [...a.rounds, ...b.rounds].flatMap(ids);
    assert.equal(published.length, 40, "each of the 40 rows published exactly once");
    assert.equal(new Set(published).size, 40);
    assert.deepEqual(outbox.left(), []);
  });
});
