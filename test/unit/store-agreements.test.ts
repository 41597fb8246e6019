import assert from "node:assert/strict";
import path from "node:path";
import { afterEach, describe, test } from "node:test";
import { SqliteArtifactStore } from "../../src/store/sqlite/sqlite-store.js";
import { tempDir } from "../harness/temp-dir.js";

/** The store's replication agreement records: one JSON document per (id, role), kept across a reopen. */

const opened: SqliteArtifactStore[] = [];
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
});

function open(file: string, readonly = false): SqliteArtifactStore {
  const s = SqliteArtifactStore.open(file, { readonly });
  opened.push(s);
  return s;
}

describe("store: replication agreements", () => {
  test("put, list, replace, delete by (id, role); both roles of one id are separate rows", async () => {
    const file = path.join(tempDir("gwsync-agreements-"), "artifacts.db");
    const store = open(file);
    assert.deepEqual(await store.listAgreements(), []);
    await store.putAgreement({ id: "2", role: "consumer", document: '{"a":1}', updatedAt: 10 });
    await store.putAgreement({ id: "1", role: "supplier", document: '{"b":1}', updatedAt: 11 });
    await store.putAgreement({ id: "1", role: "consumer", document: '{"c":1}', updatedAt: 12 });
    assert.deepEqual(
      (await store.listAgreements()).map((r) => `${r.id}/${r.role}`),
      ["1/consumer", "1/supplier", "2/consumer"],
    );
    await store.putAgreement({ id: "2", role: "consumer", document: '{"a":2}', updatedAt: 20 });
    const two = (await store.listAgreements()).find((r) => r.id === "2");
    assert.deepEqual(two, { id: "2", role: "consumer", document: '{"a":2}', updatedAt: 20 });

    assert.equal(await store.deleteAgreement("1", "supplier"), true);
    assert.equal(await store.deleteAgreement("1", "supplier"), false);
    assert.deepEqual(
      (await store.listAgreements()).map((r) => `${r.id}/${r.role}`),
      ["1/consumer", "2/consumer"],
    );

    await store.close();
    const again = open(file, true);
    assert.equal((await again.listAgreements()).length, 2, "agreements survive a reopen");
    await assert.rejects(
      again.putAgreement({ id: "3", role: "consumer", document: "{}", updatedAt: 1 }),
      /readonly/,
    );
  });
});
