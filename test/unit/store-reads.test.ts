import assert from "node:assert/strict";
import path from "node:path";
import { afterEach, describe, test } from "node:test";
import type { GatewayApiDto } from "../../src/artifacts/types.js";
import { isGwsyncError } from "../../src/errors.js";
import { SqliteArtifactStore } from "../../src/store/sqlite/sqlite-store.js";
import type { GatewayInstruction } from "../../src/store/types.js";
import { tempDir } from "../harness/temp-dir.js";

const PROD = "Production and Sandbox";
const EU = "eu-gateways";
const US = "us-gateways";

function dto(apiId: string, name: string, extra = "", tenantDomain = "carbon.super"): GatewayApiDto {
  return {
    name,
    version: "1.0.0",
    provider: "admin",
    tenantDomain,
    apiId,
    apiDefinition: `<api name="${name}"/>${extra}`,
  };
}

const stores: SqliteArtifactStore[] = [];
function openTemp(): SqliteArtifactStore {
  const dir = tempDir("gwsync-store-");
  const store = SqliteArtifactStore.open(path.join(dir, "artifacts.db"), {
    region: "region-a",
    now: () => 1_700_000,
  });
  stores.push(store);
  return store;
}
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

function save(
  store: SqliteArtifactStore,
  d: GatewayApiDto,
  labels: string[],
  instruction: GatewayInstruction = "Publish",
) {
  return store.saveArtifact({ dto: d, labels, instruction }, () => []);
}

describe("changesSince", () => {
  test("returns only rows after the given seq, only for the given labels, in seq order", async () => {
    const store = openTemp();
    await save(store, dto("a", "A"), [PROD]); // seq 1
    await save(store, dto("b", "B"), [EU]); // seq 2
    await save(store, dto("c", "C"), [US, PROD]); // seq 3 (US), 4 (PROD)
    await save(store, dto("a", "A", "v2"), [PROD]); // seq 5
    assert.deepEqual(
      (await store.changesSince(0, [PROD])).map((c) => c.seq),
      [1, 4, 5],
    );
    assert.deepEqual(
      (await store.changesSince(1, [PROD, EU])).map((c) => [c.seq, c.apiId, c.label]),
      [
        [2, "b", EU],
        [4, "c", PROD],
        [5, "a", PROD],
      ],
    );
    assert.deepEqual(await store.changesSince(5, [PROD, EU, US]), []);
    assert.deepEqual(await store.changesSince(0, ["nobody"]), []);
    assert.deepEqual(await store.changesSince(0, []), []);
  });

  test("honours the limit so callers can page through a long changelog", async () => {
    const store = openTemp();
    for (let i = 0; i < 7; i++) await save(store, dto(`api-${i}`, `N${i}`), [PROD]);
    const page1 = await store.changesSince(0, [PROD], 3);
    assert.deepEqual(
      page1.map((c) => c.seq),
      [1, 2, 3],
    );
    const page2 = await store.changesSince(page1.at(-1)?.seq ?? 0, [PROD], 3);
    assert.deepEqual(
      page2.map((c) => c.seq),
      [4, 5, 6],
    );
    await assert.rejects(
      () => store.changesSince(0, [PROD], 0),
      (e: unknown) => isGwsyncError(e, "GWSYNC_USAGE"),
    );
    await assert.rejects(
      () => store.changesSince(-1, [PROD]),
      (e: unknown) => isGwsyncError(e, "GWSYNC_USAGE"),
    );
  });

  test("local changes report this store's region and their own seq as origin", async () => {
    const store = openTemp();
    const r = await save(store, dto("a", "A"), [PROD]);
    const [c] = await store.changesSince(0, [PROD]);
    assert.deepEqual(c, {
      seq: r.seq,
      apiId: "a",
      label: PROD,
      instruction: "Publish",
      revision: 1,
      sha256: r.sha256,
      originRegion: "region-a",
      originSeq: r.seq,
      createdAt: 1_700_000,
    });
  });
});

describe("listArtifacts", () => {
  test("lists one label's published APIs and leaves removed ones out unless asked", async () => {
    const store = openTemp();
    await save(store, dto("a", "A"), [PROD, EU]);
    await save(store, dto("b", "B"), [PROD]);
    await save(store, dto("c", "C"), [EU]);
    await save(store, dto("b", "B"), [PROD], "Remove");
    assert.deepEqual(
      (await store.listArtifacts({ label: PROD })).map((a) => a.apiId),
      ["a"],
    );
    assert.deepEqual(
      (await store.listArtifacts({ label: PROD, includeRemoved: true })).map((a) => [a.apiId, a.instruction]),
      [
        ["a", "Publish"],
        ["b", "Remove"],
      ],
    );
    assert.deepEqual(
      (await store.listArtifacts()).map((a) => [a.label, a.apiId]),
      // Binary collation: "Production and Sandbox" sorts before "eu-gateways".
      [
        [PROD, "a"],
        [EU, "a"],
        [EU, "c"],
      ],
    );
    assert.equal((await store.listArtifacts({ includeRemoved: true })).length, 4);
  });

  test("metadata listings carry no body; withBody returns the stored JSON", async () => {
    const store = openTemp();
    const r = await save(store, dto("a", "A"), [PROD]);
    const [meta] = await store.listArtifacts({ label: PROD });
    assert.equal(meta?.artifactJson, "");
    assert.equal(meta?.sha256, r.sha256);
    assert.equal(meta?.seq, r.seq);
    assert.equal(meta?.name, "A");
    assert.equal(meta?.version, "1.0.0");
    assert.equal(meta?.tenantDomain, "carbon.super");
    assert.equal(meta?.updatedAt, 1_700_000);
    const [full] = await store.listArtifacts({ label: PROD, withBody: true });
    assert.equal(full?.artifactJson, JSON.stringify(dto("a", "A")));
    assert.deepEqual({ ...full, artifactJson: "" }, meta);
    assert.equal((await store.listArtifacts({ withBody: true })).length, 1);
  });
});

describe("lookups", () => {
  test("findApiId finds an API by name and version within a tenant", async () => {
    const store = openTemp();
    await save(store, dto("id-1", "Pizza"), [PROD]);
    await save(store, dto("id-2", "Pizza", "", "wso2.com"), [PROD]);
    assert.equal(await store.findApiId("Pizza", "1.0.0"), "id-1");
    assert.equal(await store.findApiId("Pizza", "1.0.0", "wso2.com"), "id-2");
    assert.equal(await store.findApiId("Pizza", "2.0.0"), undefined);
    assert.equal(await store.findApiId("Nope", "1.0.0"), undefined);
  });

  test("getArtifact is undefined for an unknown API or label; headSeq is 0 on an empty store", async () => {
    const store = openTemp();
    assert.equal(await store.headSeq(), 0);
    assert.equal(await store.getArtifact("a", PROD), undefined);
    await save(store, dto("a", "A"), [PROD]);
    assert.equal(await store.getArtifact("a", EU), undefined);
    assert.equal(await store.getArtifact("b", PROD), undefined);
    assert.equal(await store.headSeq(), 1);
  });
});
