import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { GwsyncError } from "../../src/errors.js";
import { MemoryDeployer } from "../../src/gateway/deploy/memory-deployer.js";
import { apiDto } from "../harness/api-dto.js";

function dto(name: string, options: { body?: string; seq?: string[] } = {}) {
  const sequences = (options.seq ?? []).map((s) => ({ name: s, content: `<sequence name="${s}"/>` }));
  return apiDto(name, { body: options.body ?? "", sequences });
}
const meta = (sha: string, seq = 1) => ({ revision: seq, sha256: sha.repeat(64), seq, labels: ["Default"] });

describe("MemoryDeployer", () => {
  test("keeps the DTO's files by their WSO2 path, in memory", async () => {
    const deployer = new MemoryDeployer();
    const d = dto("A", { seq: ["s"] });
    const files = await deployer.deploy(d, meta("1"));
    assert.deepEqual(
      files.map((f) => f.relPath),
      ["api/admin--A_v1.0.0.xml", "sequences/s.xml"],
    );
    assert.equal(deployer.content("api/admin--A_v1.0.0.xml"), d.apiDefinition);
    assert.equal(deployer.get("id-A")?.context, "/A");
  });

  test("an update replaces changed files and drops the ones the API no longer has", async () => {
    const deployer = new MemoryDeployer();
    await deployer.deploy(dto("A", { seq: ["old"] }), meta("1"));
    await deployer.deploy(dto("A", { seq: ["new"], body: "<x/>" }), meta("2", 2));
    assert.equal(deployer.content("sequences/old.xml"), undefined);
    assert.equal(deployer.content("sequences/new.xml"), '<sequence name="new"/>');
    assert.match(deployer.content("api/admin--A_v1.0.0.xml") ?? "", /<x\/>/);
    assert.equal(deployer.fileCount, 2);
  });

  test("undeploy drops exactly the API's files and another API cannot take a file over", async () => {
    const deployer = new MemoryDeployer();
    await deployer.deploy(dto("A", { seq: ["shared"] }), meta("1"));
    await assert.rejects(deployer.deploy(dto("B", { seq: ["shared"] }), meta("2")), (err) => {
      assert.ok(err instanceof GwsyncError);
      assert.equal(err.code, "GWSYNC_ARTIFACT_CONFLICT");
      assert.match(err.message, /already owned by API id-A/);
      return true;
    });
    await deployer.deploy(dto("B"), meta("2"));
    await deployer.undeploy("id-A");
    assert.equal(deployer.content("sequences/shared.xml"), undefined);
    assert.deepEqual(
      deployer.deployed().map((a) => a.apiId),
      ["id-B"],
    );
    assert.equal(deployer.fileCount, 1);
  });

  test("redeploying the same apiId and sha256 changes only the metadata", async () => {
    const deployer = new MemoryDeployer();
    const d = dto("A");
    await deployer.deploy(d, meta("1", 1));
    const first = deployer.get("id-A");
    await deployer.deploy(dto("A", { body: "<ignored/>" }), meta("1", 9));
    assert.equal(deployer.content("api/admin--A_v1.0.0.xml"), d.apiDefinition);
    assert.equal(deployer.get("id-A")?.seq, 9);
    assert.equal(deployer.get("id-A")?.deployedAt, first?.deployedAt);
  });

  test("refuses unsafe names and DOCTYPEs like the file deployer", async () => {
    const deployer = new MemoryDeployer();
    await assert.rejects(
      deployer.deploy(dto("A", { seq: ["../x"] }), meta("1")),
      /GWSYNC_ARTIFACT_NAME_UNSAFE|is not safe/,
    );
    const evil = dto("B");
    evil.apiDefinition = `<!DOCTYPE a [<!ENTITY e "x">]>${evil.apiDefinition}`;
    await assert.rejects(
      deployer.deploy(evil, meta("2")),
      (err) => err instanceof GwsyncError && err.code === "GWSYNC_XML_DOCTYPE",
    );
    assert.deepEqual(deployer.deployed(), []);
  });

  test("APIs with the same labels share one labels array", async () => {
    const deployer = new MemoryDeployer();
    await deployer.deploy(dto("A"), meta("1"));
    await deployer.deploy(dto("B"), meta("2"));
    assert.equal(deployer.get("id-A")?.labels, deployer.get("id-B")?.labels);
  });

  test("without keepContent it tracks files by sha256 only", async () => {
    const deployer = new MemoryDeployer({ keepContent: false });
    const files = await deployer.deploy(dto("A", { seq: ["s"] }), meta("1"));
    assert.equal(files.length, 2);
    assert.match(files[0]?.sha256 ?? "", /^[0-9a-f]{64}$/);
    assert.equal(deployer.content("api/admin--A_v1.0.0.xml"), undefined);
    assert.equal(deployer.fileCount, 0);
  });
});
