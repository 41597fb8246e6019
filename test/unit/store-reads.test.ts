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
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
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
  test("returns only rows after the given seq, only for the given labels, in seq order", () => {
    const store = openTemp();
    save(store, dto("a", "A"), [PROD]); // seq 1
    save(store, dto("b", "B"), [EU]); // seq 2
    save(store, dto("c", "C"), [US, PROD]); // seq 3 (US), 4 (PROD)
    save(store, dto("a", "A", "v2"), [PROD]); // seq 5
    assert.deepEqual(
      store.changesSince(0, [PROD]).map((c) => c.seq),
      [1, 4, 5],
    );
    assert.deepEqual(
      store.changesSince(1, [PROD, EU]).map((c) => [c.seq, c.apiId, c.label]),
      [
        [2, "b", EU],
        [4, "c", PROD],
        [5, "a", PROD],
      ],
    );
    assert.deepEqual(store.changesSince(5, [PROD, EU, US]), []);
    assert.deepEqual(store.changesSince(0, ["nobody"]), []);
    assert.deepEqual(store.changesSince(0, []), []);
  });

  test("honours the limit so callers can page through a long changelog", () => {
    const store = openTemp();
    for (let i = 0; i < 7; i++) save(store, dto(`api-${i}`, `N${i}`), [PROD]);
    const page1 = store.changesSince(0, [PROD], 3);
    assert.deepEqual(
      page1.map((c) => c.seq),
      [1, 2, 3],
    );
    const page2 = store.changesSince(page1.at(-1)?.seq ?? 0, [PROD], 3);
    assert.deepEqual(
      page2.map((c) => c.seq),
      [4, 5, 6],
    );
    assert.throws(
      () => store.changesSince(0, [PROD], 0),
      (e: unknown) => isGwsyncError(e, "GWSYNC_USAGE"),
    );
    assert.throws(
      () => store.changesSince(-1, [PROD]),
      (e: unknown) => isGwsyncError(e, "GWSYNC_USAGE"),
    );
  });

  test("local changes report this store's region and their own seq as origin", () => {
    const store = openTemp();
    const r = save(store, dto("a", "A"), [PROD]);
    const [c] = store.changesSince(0, [PROD]);
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
  test("lists one label's published APIs and leaves removed ones out unless asked", () => {
    const store = openTemp();
    save(store, dto("a", "A"), [PROD, EU]);
    save(store, dto("b", "B"), [PROD]);
    save(store, dto("c", "C"), [EU]);
    save(store, dto("b", "B"), [PROD], "Remove");
    assert.deepEqual(
      store.listArtifacts({ label: PROD }).map((a) => a.apiId),
      ["a"],
    );
    assert.deepEqual(
      store.listArtifacts({ label: PROD, includeRemoved: true }).map((a) => [a.apiId, a.instruction]),
      [
        ["a", "Publish"],
        ["b", "Remove"],
      ],
    );
    assert.deepEqual(
      store.listArtifacts().map((a) => [a.label, a.apiId]),
      // Binary collation: "Production and Sandbox" sorts before "eu-gateways".
      [
        [PROD, "a"],
        [EU, "a"],
        [EU, "c"],
      ],
    );
    assert.equal(store.listArtifacts({ includeRemoved: true }).length, 4);
  });

  test("metadata listings carry no body; withBody returns the stored JSON", () => {
    const store = openTemp();
    const r = save(store, dto("a", "A"), [PROD]);
    const [meta] = store.listArtifacts({ label: PROD });
    assert.equal(meta?.artifactJson, "");
    assert.equal(meta?.sha256, r.sha256);
    assert.equal(meta?.seq, r.seq);
    assert.equal(meta?.name, "A");
    assert.equal(meta?.version, "1.0.0");
    assert.equal(meta?.tenantDomain, "carbon.super");
    assert.equal(meta?.updatedAt, 1_700_000);
    const [full] = store.listArtifacts({ label: PROD, withBody: true });
    assert.equal(full?.artifactJson, JSON.stringify(dto("a", "A")));
    assert.deepEqual({ ...full, artifactJson: "" }, meta);
    assert.equal(store.listArtifacts({ withBody: true }).length, 1);
  });
});

describe("lookups", () => {
  test("findApiId finds an API by name and version within a tenant", () => {
    const store = openTemp();
    save(store, dto("id-1", "Pizza"), [PROD]);
    save(store, dto("id-2", "Pizza", "", "wso2.com"), [PROD]);
    assert.equal(store.findApiId("Pizza", "1.0.0"), "id-1");
    assert.equal(store.findApiId("Pizza", "1.0.0", "wso2.com"), "id-2");
    assert.equal(store.findApiId("Pizza", "2.0.0"), undefined);
    assert.equal(store.findApiId("Nope", "1.0.0"), undefined);
  });

  test("getArtifact is undefined for an unknown API or label; headSeq is 0 on an empty store", () => {
    const store = openTemp();
    assert.equal(store.headSeq(), 0);
    assert.equal(store.getArtifact("a", PROD), undefined);
    save(store, dto("a", "A"), [PROD]);
    assert.equal(store.getArtifact("a", EU), undefined);
    assert.equal(store.getArtifact("b", PROD), undefined);
    assert.equal(store.headSeq(), 1);
  });
});
