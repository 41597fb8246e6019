import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { afterEach, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import type { GatewayApiDto } from "../../src/artifacts/types.js";
import { isGwsyncError } from "../../src/errors.js";
import { SqliteArtifactStore } from "../../src/store/sqlite/sqlite-store.js";
import type { NewOutboxMessage, SaveArtifactResult } from "../../src/store/types.js";
import { tempDir } from "../harness/temp-dir.js";

const PROD = "Production and Sandbox";
const REPO = fileURLToPath(new URL("../../", import.meta.url));
const STORE_MODULE = new URL("../../src/store/sqlite/sqlite-store.ts", import.meta.url).href;
/** Big enough that a handful of saves overflow a few spare pages. */
const BIG_DEFINITION_CHARS = 64 * 1024;

function dto(apiId: string, definition = `<api name="${apiId}"/>`): GatewayApiDto {
  return {
    name: apiId,
    version: "1.0.0",
    provider: "admin",
    tenantDomain: "carbon.super",
    apiId,
    apiDefinition: definition,
  };
}

function event(r: SaveArtifactResult): NewOutboxMessage[] {
  return [
    { topic: "notification", messageId: `m-${r.seq}`, body: Buffer.from(r.sha256), headers: { seq: r.seq } },
  ];
}

const open: SqliteArtifactStore[] = [];
function track(store: SqliteArtifactStore): SqliteArtifactStore {
  open.push(store);
  return store;
}
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

function freshFile(): string {
  return path.join(tempDir("gwsync-durable-"), "artifacts.db");
}

/** Read the store from another process, as `gwsync status` would, and report what it saw. */
function readInChildProcess(file: string): {
  head: number;
  depth: number;
  apis: string[];
  writeError: string;
} {
  const script = `
    const { SqliteArtifactStore } = await import(${JSON.stringify(STORE_MODULE)});
    const s = SqliteArtifactStore.open(${JSON.stringify(file)}, { readonly: true });
    let writeError = "";
    try { await s.enqueue([{ topic: "t", messageId: "m", body: Buffer.from("x"), headers: {} }]); }
    catch (e) { writeError = e.code; }
    const out = { head: await s.headSeq(), depth: await s.outboxDepth(), apis: (await s.listArtifacts({})).map((a) => a.apiId), writeError };
    s.close();
    process.stdout.write(JSON.stringify(out));
  `;
  const stdout = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: REPO,
    encoding: "utf8",
    timeout: 30_000,
  });
  return JSON.parse(stdout);
}

describe("durability", () => {
  test("a reopened store keeps artifacts, changelog, outbox and continues revisions and seqs", async () => {
    const file = freshFile();
    const first = track(SqliteArtifactStore.open(file));
    await first.saveArtifact({ dto: dto("a"), labels: [PROD, "eu"], instruction: "Publish" }, event);
    await first.saveArtifact({ dto: dto("a", "<v2/>"), labels: [PROD], instruction: "Publish" }, event);
    await first.saveArtifact({ dto: dto("b"), labels: [PROD], instruction: "Publish" }, event);
    const before = {
      list: await first.listArtifacts({ includeRemoved: true, withBody: true }),
      changes: await first.changesSince(0, [PROD, "eu"]),
      outbox: await first.peekOutbox(100),
    };
    await first.close();

    const again = track(SqliteArtifactStore.open(file));
    assert.deepEqual(await again.listArtifacts({ includeRemoved: true, withBody: true }), before.list);
    assert.deepEqual(await again.changesSince(0, [PROD, "eu"]), before.changes);
    assert.deepEqual(await again.peekOutbox(100), before.outbox);
    const next = await again.saveArtifact(
      { dto: dto("a", "<v3/>"), labels: [PROD], instruction: "Publish" },
      event,
    );
    assert.equal(next.revision, 3);
    assert.equal(next.seq, 5);
  });

  test("a full store fails with GWSYNC_STORE_FULL and keeps everything committed before", async () => {
    const file = freshFile();
    const seed = track(SqliteArtifactStore.open(file));
    for (const id of ["a", "b", "c"])
      await seed.saveArtifact({ dto: dto(id), labels: [PROD], instruction: "Publish" }, event);
    await seed.close();
    const raw = new Database(file);
    const pages = raw.pragma("page_count", { simple: true }) as number;
    raw.close();

    const store = track(SqliteArtifactStore.open(file, { maxPageCount: pages + 4 }));
    const big = "x".repeat(BIG_DEFINITION_CHARS);
    let failure: unknown;
    let saved = 0;
    for (let i = 0; i < 50 && failure === undefined; i++) {
      const head = await store.headSeq();
      const depth = await store.outboxDepth();
      try {
        await store.saveArtifact(
          { dto: dto(`big-${i}`, big), labels: [PROD, "eu"], instruction: "Publish" },
          event,
        );
        saved++;
      } catch (err) {
        failure = err;
        // Nothing of the failed call remains: no artifact, no changelog row, no outbox row.
        assert.equal(await store.getArtifact(`big-${i}`, PROD), undefined);
        assert.equal(await store.getArtifact(`big-${i}`, "eu"), undefined);
        assert.equal(await store.headSeq(), head);
        assert.equal(await store.outboxDepth(), depth);
      }
    }
    assert.ok(
      isGwsyncError(failure, "GWSYNC_STORE_FULL"),
      `expected GWSYNC_STORE_FULL, got ${String(failure)} after ${saved} saves`,
    );
    assert.match(failure.message, /full/);
    assert.match(failure.message, /nothing was written/);
    assert.equal((failure.cause as { code?: string }).code, "SQLITE_FULL");
    assert.deepEqual(
      (await store.listArtifacts({ label: PROD })).map((a) => a.apiId).filter((id) => !id.startsWith("big-")),
      ["a", "b", "c"],
    );
    assert.equal((await store.getArtifact("a", PROD))?.artifactJson, JSON.stringify(dto("a")));
    assert.equal(await store.headSeq(), 3 + 2 * saved);
    // Freeing room (here: confirming the outbox) lets the store carry on.
    await (await store.claimOutbox(1000)).sent();
    assert.equal(await store.outboxDepth(), 0);
  });

  test("a second process reads the store readonly while the publisher keeps writing", async () => {
    const file = freshFile();
    const writer = track(SqliteArtifactStore.open(file));
    await writer.saveArtifact({ dto: dto("a"), labels: [PROD], instruction: "Publish" }, event);
    await writer.saveArtifact({ dto: dto("b"), labels: [PROD], instruction: "Publish" }, event);

    const seen = readInChildProcess(file);
    assert.deepEqual(seen, { head: 2, depth: 2, apis: ["a", "b"], writeError: "GWSYNC_STORE_FAILED" });

    // The reader held no lock: the writer goes on, and the next reader sees the new commit.
    await writer.saveArtifact({ dto: dto("c"), labels: [PROD], instruction: "Publish" }, event);
    assert.equal(readInChildProcess(file).head, 3);

    await writer.close();
    assert.deepEqual(
      readInChildProcess(file).apis,
      ["a", "b", "c"],
      "a readonly open also works after the writer left",
    );
  });
});
