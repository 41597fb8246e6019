import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";
import { GwsyncError } from "../../src/errors.js";
import { nodeDeployFs } from "../../src/gateway/deploy/deploy-fs.js";
import { readDeployState, writeDeployState } from "../../src/gateway/deploy/deploy-state.js";
import type { DeployedApi } from "../../src/gateway/deploy/deployer.js";
import { MemoryDeployer } from "../../src/gateway/deploy/memory-deployer.js";
import { PackedApi } from "../../src/gateway/deploy/packed-api.js";
import { apiDto } from "../harness/api-dto.js";
import { tempDir } from "../harness/temp-dir.js";

const tmpRoot = tempDir("gwsync-packed-");
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

function plain(i: number, o: { sha256?: string; files?: number } = {}): DeployedApi {
  return {
    apiId: `id-${i}`,
    name: `Api${i}`,
    version: "1.0.0",
    provider: "admin@tenant.com",
    context: `/api${i}/ü`,
    labels: ["Default", "Internal"],
    revision: i,
    sha256: o.sha256 ?? (i % 16).toString(16).repeat(64),
    seq: 2 ** 40 + i,
    files: Array.from({ length: o.files ?? 1 }, (_, f) => ({
      kind: f === 0 ? ("api" as const) : ("sequence" as const),
      relPath: f === 0 ? `api/admin-AT-tenant.com--Api${i}_v1.0.0.xml` : `sequences/s${i}-${f}.xml`,
      sha256: ((i + f) % 16).toString(16).repeat(32) + "0".repeat(32),
    })),
    deployedAt: 1_764_000_000_000 + i,
  };
}

function dto(name: string, seq: string[] = []) {
  return apiDto(name, {
    apiDefinition: `<api name="admin--${name}" context="/${name}" version="1.0.0"/>`,
    sequences: seq.map((s) => ({ name: s, content: `<sequence name="${s}"/>` })),
  });
}
const meta = (sha: string) => ({ revision: 1, sha256: sha.repeat(64), seq: 1, labels: ["Default"] });

describe("PackedApi", () => {
  test("gives back every field of the record it packed", () => {
    for (const api of [plain(1), plain(2, { files: 3 }), plain(3, { files: 0 }), plain(4, { sha256: "" })]) {
      const packed = PackedApi.of(api);
      assert.deepEqual(packed.toJSON(), api);
      assert.equal(JSON.stringify(packed), JSON.stringify(api));
      assert.deepEqual(packed.copy().toJSON(), api);
      assert.deepEqual(
        packed.relPaths,
        api.files.map((f) => f.relPath),
      );
    }
  });

  test("refuses a sha256 that is not lowercase hex", () => {
    assert.throws(() => PackedApi.of(plain(1, { sha256: "A".repeat(64) })), GwsyncError);
  });
});

describe("DeployedRegistry.compact", () => {
  test("keeps every record and which API owns each file", async () => {
    const deployer = new MemoryDeployer({ keepContent: false });
    await deployer.deploy(dto("A", ["shared"]), meta("1"));
    await deployer.deploy(dto("B"), meta("2"));
    const before = deployer.deployed().map((a) => JSON.stringify(a));
    deployer.compact();
    assert.deepEqual(
      deployer.deployed().map((a) => JSON.stringify(a)),
      before,
    );
    await assert.rejects(deployer.deploy(dto("C", ["shared"]), meta("3")), /already owned by API id-A/);
    await deployer.undeploy("id-A");
    await deployer.deploy(dto("C", ["shared"]), meta("3"));
    assert.deepEqual(
      deployer.deployed().map((a) => a.apiId),
      ["id-B", "id-C"],
    );
  });
});

describe("deploy state file", () => {
  test("is written in chunks that read back as the same records", async () => {
    const file = path.join(tmpRoot, "state.json");
    const apis = Array.from({ length: 1234 }, (_, i) => PackedApi.of(plain(i, { files: 1 + (i % 2) })));
    await writeDeployState(nodeDeployFs, file, apis, false);
    const text = fs.readFileSync(file, "utf8");
    assert.deepEqual(JSON.parse(text), { format: 1, apis: apis.map((a) => a.toJSON()) });
    assert.deepEqual(
      await readDeployState(nodeDeployFs, file),
      apis.map((a) => a.toJSON()),
    );
    await writeDeployState(nodeDeployFs, file, [], false);
    assert.deepEqual(await readDeployState(nodeDeployFs, file), []);
  });
});
