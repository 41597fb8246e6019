import assert from "node:assert/strict";
import path from "node:path";
import { afterEach, describe, test } from "node:test";
import type { GatewayApiDto } from "../../src/artifacts/types.js";
import { SqliteArtifactStore } from "../../src/store/sqlite/sqlite-store.js";
import type { SaveArtifactInput } from "../../src/store/types.js";
import { tempDir } from "../harness/temp-dir.js";

const PROD = "Production and Sandbox";
const EU = "eu-gateways";

function dto(apiId: string, definition: string): GatewayApiDto {
  return {
    name: "Pizza",
    version: "1.0.0",
    provider: "admin",
    tenantDomain: "carbon.super",
    apiId,
    apiDefinition: definition,
  };
}

const stores: SqliteArtifactStore[] = [];
function openTemp(region: string): SqliteArtifactStore {
  const dir = tempDir("gwsync-store-");
  const store = SqliteArtifactStore.open(path.join(dir, "artifacts.db"), { region });
  stores.push(store);
  return store;
}
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

function relayed(
  definition: string,
  origin: SaveArtifactInput["origin"],
  labels = [PROD],
): SaveArtifactInput {
  return { dto: dto("api-1", definition), labels, instruction: "Publish", ...(origin ? { origin } : {}) };
}

describe("relayed changes (origin)", () => {
  test("a relayed change is stored once: the same (region, seq) again is a no-op", async () => {
    const b = openTemp("region-b");
    let events = 0;
    const build = () => {
      events++;
      return [];
    };
    const first = await b.saveArtifact(relayed("<v1/>", { region: "region-a", seq: 7 }, [PROD, EU]), build);
    assert.equal(first.changed, true);
    assert.equal(await b.hasOriginChange("region-a", 7), true);
    assert.equal(await b.hasOriginChange("region-a", 8), false);
    assert.equal(await b.hasOriginChange("region-c", 7), false);
    // Even with different content, a redelivered (region, seq) must not be applied twice.
    const dup = await b.saveArtifact(
      relayed("<v-other/>", { region: "region-a", seq: 7 }, [PROD, EU]),
      build,
    );
    assert.equal(dup.changed, false);
    assert.equal(events, 1);
    assert.equal(await b.headSeq(), 2);
    const changes = await b.changesSince(0, [PROD, EU]);
    assert.deepEqual(
      changes.map((c) => [c.label, c.originRegion, c.originSeq]),
      [
        [PROD, "region-a", 7],
        [EU, "region-a", 7],
      ],
    );
    assert.deepEqual(
      changes.map((c) => c.seq),
      [1, 2],
      "the local seq is this region's own",
    );
  });

  test("a relayed revision is adopted, one below the stored revision is skipped as older, one equal to it by the conflict rule", async () => {
    const b = openTemp("region-b");
    const r5 = await b.saveArtifact(relayed("<v5/>", { region: "region-a", seq: 50, revision: 5 }), () => []);
    assert.equal(r5.revision, 5);
    assert.equal((await b.getArtifact("api-1", PROD))?.revision, 5);
    const old = await b.saveArtifact(
      relayed("<v4/>", { region: "region-a", seq: 40, revision: 4 }),
      () => [],
    );
    assert.equal(old.changed, false);
    assert.equal(old.revision, 5);
    const held = await b.getArtifact("api-1", PROD);
    const same = await b.saveArtifact(
      relayed("<v5-again/>", { region: "region-a", seq: 51, revision: 5 }),
      () => [],
    );
    // Equal revision (docs/replication.md, "Conflicts"): written only when its sha256 is the greater.
    const wins = same.sha256 > (held?.sha256 ?? "");
    assert.equal(same.changed, wins);
    assert.equal(same.revision, 5);
    assert.equal(
      (await b.getArtifact("api-1", PROD))?.artifactJson,
      JSON.stringify(dto("api-1", wins ? "<v5-again/>" : "<v5/>")),
    );
    const local = await b.saveArtifact(relayed("<local/>", undefined), () => []);
    assert.equal(local.revision, 6, "a local change continues from the adopted revision");
  });

  test("a relayed change without a revision takes the next local revision", async () => {
    const b = openTemp("region-b");
    await b.saveArtifact(relayed("<v1/>", undefined), () => []);
    const r = await b.saveArtifact(relayed("<v2/>", { region: "region-a", seq: 3 }), () => []);
    assert.equal(r.revision, 2);
  });

  test("this region's own change coming back through the mesh counts as already stored", async () => {
    const a = openTemp("region-a");
    const r = await a.saveArtifact(relayed("<v1/>", undefined), () => []);
    assert.equal(await a.hasOriginChange("region-a", r.seq), true);
    assert.equal(await a.hasOriginChange("region-a", r.seq + 1), false);
    const echo = await a.saveArtifact(relayed("<v1-echo/>", { region: "region-a", seq: r.seq }), () => []);
    assert.equal(echo.changed, false);
    assert.equal(await a.headSeq(), r.seq);
  });
});
