import assert from "node:assert/strict";
import path from "node:path";
import { afterEach, describe, test } from "node:test";
import { isGwsyncError } from "../../src/errors.js";
import { idRuns, SqliteArtifactStore } from "../../src/store/sqlite/sqlite-store.js";
import type { NewOutboxMessage } from "../../src/store/types.js";
import { tempDir } from "../harness/temp-dir.js";

const stores: SqliteArtifactStore[] = [];
function openTemp(now?: () => number): SqliteArtifactStore {
  const dir = tempDir("gwsync-store-");
  const store = SqliteArtifactStore.open(path.join(dir, "artifacts.db"), now ? { now } : {});
  stores.push(store);
  return store;
}
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

function message(i: number, topic = "tokenRevocation"): NewOutboxMessage {
  return {
    topic,
    messageId: `msg-${i}`,
    body: Buffer.from(`{"event":{"payloadData":{"n":${i}}}}`),
    headers: { "x-gwsync-origin": "region-a", "x-gwsync-hops": 0 },
  };
}

describe("outbox", () => {
  test("sent() deletes a claim whose ids have gaps (rows another claim holds) row for row, by runs", async () => {
    const store = openTemp();
    await store.enqueue(Array.from({ length: 10 }, (_, i) => message(i + 1)));
    const a = await store.claimOutbox(2);
    const b = await store.claimOutbox(2);
    await a.release();
    // msg-1, msg-2 again, then past b's msg-3 and msg-4: msg-5, msg-6; and msg-8 after a gap left by
    // a fourth claim of msg-7.
    const c = await store.claimOutbox(4);
    const d = await store.claimOutbox(1);
    const e = await store.claimOutbox(1);
    assert.deepEqual(
      [c, d, e].map((x) => x.rows.map((r) => r.messageId)),
      [["msg-1", "msg-2", "msg-5", "msg-6"], ["msg-7"], ["msg-8"]],
    );
    await c.sent();
    await e.sent();
    assert.deepEqual(
      (await store.peekOutbox(20)).map((r) => r.messageId),
      ["msg-3", "msg-4", "msg-7", "msg-9", "msg-10"],
    );
    await b.sent();
    await d.sent();
    assert.deepEqual(
      (await store.peekOutbox(20)).map((r) => r.messageId),
      ["msg-9", "msg-10"],
    );
  });

  test("idRuns: consecutive ids as [first, last] pairs, in order", () => {
    assert.deepEqual(idRuns([1, 2, 3, 7, 9, 10]), [
      [1, 3],
      [7, 7],
      [9, 10],
    ]);
    assert.deepEqual(idRuns([]), []);
    assert.deepEqual(idRuns([5, 6, 4]), [
      [5, 6],
      [4, 4],
    ]);
  });

  test("claimOutbox hands out rows oldest first, and sent() removes exactly the claimed rows", async () => {
    let clock = 1_000;
    const store = openTemp(() => clock++);
    await store.enqueue([message(1), message(2)]);
    await store.enqueue([message(3, "keyManager")]);
    assert.equal(await store.outboxDepth(), 3);
    const rows = await store.peekOutbox(10);
    assert.deepEqual(
      rows.map((r) => r.messageId),
      ["msg-1", "msg-2", "msg-3"],
    );
    assert.deepEqual(
      rows.map((r) => r.createdAt),
      [1_000, 1_000, 1_001],
    );
    const first = await store.claimOutbox(2);
    assert.deepEqual(
      first.rows.map((r) => r.messageId),
      ["msg-1", "msg-2"],
    );
    // A second claim never hands out a row the first one holds.
    const second = await store.claimOutbox(10);
    assert.deepEqual(
      second.rows.map((r) => r.messageId),
      ["msg-3"],
    );
    assert.deepEqual((await store.claimOutbox(10)).rows, [], "everything is claimed");
    await second.sent();
    assert.deepEqual(
      (await store.peekOutbox(10)).map((r) => r.messageId),
      ["msg-1", "msg-2"],
    );
    await first.sent();
    await first.sent(); // a claim ends once: harmless
    assert.equal(await store.outboxDepth(), 0);
  });

  test("a released claim's rows are handed out again, oldest first, with one more attempt", async () => {
    const store = openTemp();
    await store.enqueue([message(1), message(2), message(3)]);
    const a = await store.claimOutbox(1);
    const b = await store.claimOutbox(1);
    await a.release();
    const again = await store.claimOutbox(10);
    assert.deepEqual(
      again.rows.map((r) => [r.messageId, r.attempts]),
      [
        ["msg-1", 1],
        ["msg-3", 0],
      ],
      "msg-2 is still held by the other claim",
    );
    await again.release();
    await b.sent();
    assert.deepEqual(
      (await store.peekOutbox(10)).map((r) => [r.messageId, r.attempts]),
      [
        ["msg-1", 2],
        ["msg-3", 1],
      ],
    );
  });

  test("body bytes and headers round-trip exactly", async () => {
    const store = openTemp();
    const body = Buffer.from([0x00, 0xff, 0x7b, 0xc3, 0xa9, 0x0a, 0x00]);
    const headers = {
      "x-gwsync-seq": 42,
      "x-gwsync-sha256": "ab".repeat(32),
      "x-gwsync-origin": "région-b",
      n: -1.5,
    };
    await store.enqueue([{ topic: "notification", messageId: "m-1", body, headers }]);
    const [row] = await store.peekOutbox(1);
    assert.ok(row);
    assert.ok(Buffer.isBuffer(row.body));
    assert.deepEqual(row.body, body);
    assert.deepEqual(row.headers, headers);
    assert.equal(row.topic, "notification");
    assert.equal(row.attempts, 0);
  });

  test("enqueue refuses a malformed message and writes none of the batch", async () => {
    const store = openTemp();
    await assert.rejects(
      () => store.enqueue([message(1), { ...message(2), topic: "" }]),
      (err: unknown) => isGwsyncError(err, "GWSYNC_EVENT_INVALID") && /topic/.test(err.message),
    );
    assert.equal(await store.outboxDepth(), 0);
    await assert.rejects(
      () => store.claimOutbox(0),
      (err: unknown) => isGwsyncError(err, "GWSYNC_USAGE"),
    );
  });
});
