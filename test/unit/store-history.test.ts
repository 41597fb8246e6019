import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import path from "node:path";
import { after, describe, test } from "node:test";
import Database from "better-sqlite3";
import type { GatewayApiDto } from "../../src/artifacts/types.js";
import { diffRevisions, DTO_FIELDS_FILE, revisionFiles } from "../../src/publisher/revisions.js";
import { SqliteArtifactStore } from "../../src/store/sqlite/sqlite-store.js";
import type { ArtifactStore } from "../../src/store/types.js";
import { tempDir } from "../harness/temp-dir.js";

/**
 * History on every store: what `gwsync history`, `rollback` and `diff` read. Each engine in ENGINES runs
 * the same tests (the Git store joins the list when it exists).
 */

const sha = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");

function dto(apiId: string, body: string, extra: Partial<GatewayApiDto> = {}): GatewayApiDto {
  return {
    name: "PizzaShackAPI",
    version: "1.0.0",
    provider: "admin",
    tenantDomain: "carbon.super",
    apiId,
    apiDefinition: `<api xmlns="http://ws.apache.org/ns/synapse" name="admin--PizzaShackAPI" context="/pizza/1.0.0" version="1.0.0" version-type="context">\n  <resource methods="GET" url-mapping="/*">\n    <inSequence><property name="v" value="${body}"/></inSequence>\n  </resource>\n</api>\n`,
    ...extra,
  };
}

interface Engine {
  name: string;
  open(): Promise<ArtifactStore>;
}

const opened: ArtifactStore[] = [];
after(async () => {
  for (const s of opened.splice(0)) await s.close();
});

const ENGINES: Engine[] = [
  {
    name: "sqlite",
    open: async () => {
      const s = SqliteArtifactStore.open(path.join(tempDir("gwsync-history-"), "artifacts.db"), { region: "r1" });
      opened.push(s);
      return s;
    },
  },
];

for (const engine of ENGINES) {
  describe(`history on the ${engine.name} store`, () => {
    test("one revision per change, newest first, with its labels, sha256, seq, origin and commit", async () => {
      const store = await engine.open();
      const d1 = dto("api-h1", "one");
      const d2 = dto("api-h1", "two");
      const r1 = await store.saveArtifact({ dto: d1, labels: ["A", "B"], instruction: "Publish" }, () => []);
      const commit = "a".repeat(40);
      const r2 = await store.saveArtifact(
        { dto: d2, labels: ["A"], instruction: "Publish", sourceCommit: commit },
        () => [],
      );
      const r3 = await store.saveArtifact({ dto: d2, labels: ["B"], instruction: "Remove" }, () => []);
      // An identical re-publish is no revision at all.
      const same = await store.saveArtifact({ dto: d2, labels: ["A"], instruction: "Publish" }, () => []);
      assert.equal(same.changed, false);

      const h = await store.apiHistory("api-h1");
      assert.deepEqual(
        h.map((r) => [r.revision, r.instruction, r.labels, r.sha256]),
        [
          [3, "Remove", ["B"], sha(JSON.stringify(d1))],
          [2, "Publish", ["A"], sha(JSON.stringify(d2))],
          [1, "Publish", ["A", "B"], sha(JSON.stringify(d1))],
        ],
      );
      assert.equal(h[2]!.seq, r1.seq, "a revision on two labels reports its highest seq");
      assert.equal(h[1]!.seq, r2.seq);
      assert.equal(h[0]!.seq, r3.seq);
      assert.equal(h[1]!.commit, commit);
      assert.equal(h[2]!.commit, undefined);
      assert.ok(h.every((r) => r.originRegion === "r1" && r.hasContent));
      assert.deepEqual(
        (await store.apiHistory("api-h1", 2)).map((r) => r.revision),
        [3, 2],
        "limit keeps the newest",
      );
      assert.deepEqual(await store.apiHistory("never-stored"), []);
    });

    test("getRevision returns the exact bytes each revision published", async () => {
      const store = await engine.open();
      const d1 = dto("api-h2", "one");
      // Bytes that are not JSON.stringify's own (indented) come back as they were stored.
      const exact = JSON.stringify(d1, null, 1);
      await store.saveArtifact({ dto: d1, labels: ["A"], instruction: "Publish", artifactJson: exact }, () => []);
      await store.saveArtifact({ dto: dto("api-h2", "two"), labels: ["A"], instruction: "Publish" }, () => []);
      const one = await store.getRevision("api-h2", 1);
      assert.equal(one?.artifactJson, exact);
      assert.equal(one?.record.sha256, sha(exact));
      assert.equal((await store.getRevision("api-h2", 2))?.artifactJson, JSON.stringify(dto("api-h2", "two")));
      assert.equal(await store.getRevision("api-h2", 3), undefined);
      assert.equal(await store.getRevision("api-h2", 0), undefined);
      assert.equal(await store.getRevision("other", 1), undefined);
    });

    test("a relayed revision keeps its origin region and revision", async () => {
      const store = await engine.open();
      await store.saveArtifact(
        {
          dto: dto("api-h3", "x"),
          labels: ["A"],
          instruction: "Publish",
          origin: { region: "eu", seq: 7, revision: 4 },
        },
        () => [],
      );
      const [r] = await store.apiHistory("api-h3");
      assert.equal(r?.revision, 4);
      assert.equal(r?.originRegion, "eu");
    });

    test("a source commit that is not a full commit id is refused, nothing stored", async () => {
      const store = await engine.open();
      await assert.rejects(
        store.saveArtifact({ dto: dto("api-h4", "x"), labels: ["A"], instruction: "Publish", sourceCommit: "abc" }, () => []),
        { code: "GWSYNC_ARTIFACT_INVALID" },
      );
      assert.deepEqual(await store.apiHistory("api-h4"), []);
    });
  });
}

describe("SQLite history storage", () => {
  test("the same bytes are kept once however many revisions publish them", async () => {
    const file = path.join(tempDir("gwsync-history-"), "artifacts.db");
    const store = SqliteArtifactStore.open(file);
    const a = dto("api-d", "a");
    const b = dto("api-d", "b");
    for (const d of [a, b, a, b, a]) await store.saveArtifact({ dto: d, labels: ["A"], instruction: "Publish" }, () => []);
    await store.close();
    const db = new Database(file, { readonly: true });
    try {
      const n = db.prepare("SELECT COUNT(*) FROM GWSYNC_ARTIFACT_BODIES").pluck().get();
      assert.equal(n, 2);
    } finally {
      db.close();
    }
  });

  test("a store made before history (schema 3) keeps every artifact it holds as the current revision's bytes", async () => {
    const file = path.join(tempDir("gwsync-history-"), "artifacts.db");
    const store = SqliteArtifactStore.open(file);
    const d = dto("api-old", "old");
    await store.saveArtifact({ dto: d, labels: ["A"], instruction: "Publish" }, () => []);
    await store.saveArtifact({ dto: dto("api-old2", "gone"), labels: ["A"], instruction: "Publish" }, () => []);
    await store.saveArtifact({ dto: dto("api-old2", "gone"), labels: ["A"], instruction: "Remove" }, () => []);
    await store.close();
    // Back to what schema 3 had: no bodies table, no SOURCE_COMMIT column.
    const raw = new Database(file);
    raw.exec(
      "DROP TABLE GWSYNC_ARTIFACT_BODIES; DROP INDEX GWSYNC_IDX_CHANGELOG_API; ALTER TABLE GWSYNC_CHANGELOG DROP COLUMN SOURCE_COMMIT;",
    );
    raw.pragma("user_version = 3");
    raw.close();
    const reopened = SqliteArtifactStore.open(file);
    try {
      assert.equal((await reopened.getRevision("api-old", 1))?.artifactJson, JSON.stringify(d));
      // A removed API's row keeps its last artifact: that is kept too (the revision it removed).
      const removed = await reopened.getRevision("api-old2", 2);
      assert.equal(removed?.record.instruction, "Remove");
      assert.equal(removed?.artifactJson, JSON.stringify(dto("api-old2", "gone")));
    } finally {
      await reopened.close();
    }
  });
});

describe("diff of two revisions", () => {
  test("shows each changed file as a unified diff and never a credential's password", () => {
    const a = dto("api-x", "one", { credentialsToBeAdd: [{ alias: "ep", password: "s3cret-one" }] });
    const b = dto("api-x", "two", {
      credentialsToBeAdd: [{ alias: "ep", password: "s3cret-two" }],
      sequenceToBeAdd: [{ name: "in-seq", content: "<sequence name=\"in-seq\"/>" }],
    });
    const rec = (revision: number, json: string) => ({
      record: {
        revision,
        instruction: "Publish" as const,
        labels: ["A"],
        sha256: sha(json),
        seq: revision,
        createdAt: 0,
        originRegion: "r1",
        hasContent: true,
      },
      artifactJson: json,
    });
    const d = diffRevisions("api-x", rec(1, JSON.stringify(a)), rec(2, JSON.stringify(b)));
    assert.deepEqual(d.files, [
      { path: "api/admin--PizzaShackAPI_v1.0.0.xml", status: "modified" },
      { path: "sequences/in-seq.xml", status: "added" },
    ]);
    assert.match(d.patch, /^--- a\/api\/admin--PizzaShackAPI_v1\.0\.0\.xml\trevision 1$/m);
    assert.match(d.patch, /^\+\+\+ b\/api\/admin--PizzaShackAPI_v1\.0\.0\.xml\trevision 2$/m);
    assert.match(d.patch, /^- {4}<inSequence><property name="v" value="one"\/><\/inSequence>$/m);
    assert.match(d.patch, /^\+ {4}<inSequence><property name="v" value="two"\/><\/inSequence>$/m);
    assert.match(d.patch, /^\+<sequence name="in-seq"\/>$/m);
    assert.doesNotMatch(d.patch, /s3cret/);
    assert.doesNotMatch(revisionFiles(JSON.stringify(a)).get(DTO_FIELDS_FILE) ?? "", /s3cret/);
    assert.deepEqual(diffRevisions("api-x", rec(1, JSON.stringify(a)), rec(3, JSON.stringify(a))).files, []);
  });
});
