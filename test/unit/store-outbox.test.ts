import assert from "node:assert/strict";
import path from "node:path";
import { afterEach, describe, test } from "node:test";
import { isGwsyncError } from "../../src/errors.js";
import { SqliteArtifactStore } from "../../src/store/sqlite/sqlite-store.js";
import type { NewOutboxMessage } from "../../src/store/types.js";
import { tempDir } from "../harness/temp-dir.js";

const stores: SqliteArtifactStore[] = [];
function openTemp(now?: () => number): SqliteArtifactStore {
  const dir = tempDir("gwsync-store-");
  const store = SqliteArtifactStore.open(path.join(dir, "artifacts.db"), now ? { now } : {});
  stores.push(store);
  return store;
}
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
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
  test("pendingOutbox returns rows oldest first and markSent removes exactly the given ids", () => {
    let clock = 1_000;
    const store = openTemp(() => clock++);
    store.enqueue([message(1), message(2)]);
    store.enqueue([message(3, "keyManager")]);
    assert.equal(store.outboxDepth(), 3);
    const rows = store.pendingOutbox(10);
    assert.deepEqual(
      rows.map((r) => r.messageId),
      ["msg-1", "msg-2", "msg-3"],
    );
    assert.deepEqual(
      rows.map((r) => r.createdAt),
      [1_000, 1_000, 1_001],
    );
    assert.deepEqual(
      store.pendingOutbox(2).map((r) => r.messageId),
      ["msg-1", "msg-2"],
    );
    store.markSent([rows[0]!.id, rows[2]!.id]);
    assert.deepEqual(
      store.pendingOutbox(10).map((r) => r.messageId),
      ["msg-2"],
    );
    assert.equal(store.outboxDepth(), 1);
    store.markSent([rows[0]!.id]); // already gone: harmless (a confirm can be processed twice)
    store.markSent([]);
    assert.equal(store.outboxDepth(), 1);
  });

  test("body bytes and headers round-trip exactly", () => {
    const store = openTemp();
    const body = Buffer.from([0x00, 0xff, 0x7b, 0xc3, 0xa9, 0x0a, 0x00]);
    const headers = {
      "x-gwsync-seq": 42,
      "x-gwsync-sha256": "ab".repeat(32),
      "x-gwsync-origin": "région-b",
      n: -1.5,
    };
    store.enqueue([{ topic: "notification", messageId: "m-1", body, headers }]);
    const [row] = store.pendingOutbox(1);
    assert.ok(row);
    assert.ok(Buffer.isBuffer(row.body));
    assert.deepEqual(row.body, body);
    assert.deepEqual(row.headers, headers);
    assert.equal(row.topic, "notification");
    assert.equal(row.attempts, 0);
  });

  test("recordAttempt counts publish attempts per row", () => {
    const store = openTemp();
    store.enqueue([message(1), message(2)]);
    const [a, b] = store.pendingOutbox(2);
    store.recordAttempt([a!.id]);
    store.recordAttempt([a!.id, b!.id]);
    assert.deepEqual(
      store.pendingOutbox(2).map((r) => r.attempts),
      [2, 1],
    );
  });

  test("enqueue refuses a malformed message and writes none of the batch", () => {
    const store = openTemp();
    assert.throws(
      () => store.enqueue([message(1), { ...message(2), topic: "" }]),
      (err: unknown) => isGwsyncError(err, "GWSYNC_EVENT_INVALID") && /topic/.test(err.message),
    );
    assert.equal(store.outboxDepth(), 0);
    assert.throws(
      () => store.pendingOutbox(0),
      (err: unknown) => isGwsyncError(err, "GWSYNC_USAGE"),
    );
  });
});
