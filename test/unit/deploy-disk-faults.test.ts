import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";
import type { GatewayApiDto } from "../../src/artifacts/types.js";
import { GwsyncError } from "../../src/errors.js";
import { type DeployFs, nodeDeployFs } from "../../src/gateway/deploy/deploy-fs.js";
import { FileDeployer } from "../../src/gateway/deploy/file-deployer.js";
import { tempDir } from "../harness/temp-dir.js";

const tmpRoot = tempDir("gwsync-faults-");
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));
let dirCount = 0;
const freshDir = () => path.join(tmpRoot, `gw${++dirCount}`, "default");

function dto(body: string, seqs: string[]): GatewayApiDto {
  return {
    name: "A",
    version: "1.0.0",
    provider: "admin",
    tenantDomain: "carbon.super",
    apiId: "id-A",
    apiDefinition: `<api name="admin--A" context="/a" version="1.0.0">${body}</api>`,
    sequenceToBeAdd: seqs.map((s) => ({ name: s, content: `<sequence name="${s}">${body}</sequence>` })),
  };
}
const meta = (sha: string) => ({ revision: 1, sha256: sha.repeat(64), seq: 1, labels: ["Default"] });

function errnoError(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected`), { code });
}

/** node's fs, with one step failing once its countdown reaches zero. */
function faultyFs(
  step: "write" | "sync" | "rename" | "unlink",
  code: string,
  afterCalls: number,
): DeployFs & { armed: boolean } {
  let left = afterCalls;
  const faults = {
    armed: false,
    trip(): void {
      if (faults.armed && left-- <= 0) {
        faults.armed = false;
        throw errnoError(code);
      }
    },
  };
  const wrapped: DeployFs & { armed: boolean } = {
    ...nodeDeployFs,
    get armed() {
      return faults.armed;
    },
    set armed(v: boolean) {
      faults.armed = v;
    },
    async open(file, flags, mode) {
      const handle = await nodeDeployFs.open(file, flags, mode);
      return {
        writeFile: async (data, enc) => {
          if (step === "write") faults.trip();
          await handle.writeFile(data, enc);
        },
        sync: async () => {
          if (step === "sync" && flags !== "r") faults.trip();
          await handle.sync();
        },
        close: () => handle.close(),
      };
    },
    async rename(from, to) {
      if (step === "rename" && !to.endsWith(".json")) faults.trip();
      await nodeDeployFs.rename(from, to);
    },
    async unlink(file) {
      if (step === "unlink" && !file.endsWith(".tmp")) faults.trip();
      await nodeDeployFs.unlink(file);
    },
  };
  return wrapped;
}

function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const full = path.join(dir, p);
    if (fs.statSync(full).isFile()) out[p.split(path.sep).join("/")] = fs.readFileSync(full, "utf8");
  }
  return out;
}

function coded(code: string) {
  return (err: unknown) => {
    assert.ok(err instanceof GwsyncError, `expected GwsyncError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  };
}

describe("FileDeployer under disk faults", () => {
  test("ENOSPC half way through a deploy leaves the previous version intact and no temp files", async () => {
    const dir = freshDir();
    const faults = faultyFs("write", "ENOSPC", 2);
    const deployer = new FileDeployer({ deploymentDir: dir, fs: faults, stateWriteDelayMs: 0 });
    await deployer.deploy(dto("<v1/>", ["s1", "s2", "s3"]), meta("1"));
    const before = tree(dir);
    const stateBefore = fs.readFileSync(deployer.stateFile, "utf8");

    faults.armed = true;
    await assert.rejects(deployer.deploy(dto("<v2/>", ["s1", "s2", "s4"]), meta("2")), (err) => {
      coded("GWSYNC_DEPLOY_DISK_FULL")(err);
      assert.match(
        (err as Error).message,
        /cannot deploy API id-A: ENOSPC .*free disk space; the previous version stays deployed/,
      );
      assert.equal((err as GwsyncError).retryable, true);
      return true;
    });
    assert.deepEqual(tree(dir), before, "every file is still v1 and no temp file is left");
    assert.equal(deployer.get("id-A")?.sha256, "1".repeat(64));
    assert.equal(fs.readFileSync(deployer.stateFile, "utf8"), stateBefore);

    await deployer.deploy(dto("<v2/>", ["s1", "s2", "s4"]), meta("2"));
    assert.deepEqual(Object.keys(tree(dir)).sort(), [
      "api/admin--A_v1.0.0.xml",
      "sequences/s1.xml",
      "sequences/s2.xml",
      "sequences/s4.xml",
    ]);
  });

  test("EIO on fsync of a temp file is GWSYNC_DEPLOY_IO and the first deploy leaves nothing behind", async () => {
    const dir = freshDir();
    const faults = faultyFs("sync", "EIO", 1);
    faults.armed = true;
    const deployer = new FileDeployer({ deploymentDir: dir, fs: faults, stateWriteDelayMs: 0 });
    await assert.rejects(deployer.deploy(dto("<v1/>", ["s1"]), meta("1")), coded("GWSYNC_DEPLOY_IO"));
    assert.deepEqual(tree(dir), {});
    assert.equal(deployer.get("id-A"), undefined);
    assert.equal(fs.existsSync(deployer.stateFile), false);
  });

  test("a failing rename half way records what is on disk and the next deploy rewrites everything", async () => {
    const dir = freshDir();
    const faults = faultyFs("rename", "EIO", 2);
    const deployer = new FileDeployer({ deploymentDir: dir, fs: faults, stateWriteDelayMs: 0 });
    await deployer.deploy(dto("<v1/>", ["s1", "s2"]), meta("1"));
    faults.armed = true; // the API file and n1 are renamed, s1 fails
    await assert.rejects(deployer.deploy(dto("<v2/>", ["n1", "s1"]), meta("2")), coded("GWSYNC_DEPLOY_IO"));
    const record = deployer.get("id-A");
    assert.equal(record?.sha256, "", "marked as not matching any artifact");
    assert.deepEqual(record?.files.map((f) => f.relPath).sort(), [
      "api/admin--A_v1.0.0.xml",
      "sequences/n1.xml",
      "sequences/s1.xml",
      "sequences/s2.xml",
    ]);
    assert.ok(!Object.keys(tree(dir)).some((f) => f.endsWith(".tmp")), "no temp file is left");
    // The renamed new file belongs to A: another API cannot take it, and A's next deploy cleans up.
    const other = {
      ...dto("<b/>", ["n1"]),
      apiId: "id-B",
      name: "B",
      apiDefinition: '<api name="admin--B" context="/b" version="1.0.0"/>',
    };
    await assert.rejects(deployer.deploy(other, meta("3")), coded("GWSYNC_ARTIFACT_CONFLICT"));
    await deployer.deploy(dto("<v2/>", ["n1", "s1"]), meta("2"));
    const files = tree(dir);
    assert.deepEqual(Object.keys(files).sort(), [
      "api/admin--A_v1.0.0.xml",
      "sequences/n1.xml",
      "sequences/s1.xml",
    ]);
    assert.ok(Object.values(files).every((content) => content.includes("<v2/>")));
  });

  test("a failing unlink during undeploy keeps the file it could not remove owned, for a retry", async () => {
    const dir = freshDir();
    const faults = faultyFs("unlink", "EIO", 1);
    const deployer = new FileDeployer({ deploymentDir: dir, fs: faults, stateWriteDelayMs: 0 });
    await deployer.deploy(dto("<v1/>", ["s1", "s2"]), meta("1"));
    faults.armed = true;
    await assert.rejects(deployer.undeploy("id-A"), coded("GWSYNC_DEPLOY_IO"));
    const left = deployer.get("id-A")?.files.map((f) => f.relPath);
    assert.deepEqual(left, ["sequences/s1.xml"], "only the file it could not remove");
    assert.deepEqual(Object.keys(tree(dir)), left);
    await deployer.undeploy("id-A");
    assert.deepEqual(tree(dir), {});
    assert.equal(deployer.get("id-A"), undefined);
  });

  test("ENOSPC while saving the state keeps the change pending for the next flush", async () => {
    const dir = freshDir();
    const faults = faultyFs("write", "ENOSPC", 1);
    const deployer = new FileDeployer({ deploymentDir: dir, fs: faults, stateWriteDelayMs: 0 });
    await deployer.deploy(dto("<v1/>", []), meta("1"), { deferFlush: true });
    faults.armed = true; // the API file is written; the next write is the state's temp file
    await deployer.deploy(dto("<v2/>", []), meta("2"), { deferFlush: true });
    await assert.rejects(deployer.flush(), coded("GWSYNC_DEPLOY_DISK_FULL"));
    assert.equal(fs.existsSync(deployer.stateFile), false);
    assert.deepEqual(
      Object.keys(tree(path.dirname(dir))).filter((f) => f.endsWith(".tmp")),
      [],
    );
    await deployer.flush();
    assert.equal(JSON.parse(fs.readFileSync(deployer.stateFile, "utf8")).apis[0].sha256, "2".repeat(64));
  });
});
