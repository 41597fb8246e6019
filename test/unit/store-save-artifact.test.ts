import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import path from "node:path";
import { afterEach, describe, test } from "node:test";
import type { GatewayApiDto } from "../../src/artifacts/types.js";
import { isGwsyncError } from "../../src/errors.js";
import { SqliteArtifactStore } from "../../src/store/sqlite/sqlite-store.js";
import type { NewOutboxMessage, SaveArtifactResult } from "../../src/store/types.js";
import { tempDir } from "../harness/temp-dir.js";

const PROD = "Production and Sandbox";
const EU = "eu-gateways";

function dto(apiId: string, definition = '<api name="admin--Pizza"/>'): GatewayApiDto {
  return {
    name: "PizzaShackAPI",
    version: "1.0.0",
    provider: "admin",
    tenantDomain: "carbon.super",
    apiId,
    apiDefinition: definition,
  };
}

function event(r: SaveArtifactResult): NewOutboxMessage {
  return {
    topic: "notification",
    messageId: `evt-${r.apiId}-${r.seq}`,
    body: Buffer.from(JSON.stringify({ apiId: r.apiId, revision: r.revision })),
    headers: { "x-gwsync-seq": r.seq, "x-gwsync-revision": r.revision, "x-gwsync-sha256": r.sha256 },
  };
}

const stores: SqliteArtifactStore[] = [];
function openTemp(): SqliteArtifactStore {
  const dir = tempDir("gwsync-store-");
  const store = SqliteArtifactStore.open(path.join(dir, "artifacts.db"), { region: "region-a" });
  stores.push(store);
  return store;
}
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

describe("saveArtifact", () => {
  test("writes artifact, changelog and outbox rows together and hands the assigned facts to buildMessages", async () => {
    const store = openTemp();
    let seen: SaveArtifactResult | undefined;
    const r = await store.saveArtifact(
      { dto: dto("api-1"), labels: [PROD], instruction: "Publish" },
      (res) => {
        seen = res;
        return [event(res)];
      },
    );
    assert.deepEqual(seen, r);
    assert.equal(r.changed, true);
    assert.equal(r.revision, 1);
    assert.equal(r.seq, 1);
    assert.deepEqual(r.labels, [PROD]);
    const json = JSON.stringify(dto("api-1"));
    assert.equal(r.sha256, createHash("sha256").update(json).digest("hex"));

    const a = await store.getArtifact("api-1", PROD);
    assert.ok(a);
    assert.equal(a.artifactJson, json);
    assert.equal(a.instruction, "Publish");
    assert.equal(a.sha256, r.sha256);
    assert.equal(a.seq, 1);
    assert.equal(a.revision, 1);
    assert.equal(a.name, "PizzaShackAPI");
    assert.equal(a.provider, "admin");
    assert.equal(await store.headSeq(), 1);
    assert.equal((await store.changesSince(0, [PROD])).length, 1);
    const [out] = await store.peekOutbox(10);
    assert.equal(out?.messageId, "evt-api-1-1");
    assert.equal(out?.headers["x-gwsync-sha256"], r.sha256);
  });

  test("a throwing buildMessages leaves no artifact, changelog or outbox row behind", async () => {
    const store = openTemp();
    await store.saveArtifact(
      { dto: dto("api-1", "<api v='1'/>"), labels: [PROD], instruction: "Publish" },
      (r) => [event(r)],
    );
    await assert.rejects(
      () =>
        store.saveArtifact(
          { dto: dto("api-1", "<api v='2'/>"), labels: [PROD, EU], instruction: "Publish" },
          () => {
            throw new Error("event encoder broke");
          },
        ),
      /event encoder broke/,
    );
    assert.equal(await store.headSeq(), 1);
    assert.equal(await store.outboxDepth(), 1);
    assert.equal(await store.getArtifact("api-1", EU), undefined);
    assert.equal(
      (await store.getArtifact("api-1", PROD))?.artifactJson,
      JSON.stringify(dto("api-1", "<api v='1'/>")),
    );
    // The revision counter rolled back too: the next real change is revision 2, not 3.
    const r = await store.saveArtifact(
      { dto: dto("api-1", "<api v='2'/>"), labels: [PROD], instruction: "Publish" },
      () => [],
    );
    assert.equal(r.revision, 2);
  });

  test("an invalid outbox message from buildMessages rolls the whole save back", async () => {
    const store = openTemp();
    await assert.rejects(
      () =>
        store.saveArtifact({ dto: dto("api-1"), labels: [PROD], instruction: "Publish" }, () => [
          { topic: "notification", messageId: "m", body: "not a buffer" as unknown as Buffer, headers: {} },
        ]),
      (err: unknown) => isGwsyncError(err, "GWSYNC_EVENT_INVALID") && /body/.test(err.message),
    );
    assert.equal(await store.getArtifact("api-1", PROD), undefined);
    assert.equal(await store.headSeq(), 0);
  });

  test("revision grows per API across labels: one publish to two labels is one revision", async () => {
    const store = openTemp();
    const r1 = await store.saveArtifact(
      { dto: dto("api-1", "<a/>"), labels: [PROD, EU], instruction: "Publish" },
      () => [],
    );
    assert.equal(r1.revision, 1);
    assert.equal(r1.seq, 2);
    assert.deepEqual(r1.labels, [PROD, EU]);
    assert.equal((await store.getArtifact("api-1", PROD))?.revision, 1);
    assert.equal((await store.getArtifact("api-1", EU))?.revision, 1);
    const r2 = await store.saveArtifact(
      { dto: dto("api-1", "<b/>"), labels: [EU], instruction: "Publish" },
      () => [],
    );
    assert.equal(r2.revision, 2);
    const r3 = await store.saveArtifact(
      { dto: dto("api-2", "<c/>"), labels: [PROD], instruction: "Publish" },
      () => [],
    );
    assert.equal(r3.revision, 1, "another API has its own counter");
    const changes = await store.changesSince(0, [PROD, EU]);
    assert.deepEqual(
      changes.map((c) => [c.seq, c.apiId, c.label, c.revision]),
      [
        [1, "api-1", PROD, 1],
        [2, "api-1", EU, 1],
        [3, "api-1", EU, 2],
        [4, "api-2", PROD, 1],
      ],
    );
  });

  test("an identical re-publish writes nothing and does not call buildMessages", async () => {
    const store = openTemp();
    const first = await store.saveArtifact(
      { dto: dto("api-1"), labels: [PROD, EU], instruction: "Publish" },
      (r) => [event(r)],
    );
    let called = false;
    const again = await store.saveArtifact(
      { dto: dto("api-1"), labels: [EU, PROD], instruction: "Publish" },
      () => {
        called = true;
        return [];
      },
    );
    assert.equal(called, false);
    assert.equal(again.changed, false);
    assert.deepEqual(again.labels, []);
    assert.equal(again.revision, first.revision);
    assert.equal(again.seq, first.seq);
    assert.equal(again.sha256, first.sha256);
    assert.equal(await store.headSeq(), 2);
    assert.equal(await store.outboxDepth(), 1);
  });

  test("a publish that changes only some labels writes only those labels", async () => {
    const store = openTemp();
    await store.saveArtifact({ dto: dto("api-1"), labels: [PROD], instruction: "Publish" }, () => []);
    const r = await store.saveArtifact(
      { dto: dto("api-1"), labels: [PROD, EU], instruction: "Publish" },
      () => [],
    );
    assert.equal(r.changed, true);
    assert.deepEqual(r.labels, [EU]);
    assert.equal(r.revision, 2);
    assert.equal(
      (await store.getArtifact("api-1", PROD))?.revision,
      1,
      "the unchanged label keeps its revision",
    );
    assert.deepEqual(
      (await store.changesSince(1, [PROD, EU])).map((c) => c.label),
      [EU],
    );
  });

  test("Remove flips the instruction, keeps the last artifact and shows in changesSince", async () => {
    const store = openTemp();
    const pub = await store.saveArtifact(
      { dto: dto("api-1"), labels: [PROD, EU], instruction: "Publish" },
      () => [],
    );
    const stored = await store.getArtifact("api-1", PROD);
    assert.ok(stored);
    const rm = await store.saveArtifact(
      { dto: JSON.parse(stored.artifactJson) as GatewayApiDto, labels: [PROD], instruction: "Remove" },
      (r) => [event(r)],
    );
    assert.equal(rm.changed, true);
    assert.equal(rm.revision, 2);
    const after = await store.getArtifact("api-1", PROD);
    assert.equal(after?.instruction, "Remove");
    assert.equal(after?.artifactJson, stored.artifactJson);
    assert.equal(after?.sha256, pub.sha256);
    assert.equal(
      (await store.getArtifact("api-1", EU))?.instruction,
      "Publish",
      "other labels are untouched",
    );
    const [change] = await store.changesSince(pub.seq, [PROD]);
    assert.equal(change?.instruction, "Remove");
    assert.equal(change?.revision, 2);
    assert.equal(change?.seq, rm.seq);

    const again = await store.saveArtifact(
      { dto: dto("api-1"), labels: [PROD], instruction: "Remove" },
      () => [],
    );
    assert.equal(again.changed, false, "a repeated Remove is a no-op");
    const back = await store.saveArtifact(
      { dto: dto("api-1"), labels: [PROD], instruction: "Publish" },
      () => [],
    );
    assert.equal(back.changed, true, "re-publishing the same content after a Remove is a change");
    assert.equal(back.revision, 3);
  });

  test("Remove from a label the API was never published to is GWSYNC_NOT_FOUND and writes nothing", async () => {
    const store = openTemp();
    await store.saveArtifact({ dto: dto("api-1"), labels: [PROD], instruction: "Publish" }, () => []);
    await assert.rejects(
      () => store.saveArtifact({ dto: dto("api-1"), labels: [PROD, EU], instruction: "Remove" }, () => []),
      (err: unknown) =>
        isGwsyncError(err, "GWSYNC_NOT_FOUND") &&
        err.message.includes(`"${EU}"`) &&
        err.message.includes("api-1"),
    );
    assert.equal((await store.getArtifact("api-1", PROD))?.instruction, "Publish");
    assert.equal(await store.headSeq(), 1);
    await assert.rejects(
      () => store.saveArtifact({ dto: dto("never"), labels: [PROD], instruction: "Remove" }, () => []),
      (err: unknown) => isGwsyncError(err, "GWSYNC_NOT_FOUND"),
    );
  });

  test("labels must be non-empty and trimmed; duplicates count once", async () => {
    const store = openTemp();
    for (const labels of [[], [""], [" Production"], ["Production "]]) {
      await assert.rejects(
        () => store.saveArtifact({ dto: dto("api-1"), labels, instruction: "Publish" }, () => []),
        (err: unknown) => isGwsyncError(err, "GWSYNC_ARTIFACT_INVALID") && /labels/.test(err.message),
        JSON.stringify(labels),
      );
    }
    const r = await store.saveArtifact(
      { dto: dto("api-1"), labels: [PROD, PROD], instruction: "Publish" },
      () => [],
    );
    assert.deepEqual(r.labels, [PROD]);
    assert.equal(await store.headSeq(), 1);
  });

  test("an artifact without an apiId is refused with the field named", async () => {
    const store = openTemp();
    await assert.rejects(
      () => store.saveArtifact({ dto: dto(""), labels: [PROD], instruction: "Publish" }, () => []),
      (err: unknown) => isGwsyncError(err, "GWSYNC_ARTIFACT_INVALID") && /dto\.apiId/.test(err.message),
    );
  });

  test("a given artifactJson is stored byte for byte and hashed as given", async () => {
    const store = openTemp();
    const json =
      '{"apiId":"api-1","name":"PizzaShackAPI","version":"1.0.0","provider":"admin","tenantDomain":"carbon.super","apiDefinition":"<api>é</api>"}';
    const r = await store.saveArtifact(
      { dto: JSON.parse(json) as GatewayApiDto, artifactJson: json, labels: [PROD], instruction: "Publish" },
      () => [],
    );
    assert.equal(r.sha256, createHash("sha256").update(json, "utf8").digest("hex"));
    assert.equal((await store.getArtifact("api-1", PROD))?.artifactJson, json);
  });

  test("a readonly store refuses writes with a clear error", async () => {
    const store = openTemp();
    await store.saveArtifact({ dto: dto("api-1"), labels: [PROD], instruction: "Publish" }, () => []);
    const reader = SqliteArtifactStore.open(store.file, { readonly: true });
    stores.push(reader);
    assert.equal((await reader.getArtifact("api-1", PROD))?.revision, 1);
    await assert.rejects(
      () => reader.saveArtifact({ dto: dto("api-2"), labels: [PROD], instruction: "Publish" }, () => []),
      (err: unknown) => isGwsyncError(err, "GWSYNC_STORE_FAILED") && /readonly/.test(err.message),
    );
    await assert.rejects(() => reader.claimOutbox(1), /readonly/);
  });
});
