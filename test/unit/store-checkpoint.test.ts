import assert from "node:assert/strict";
import { statSync } from "node:fs";
import path from "node:path";
import { afterEach, test } from "node:test";
import { setImmediate as nextTurn } from "node:timers/promises";
import type { GatewayApiDto } from "../../src/artifacts/types.js";
import { isGwsyncError } from "../../src/errors.js";
import { parseOutboxMessages, parseSaveInput } from "../../src/store/save-input.js";
import {
  CHECKPOINT_EVERY_COMMITS,
  SqliteArtifactStore,
  WAL_AUTOCHECKPOINT_PAGES,
} from "../../src/store/sqlite/sqlite-store.js";
import type { SaveArtifactResult } from "../../src/store/types.js";
import { tempDir } from "../harness/temp-dir.js";

const stores: SqliteArtifactStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

function dto(i: number): GatewayApiDto {
  return {
    name: "Pizza",
    version: "1.0.0",
    provider: "admin",
    tenantDomain: "carbon.super",
    apiId: "0b0e6a2c-0000-4000-8000-000000000001",
    apiDefinition: `<api name="admin--Pizza" revision="${i}">${"x".repeat(5000)}</api>`,
  };
}

const event = (r: SaveArtifactResult) => [
  {
    topic: "notification",
    messageId: `evt-${r.seq}`,
    body: Buffer.from("{}"),
    headers: { "x-gwsync-seq": r.seq },
  },
];

test("the store checkpoints its WAL on the next turn after every CHECKPOINT_EVERY_COMMITS writes, not inside a commit", async () => {
  const file = path.join(tempDir("gwsync-checkpoint-"), "artifacts.db");
  const store = SqliteArtifactStore.open(file);
  stores.push(store);
  assert.equal(store.database.pragma("wal_autocheckpoint", { simple: true }), WAL_AUTOCHECKPOINT_PAGES);
  await nextTurn(); // whatever opening scheduled
  const before = statSync(file).size;
  // Each save is a commit; none of them yields to the event loop, so no checkpoint can run between them.
  for (let i = 1; i <= CHECKPOINT_EVERY_COMMITS; i++) {
    await store.saveArtifact({ dto: dto(i), labels: ["default"], instruction: "Publish" }, event);
  }
  assert.equal(statSync(file).size, before, "the commits stay in the WAL: no checkpoint inside them");
  await nextTurn();
  assert.ok(
    statSync(file).size > before,
    "the checkpoint on the next turn copied the pages into the database file",
  );
  const [row] = store.database.pragma("wal_checkpoint(PASSIVE)") as { log: number; checkpointed: number }[];
  assert.equal(row?.checkpointed, row?.log, "nothing was left in the WAL to copy");
});

test("the hand checks before zod accept what the schema accepts and leave every refusal to it", () => {
  const ok = parseSaveInput({
    dto: dto(1),
    labels: ["a", "a", "b"],
    instruction: "Publish",
    files: ["api/x.xml"],
  });
  assert.deepEqual(ok.labels, ["a", "b"]);
  assert.equal(ok.apiType, "HTTP");
  assert.throws(
    () => parseSaveInput({ dto: dto(1), labels: [" a"], instruction: "Publish" }),
    (err: unknown) => isGwsyncError(err, "GWSYNC_ARTIFACT_INVALID") && /labels\.0/.test(err.message),
  );
  assert.throws(
    () =>
      parseSaveInput({
        dto: dto(1),
        labels: ["a"],
        instruction: "Publish",
        origin: { region: "eu", seq: 1.5 },
      }),
    (err: unknown) => isGwsyncError(err, "GWSYNC_ARTIFACT_INVALID") && /origin\.seq/.test(err.message),
  );
  const msg = { topic: "t", messageId: "m", body: Buffer.from("x"), headers: { a: 1, b: "2" } };
  assert.equal(parseOutboxMessages([msg]).length, 1);
  assert.throws(
    () => parseOutboxMessages([{ ...msg, headers: { a: Number.NaN } }]),
    (err: unknown) => isGwsyncError(err, "GWSYNC_EVENT_INVALID"),
  );
});
