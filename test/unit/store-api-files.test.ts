import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import Database from "better-sqlite3";
import type { GatewayApiDto } from "../../src/artifacts/types.js";
import { isGwsyncError } from "../../src/errors.js";
import { apiFiles } from "../../src/store/api-files.js";
import { openStore } from "../../src/store/open-store.js";
import { synapseApi } from "../harness/cluster.js";
import { tempDir } from "../harness/temp-dir.js";

const LABEL = "P";

/** provider a--b + name X and provider a + name b--X are both file api/a--b--X_v1.xml (issue item 4). */
function colliding(): [GatewayApiDto, GatewayApiDto] {
  const xml = synapseApi({ provider: "a--b", name: "X", version: "1" });
  const dto = (provider: string, name: string, apiId: string): GatewayApiDto => ({
    name,
    version: "1",
    provider,
    tenantDomain: "carbon.super",
    apiId,
    apiDefinition: xml,
  });
  return [dto("a--b", "X", "aaaaaaaa-0000-4000-8000-000000000001"), dto("a", "b--X", "aaaaaaaa-0000-4000-8000-000000000002")];
}

const conflict = (err: unknown) => isGwsyncError(err, "GWSYNC_ARTIFACT_CONFLICT") && err.status === 409;

describe("one file, one API: the store refuses an API whose file another API owns on a label (409)", () => {
  test("the second of two APIs that map to one file is refused on a shared label, with nothing stored", async () => {
    const store = openStore({ type: "sqlite", url: join(tempDir("gwsync-files-"), "a.db") });
    try {
      const [first, second] = colliding();
      assert.deepEqual(apiFiles(first), apiFiles(second));
      await store.saveArtifact({ dto: first, labels: [LABEL], instruction: "Publish", files: apiFiles(first) }, () => []);
      const head = await store.headSeq();
      await assert.rejects(
        async () => store.saveArtifact({ dto: second, labels: ["Q", LABEL], instruction: "Publish", files: apiFiles(second) }, () => []),
        (err) => conflict(err) && /api\/a--b--X_v1\.xml on label "P", which API aaaaaaaa-0000-4000-8000-000000000001 owns/.test((err as Error).message),
      );
      assert.equal(await store.headSeq(), head, "nothing of it was stored, not even on label Q");
      // Another label only is fine: each label's gateways hold their own files.
      await store.saveArtifact({ dto: second, labels: ["Q"], instruction: "Publish", files: apiFiles(second) }, () => []);
      // Once the first is removed from P, the second may take the file there.
      await store.saveArtifact({ dto: first, labels: [LABEL], instruction: "Remove" }, () => []);
      await store.saveArtifact({ dto: second, labels: [LABEL], instruction: "Publish", files: apiFiles(second) }, () => []);
      // The same API republished keeps its files (no conflict with itself).
      const v2 = { ...second, apiDefinition: second.apiDefinition.replace("gwsync.revision", "v2") };
      await store.saveArtifact({ dto: v2, labels: [LABEL], instruction: "Publish", files: apiFiles(v2) }, () => []);
    } finally {
      await store.close();
    }
  });

  test("sequences count too; WSO2's built-in ones (skip list) never collide", async () => {
    const store = openStore({ type: "sqlite", url: join(tempDir("gwsync-files-"), "a.db") });
    try {
      const withSeq = (name: string, apiId: string, seq: string): GatewayApiDto => ({
        name,
        version: "1.0.0",
        provider: "admin",
        tenantDomain: "carbon.super",
        apiId,
        apiDefinition: synapseApi({ name }),
        sequenceToBeAdd: [{ name: seq, content: `<sequence name="${seq}"/>` }, { name: "fault", content: '<sequence name="fault"/>' }],
      });
      const a = withSeq("A", "bbbbbbbb-0000-4000-8000-000000000001", "shared-seq");
      const b = withSeq("B", "bbbbbbbb-0000-4000-8000-000000000002", "shared-seq");
      const c = withSeq("C", "bbbbbbbb-0000-4000-8000-000000000003", "own-seq");
      await store.saveArtifact({ dto: a, labels: [LABEL], instruction: "Publish", files: apiFiles(a) }, () => []);
      await assert.rejects(async () => store.saveArtifact({ dto: b, labels: [LABEL], instruction: "Publish", files: apiFiles(b) }, () => []), conflict);
      await store.saveArtifact({ dto: c, labels: [LABEL], instruction: "Publish", files: apiFiles(c) }, () => []);
    } finally {
      await store.close();
    }
  });

  test("a store made before the check learns who owns each file when it is opened (first publish wins)", async () => {
    const file = join(tempDir("gwsync-files-"), "old.db");
    const store = openStore({ type: "sqlite", url: file });
    const [first, second] = colliding();
    await store.saveArtifact({ dto: first, labels: [LABEL], instruction: "Publish" }, () => []);
    await store.close();
    // Back to schema 2: no file table yet.
    const raw = new Database(file);
    raw.exec("DROP TABLE GWSYNC_API_FILES");
    raw.pragma("user_version = 2");
    raw.close();
    const reopened = openStore({ type: "sqlite", url: file });
    try {
      await assert.rejects(
        async () => reopened.saveArtifact({ dto: second, labels: [LABEL], instruction: "Publish", files: apiFiles(second) }, () => []),
        conflict,
      );
    } finally {
      await reopened.close();
    }
  });
});
