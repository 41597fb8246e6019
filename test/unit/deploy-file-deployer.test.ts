import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";
import type { GatewayApiDto } from "../../src/artifacts/types.js";
import { GwsyncError } from "../../src/errors.js";
import {
  type BulkDeployFs,
  type DeployFs,
  nodeBulkDeployFs,
  nodeDeployFs,
  nodePoolDeployFs,
  nodeSyncDir,
} from "../../src/gateway/deploy/deploy-fs.js";
import {
  DEFAULT_DIR_SYNC_DELAY_MS,
  DEFAULT_STATE_WRITE_DELAY_MS,
  FileDeployer,
} from "../../src/gateway/deploy/file-deployer.js";
import { tempDir } from "../harness/temp-dir.js";

const tmpRoot = tempDir("gwsync-deploy-");
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));
let dirCount = 0;
function freshDir(): string {
  return path.join(tmpRoot, `gw${++dirCount}`, "synapse-configs", "default");
}

function apiXml(provider: string, name: string, version: string, body = ""): string {
  return `<api xmlns="http://ws.apache.org/ns/synapse" name="${provider}--${name}" context="/${name.toLowerCase()}/${version}" version="${version}" version-type="context"><resource methods="GET" url-mapping="/*">${body}</resource></api>`;
}

function dto(
  name: string,
  options: { version?: string; body?: string; seq?: string[]; ep?: string[]; le?: string[] } = {},
): GatewayApiDto {
  const version = options.version ?? "1.0.0";
  return {
    name,
    version,
    provider: "admin",
    tenantDomain: "carbon.super",
    apiId: `id-${name}`,
    apiDefinition: apiXml("admin", name, version, options.body),
    sequenceToBeAdd: (options.seq ?? []).map((s) => ({
      name: s,
      content: `<sequence xmlns="http://ws.apache.org/ns/synapse" name="${s}"/>`,
    })),
    endpointEntriesToBeAdd: (options.ep ?? []).map((e) => ({
      name: e,
      content: `<endpoint name="${e}"><address uri="http://b/"/></endpoint>`,
    })),
    localEntriesToBeAdd: (options.le ?? []).map((l) => ({
      name: l,
      content: `<localEntry key="${l}">x</localEntry>`,
    })),
  };
}

const meta = (sha256: string, seq = 1) => ({ revision: seq, sha256, seq, labels: ["Default"] });

/** Every file under dir, relative, sorted. */
function tree(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .filter((p) => fs.statSync(path.join(dir, p)).isFile())
    .map((p) => p.split(path.sep).join("/"))
    .sort();
}

function unsafeName(err: unknown): boolean {
  assert.ok(err instanceof GwsyncError);
  assert.equal(err.code, "GWSYNC_ARTIFACT_NAME_UNSAFE");
  return true;
}

describe("FileDeployer", () => {
  test("deploys a DTO in WSO2's layout and records it beside the deployment folder", async () => {
    const dir = freshDir();
    const deployer = new FileDeployer({ deploymentDir: dir, stateWriteDelayMs: 0 });
    const d = dto("PizzaShackAPI", {
      seq: ["admin--PizzaShackAPI:v1.0.0--In"],
      ep: ["PizzaShackAPI--v1.0.0_APIproductionEndpoint"],
      le: ["id-PizzaShackAPI"],
    });
    const files = await deployer.deploy(d, meta("a".repeat(64)));
    assert.deepEqual(tree(dir), [
      "api/admin--PizzaShackAPI_v1.0.0.xml",
      "endpoints/PizzaShackAPI--v1.0.0_APIproductionEndpoint.xml",
      "local-entries/id-PizzaShackAPI.xml",
      "sequences/admin--PizzaShackAPI:v1.0.0--In.xml",
    ]);
    assert.equal(
      fs.readFileSync(path.join(dir, "api/admin--PizzaShackAPI_v1.0.0.xml"), "utf8"),
      d.apiDefinition,
    );
    assert.equal(files.length, 4);
    assert.equal(
      (fs.statSync(path.join(dir, "api/admin--PizzaShackAPI_v1.0.0.xml")).mode & 0o777).toString(8),
      "644",
    );
    assert.equal(deployer.stateFile, `${dir}.gwsync-state.json`);
    const state = JSON.parse(fs.readFileSync(deployer.stateFile, "utf8"));
    assert.equal(state.apis[0].apiId, "id-PizzaShackAPI");
    assert.equal(state.apis[0].context, "/pizzashackapi/1.0.0");
    assert.equal(state.apis[0].files.length, 4);
  });

  test("an update replaces changed files and removes the files the API no longer has", async () => {
    const dir = freshDir();
    const deployer = new FileDeployer({ deploymentDir: dir, stateWriteDelayMs: 0 });
    await deployer.deploy(dto("A", { seq: ["s-old"], ep: ["ep1"] }), meta("1".repeat(64)));
    const v2 = dto("A", { body: "<inSequence/>", seq: ["s-new"] });
    await deployer.deploy(v2, meta("2".repeat(64), 2));
    assert.deepEqual(tree(dir), ["api/admin--A_v1.0.0.xml", "sequences/s-new.xml"]);
    assert.equal(fs.readFileSync(path.join(dir, "api/admin--A_v1.0.0.xml"), "utf8"), v2.apiDefinition);
    assert.equal(deployer.get("id-A")?.seq, 2);
  });

  test("a new version of an API replaces the old version's file", async () => {
    const dir = freshDir();
    const deployer = new FileDeployer({ deploymentDir: dir, stateWriteDelayMs: 0 });
    await deployer.deploy(dto("A"), meta("1".repeat(64)));
    await deployer.deploy(dto("A", { version: "2.0.0" }), meta("2".repeat(64), 2));
    assert.deepEqual(tree(dir), ["api/admin--A_v2.0.0.xml"]);
  });

  test("undeploy removes exactly the API's files, not another API's nor the operator's", async () => {
    const dir = freshDir();
    const deployer = new FileDeployer({ deploymentDir: dir, stateWriteDelayMs: 0 });
    await deployer.deploy(dto("A", { seq: ["sa"] }), meta("1".repeat(64)));
    await deployer.deploy(dto("B", { seq: ["sb"] }), meta("2".repeat(64)));
    fs.writeFileSync(path.join(dir, "sequences", "custom.xml"), "<sequence/>");
    await deployer.undeploy("id-A");
    assert.deepEqual(tree(dir), ["api/admin--B_v1.0.0.xml", "sequences/custom.xml", "sequences/sb.xml"]);
    assert.equal(deployer.get("id-A"), undefined);
    await deployer.undeploy("id-unknown");
    assert.deepEqual(
      deployer.deployed().map((a) => a.apiId),
      ["id-B"],
    );
  });

  test("a file another API owns is refused before anything is written", async () => {
    const dir = freshDir();
    const deployer = new FileDeployer({ deploymentDir: dir, stateWriteDelayMs: 0 });
    await deployer.deploy(dto("A", { seq: ["shared"] }), meta("1".repeat(64)));
    await assert.rejects(deployer.deploy(dto("B", { seq: ["shared"] }), meta("2".repeat(64))), (err) => {
      assert.ok(err instanceof GwsyncError);
      assert.equal(err.code, "GWSYNC_ARTIFACT_CONFLICT");
      assert.match(err.message, /file sequences\/shared.xml is already owned by API id-A/);
      return true;
    });
    assert.deepEqual(tree(dir), ["api/admin--A_v1.0.0.xml", "sequences/shared.xml"]);
    await deployer.undeploy("id-B");
    assert.ok(
      fs.existsSync(path.join(dir, "sequences/shared.xml")),
      "B's failed deploy must not let it delete A's file",
    );
  });

  test("redeploying the same apiId and sha256 writes nothing and keeps mtimes", async () => {
    const dir = freshDir();
    const deployer = new FileDeployer({ deploymentDir: dir, stateWriteDelayMs: 0 });
    const d = dto("A", { seq: ["s"] });
    await deployer.deploy(d, meta("1".repeat(64)));
    const file = path.join(dir, "api/admin--A_v1.0.0.xml");
    const past = new Date("2020-01-01T00:00:00Z");
    fs.utimesSync(file, past, past);
    const before = fs.statSync(file);
    await deployer.deploy(structuredClone(d), meta("1".repeat(64), 5));
    const afterStat = fs.statSync(file);
    assert.equal(afterStat.mtimeMs, before.mtimeMs);
    assert.equal(afterStat.ino, before.ino);
    assert.equal(deployer.get("id-A")?.seq, 5, "the metadata still moves forward");
  });

  test("an update rewrites only the files whose content changed", async () => {
    const dir = freshDir();
    const deployer = new FileDeployer({ deploymentDir: dir, stateWriteDelayMs: 0 });
    await deployer.deploy(dto("A", { seq: ["s"] }), meta("1".repeat(64)));
    const seqFile = path.join(dir, "sequences/s.xml");
    const inode = fs.statSync(seqFile).ino;
    await deployer.deploy(dto("A", { seq: ["s"], body: "<inSequence/>" }), meta("2".repeat(64), 2));
    assert.equal(fs.statSync(seqFile).ino, inode);
  });

  test("the state survives a restart: a new deployer loads it and can undeploy what the old one wrote", async () => {
    const dir = freshDir();
    const first = new FileDeployer({ deploymentDir: dir, stateWriteDelayMs: 0 });
    await first.deploy(dto("A", { ep: ["e"] }), meta("1".repeat(64), 3));
    await first.deploy(dto("B"), meta("2".repeat(64), 4));
    const second = new FileDeployer({ deploymentDir: dir, stateWriteDelayMs: 0 });
    const loaded = await second.load();
    assert.deepEqual(
      loaded.map((a) => [a.apiId, a.seq, a.sha256.slice(0, 1), a.labels]),
      [
        ["id-A", 3, "1", ["Default"]],
        ["id-B", 4, "2", ["Default"]],
      ],
    );
    await second.undeploy("id-A");
    assert.deepEqual(tree(dir), ["api/admin--B_v1.0.0.xml"]);
    const third = new FileDeployer({ deploymentDir: dir, stateWriteDelayMs: 0 });
    assert.deepEqual(
      (await third.load()).map((a) => a.apiId),
      ["id-B"],
    );
  });

  test("on load, an API whose file went missing is marked for a rewrite (empty sha256)", async () => {
    const dir = freshDir();
    await new FileDeployer({ deploymentDir: dir, stateWriteDelayMs: 0 }).deploy(
      dto("A"),
      meta("1".repeat(64)),
    );
    fs.rmSync(path.join(dir, "api/admin--A_v1.0.0.xml"));
    const second = new FileDeployer({ deploymentDir: dir, stateWriteDelayMs: 0 });
    assert.equal((await second.load())[0]?.sha256, "");
    await second.deploy(dto("A"), meta("1".repeat(64)));
    assert.deepEqual(tree(dir), ["api/admin--A_v1.0.0.xml"]);
  });

  test("on load, each folder is listed once instead of a stat per file; a dangling symlink counts as missing", async () => {
    const dir = freshDir();
    const first = new FileDeployer({ deploymentDir: dir, stateWriteDelayMs: 0 });
    for (const n of ["A", "B", "C", "D"]) await first.deploy(dto(n, { seq: [`s${n}`] }), meta("1".repeat(64)));
    fs.rmSync(path.join(dir, "sequences/sB.xml")); // B lost a file
    // C's API file replaced by a symlink to a copy (there), D's by a dangling one (not there).
    const apiC = path.join(dir, "api/admin--C_v1.0.0.xml");
    fs.copyFileSync(apiC, path.join(path.dirname(dir), "c-copy.xml"));
    fs.rmSync(apiC);
    fs.symlinkSync(path.join(path.dirname(dir), "c-copy.xml"), apiC);
    const apiD = path.join(dir, "api/admin--D_v1.0.0.xml");
    fs.rmSync(apiD);
    fs.symlinkSync(path.join(path.dirname(dir), "nowhere.xml"), apiD);
    const stats: string[] = [];
    const listed: string[] = [];
    const counting: DeployFs = {
      ...nodeDeployFs,
      stat: (file) => {
        stats.push(path.relative(dir, file));
        return nodeDeployFs.stat(file);
      },
      readdirTypes: (folder) => {
        listed.push(path.relative(dir, folder));
        return nodeDeployFs.readdirTypes(folder);
      },
    };
    const second = new FileDeployer({ deploymentDir: dir, stateWriteDelayMs: 0, fs: counting });
    const byId = new Map((await second.load()).map((a) => [a.apiId, a.sha256]));
    assert.deepEqual(Object.fromEntries(byId), {
      "id-A": "1".repeat(64),
      "id-B": "",
      "id-C": "1".repeat(64),
      "id-D": "",
    });
    assert.deepEqual(stats.sort(), ["api/admin--C_v1.0.0.xml", "api/admin--D_v1.0.0.xml"], "only symlinks are stat'ed");
    assert.deepEqual(listed.sort(), ["api", "endpoints", "local-entries", "sequences"]);
  });

  test("temp files a crash left behind are removed: the state's on load, the folders' after the next flush", async () => {
    const dir = freshDir();
    fs.mkdirSync(path.join(dir, "api"), { recursive: true });
    fs.writeFileSync(path.join(dir, "api", ".gwsync-999-1.tmp"), "<api");
    fs.writeFileSync(path.join(dir, "api", "operator.xml"), "<api/>");
    fs.writeFileSync(path.join(path.dirname(dir), ".default.gwsync-state.json-999-3.tmp"), "{");
    const deployer = new FileDeployer({ deploymentDir: dir, stateWriteDelayMs: 0 });
    await deployer.load();
    await deployer.flush();
    await deployer.reaped();
    assert.deepEqual(tree(dir), ["api/operator.xml"]);
    assert.deepEqual(fs.readdirSync(path.dirname(dir)).sort(), ["default"]);
  });

  test("close() removes every retired file before it returns: a stop leaves no temp file in the folders", async () => {
    const dir = freshDir();
    fs.mkdirSync(path.join(dir, "api"), { recursive: true });
    // What ten kill -9s left behind (test/faults/gateway-kill.test.ts found 846 after a graceful stop).
    for (let i = 0; i < 200; i++) fs.writeFileSync(path.join(dir, "api", `.gwsync-999-${i}.tmp`), "<api");
    const deployer = new FileDeployer({ deploymentDir: dir, stateWriteDelayMs: 0 });
    await deployer.load();
    await deployer.flush(); // starts the removal in the background, two at a time
    await deployer.close();
    assert.deepEqual(tree(dir), [], "no temp file left once close() returned");
  });

  test("a corrupt state file is refused with the way out", async () => {
    const dir = freshDir();
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(
      `${dir}.gwsync-state.json`,
      JSON.stringify({
        format: 1,
        apis: [{ apiId: "x", files: [{ kind: "api", relPath: "../../etc/passwd", sha256: "0".repeat(64) }] }],
      }),
    );
    await assert.rejects(new FileDeployer({ deploymentDir: dir, stateWriteDelayMs: 0 }).load(), (err) => {
      assert.ok(err instanceof GwsyncError);
      assert.equal(err.code, "GWSYNC_DEPLOY_IO");
      assert.equal(err.retryable, false);
      assert.match(err.message, /is not valid .*move it away and restart/);
      return true;
    });
  });

  test("a state file inside the deployment folder is refused", () => {
    const dir = freshDir();
    assert.throws(
      () => new FileDeployer({ deploymentDir: dir, stateFile: path.join(dir, "state.json") }),
      /must not be inside the deployment folder/,
    );
  });

  test("deferFlush leaves the state file for one explicit flush", async () => {
    const dir = freshDir();
    const deployer = new FileDeployer({ deploymentDir: dir, stateWriteDelayMs: 0 });
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        deployer.deploy(dto(`Api${i}`), meta(String(i % 10).repeat(64)), { deferFlush: true }),
      ),
    );
    assert.equal(fs.existsSync(deployer.stateFile), false);
    assert.equal(tree(dir).length, 50);
    await deployer.flush();
    assert.equal(JSON.parse(fs.readFileSync(deployer.stateFile, "utf8")).apis.length, 50);
  });

  test("calls for one API apply in call order even when not awaited", async () => {
    const dir = freshDir();
    const deployer = new FileDeployer({ deploymentDir: dir, stateWriteDelayMs: 0 });
    const calls = [
      deployer.deploy(dto("A", { seq: ["s1"] }), meta("1".repeat(64), 1)),
      deployer.deploy(dto("A", { seq: ["s2"] }), meta("2".repeat(64), 2)),
      deployer.undeploy("id-A"),
      deployer.deploy(dto("A", { seq: ["s3"] }), meta("3".repeat(64), 3)),
    ];
    await Promise.all(calls);
    assert.deepEqual(tree(dir), ["api/admin--A_v1.0.0.xml", "sequences/s3.xml"]);
    assert.equal(deployer.get("id-A")?.seq, 3);
  });

  test("a name escaping the deployment folder is refused before any write", async () => {
    const dir = freshDir();
    const deployer = new FileDeployer({ deploymentDir: dir, stateWriteDelayMs: 0 });
    const evil = dto("A");
    evil.sequenceToBeAdd = [{ name: "../../../escape", content: "<sequence/>" }];
    await assert.rejects(deployer.deploy(evil, meta("1".repeat(64))), unsafeName);
    assert.deepEqual(tree(path.dirname(path.dirname(dir))), []);
    assert.equal(deployer.get("id-A"), undefined);
  });

  test("a deployment sub-folder that is a symlink pointing out is refused before any write", async () => {
    const dir = freshDir();
    const outside = fs.mkdtempSync(path.join(tmpRoot, "outside-"));
    fs.mkdirSync(dir, { recursive: true });
    fs.symlinkSync(outside, path.join(dir, "sequences"));
    const deployer = new FileDeployer({ deploymentDir: dir, stateWriteDelayMs: 0 });
    await assert.rejects(deployer.deploy(dto("A", { seq: ["s"] }), meta("1".repeat(64))), unsafeName);
    assert.deepEqual(fs.readdirSync(outside), []);
    assert.equal(deployer.get("id-A"), undefined);
    // The claim was released: after the operator fixes the folder, the same deploy works.
    fs.unlinkSync(path.join(dir, "sequences"));
    const fixed = new FileDeployer({ deploymentDir: dir, stateWriteDelayMs: 0 });
    await fixed.deploy(dto("A", { seq: ["s"] }), meta("1".repeat(64)));
    assert.ok(tree(dir).includes("sequences/s.xml"));
  });
});

describe("FileDeployer state batching", () => {
  test("files are in place when deploy() returns; one state write serves a burst, at the latest on flush()", async () => {
    const dir = path.join(tempDir("gwsync-batch-"), "default");
    const deployer = new FileDeployer({ deploymentDir: dir, stateWriteDelayMs: 60_000 });
    await Promise.all(["A", "B", "C"].map((n, i) => deployer.deploy(dto(n), meta(String(i + 1).repeat(64)))));
    for (const n of ["A", "B", "C"])
      assert.ok(fs.existsSync(path.join(dir, "api", `admin--${n}_v1.0.0.xml`)));
    assert.equal(fs.existsSync(deployer.stateFile), false, "the state write waits for the batch");
    await deployer.flush();
    const reloaded = new FileDeployer({ deploymentDir: dir });
    assert.deepEqual((await reloaded.load()).map((a) => a.name).sort(), ["A", "B", "C"]);
  });

  test("single deploys: their folders are fsynced within dirSyncDelayMs without a state write; the state follows later, after them", async () => {
    const dir = path.join(tempDir("gwsync-batch-"), "default");
    /** Every rename and folder fsync, in order: what the state write may rely on. */
    const ops: string[] = [];
    const fsLog: DeployFs = {
      ...onFolderSync(async (file, sync) => {
        await sync();
        ops.push(`fsync ${file}`);
      }),
      async rename(from, to) {
        await nodeDeployFs.rename(from, to);
        ops.push(`rename ${to}`);
      },
    };
    const deployer = new FileDeployer({
      deploymentDir: dir,
      fs: fsLog,
      dirSyncDelayMs: 5,
      stateWriteDelayMs: 60_000,
    });
    const apiDir = path.join(dir, "api");
    const synced = async (after: number) => {
      // Waits for a folder fsync after the op `after` (the 5 ms timer's), giving up after 30 s.
      for (let waited = 0; !ops.slice(after).includes(`fsync ${apiDir}`); waited += 5) {
        assert.ok(waited < 30_000, "the folder was not fsynced before the state write");
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    for (let i = 1; i <= 3; i++) {
      const mark = ops.length;
      await deployer.deploy(dto("A", { body: `<!-- ${i} -->` }), meta(String(i).repeat(64), i));
      await synced(mark);
    }
    assert.equal(
      fs.existsSync(deployer.stateFile),
      false,
      "no state write yet: the folder fsyncs went alone",
    );
    await deployer.flush();
    const stateRename = ops.lastIndexOf(`rename ${deployer.stateFile}`);
    assert.ok(stateRename > 0, "flush() writes the state");
    const lastApiRename = ops.lastIndexOf(`rename ${path.join(apiDir, "admin--A_v1.0.0.xml")}`);
    assert.ok(
      ops.slice(lastApiRename, stateRename).includes(`fsync ${apiDir}`),
      "the state names the file only after its rename's folder fsync",
    );
    const reloaded = new FileDeployer({ deploymentDir: dir });
    assert.equal((await reloaded.load())[0]?.sha256, "3".repeat(64));
  });

  test("a deploy renamed while a flush fsyncs the folders is not named in that flush's state", async () => {
    const dir = path.join(tempDir("gwsync-batch-"), "default");
    let hold: Promise<void> | undefined;
    let held: () => void = () => undefined;
    const gated = onFolderSync(async (_file, sync) => {
      const h = hold;
      hold = undefined;
      if (h !== undefined) {
        held();
        await h;
      }
      await sync();
    });
    const deployer = new FileDeployer({
      deploymentDir: dir,
      fs: gated,
      dirSyncDelayMs: 60_000,
      stateWriteDelayMs: 60_000,
    });
    await deployer.deploy(dto("A", { body: "<!-- 1 -->" }), meta("1".repeat(64), 1));
    let release!: () => void;
    hold = new Promise<void>((r) => {
      release = r;
    });
    const inFsync = new Promise<void>((r) => {
      held = r;
    });
    const flushing = deployer.flush();
    await inFsync; // the flush is fsyncing the API folder, which holds revision 1's rename
    await deployer.deploy(dto("A", { body: "<!-- 2 -->" }), meta("2".repeat(64), 2));
    release();
    await flushing;
    const named = JSON.parse(fs.readFileSync(deployer.stateFile, "utf8")) as { apis: { sha256: string }[] };
    assert.equal(
      named.apis[0]?.sha256,
      "1".repeat(64),
      "revision 2 was renamed after the folder fsync began",
    );
    await deployer.flush();
    const next = JSON.parse(fs.readFileSync(deployer.stateFile, "utf8")) as { apis: { sha256: string }[] };
    assert.equal(next.apis[0]?.sha256, "2".repeat(64));
  });

  test("a state written while an update removes an old file names that file until its folder fsync made the removal durable", async () => {
    const dir = path.join(tempDir("gwsync-batch-"), "default");
    const seqDir = path.join(dir, "sequences");
    const oldSeq = path.join(seqDir, "s-old.xml");
    /** Unlinks, folder fsyncs and state renames, in order. */
    const ops: string[] = [];
    let onOldUnlink: (() => Promise<void>) | undefined;
    const fsLog: DeployFs = {
      ...onFolderSync(async (file, sync) => {
        await sync();
        ops.push(`fsync ${file}`);
      }),
      async unlink(file) {
        await nodeDeployFs.unlink(file);
        ops.push(`unlink ${file}`);
        if (file === oldSeq) await onOldUnlink?.();
      },
    };
    const deployer = new FileDeployer({
      deploymentDir: dir,
      fs: fsLog,
      dirSyncDelayMs: 60_000,
      stateWriteDelayMs: 60_000,
    });
    await deployer.deploy(dto("A", { seq: ["s-old"] }), meta("1".repeat(64), 1));
    await deployer.flush();
    const states: { ops: number; seqs: string[] }[] = [];
    const readState = () => {
      const state = JSON.parse(fs.readFileSync(deployer.stateFile, "utf8")) as {
        apis: { sha256: string; files: (string | { relPath: string })[] }[];
      };
      const files = state.apis.flatMap((a) => a.files.map((f) => (typeof f === "string" ? f : f.relPath)));
      states.push({ ops: ops.length, seqs: files.filter((f) => f.startsWith("sequences/")) });
    };
    // A flush (the 200 ms timer's, say) lands right after the old sequence's unlink, before its folder fsync.
    onOldUnlink = async () => {
      onOldUnlink = undefined;
      await deployer.flush();
      readState();
    };
    await deployer.deploy(dto("A", { body: "<!-- 2 -->" }), meta("2".repeat(64), 2));
    assert.equal(onOldUnlink, undefined, "the flush ran inside the unlink");
    await deployer.flush();
    readState();
    assert.equal(fs.existsSync(oldSeq), false);
    const unlinked = ops.indexOf(`unlink ${oldSeq}`);
    for (const state of states) {
      if (state.seqs.includes("sequences/s-old.xml")) continue;
      assert.ok(
        ops.slice(unlinked, state.ops).includes(`fsync ${seqDir}`),
        `a state without the old sequence was written before its folder's fsync (${JSON.stringify(ops.slice(unlinked))})`,
      );
    }
    assert.deepEqual(states.at(-1)?.seqs, [], "the last state no longer names the old sequence");
  });

  test("a single deploy creates and renames with blocking calls unless an fsync of the deployer is in flight (issue 19)", async () => {
    const dir = path.join(tempDir("gwsync-single-"), "default");
    const used: string[] = [];
    /** node's calls of `fs`, logged under `name`; a temp's fsync waits for `gate` when one is set. */
    let gate: Promise<void> | undefined;
    let syncing: () => void = () => undefined;
    const logged = (name: string, fs: BulkDeployFs): BulkDeployFs => ({
      async createTemp(file, content, mode) {
        used.push(`${name} create`);
        const h = await fs.createTemp(file, content, mode);
        return {
          writeFile: (d, e) => h.writeFile(d, e),
          async sync() {
            syncing();
            if (gate !== undefined) await gate;
            await h.sync();
          },
          close: () => h.close(),
        };
      },
      async rename(from, to) {
        used.push(`${name} rename`);
        await fs.rename(from, to);
      },
    });
    const deployer = new FileDeployer({
      deploymentDir: dir,
      bulkFs: logged("blocking", nodeBulkDeployFs),
      poolFs: logged("pool", nodePoolDeployFs),
      dirSyncDelayMs: 60_000,
      stateWriteDelayMs: 60_000,
    });
    await deployer.deploy(dto("A", { body: "<!-- 1 -->" }), meta("1".repeat(64), 1));
    assert.deepEqual(used, ["blocking create", "blocking rename"], "one deploy at a time: blocking calls");
    used.length = 0;
    // B's fsync is held: A's deploy meanwhile creates and renames on the pool.
    let release!: () => void;
    gate = new Promise<void>((r) => {
      release = r;
    });
    const inSync = new Promise<void>((r) => {
      syncing = r;
    });
    const b = deployer.deploy(dto("B"), meta("b".repeat(64), 2));
    await inSync;
    gate = undefined;
    syncing = () => undefined;
    const a = deployer.deploy(dto("A", { body: "<!-- 2 -->" }), meta("2".repeat(64), 3));
    // A's rename too waits for nothing but its own fsync, which is not held: it ends before B's.
    await a;
    release();
    await b;
    assert.deepEqual(used, ["blocking create", "pool create", "pool rename", "blocking rename"]);
    assert.match(fs.readFileSync(path.join(dir, "api", "admin--A_v1.0.0.xml"), "utf8"), /<!-- 2 -->/);
    assert.ok(fs.existsSync(path.join(dir, "api", "admin--B_v1.0.0.xml")));
    assert.deepEqual(
      fs.readdirSync(path.join(dir, "api")).filter((f) => f.endsWith(".tmp")),
      [],
      "no temp file left",
    );
  });

  test("nodeSyncDir fsyncs a folder (one thread-pool trip) and fails on a missing one", async () => {
    const dir = tempDir("gwsync-syncdir-");
    await nodeSyncDir(dir);
    await assert.rejects(nodeSyncDir(path.join(dir, "missing")), { code: "ENOENT" });
  });

  test("by default the state file waits longer than the folder fsync (issue 19: not written every few updates)", () => {
    assert.equal(DEFAULT_DIR_SYNC_DELAY_MS, 200, "README: the rename is durable within 200 ms");
    assert.ok(DEFAULT_STATE_WRITE_DELAY_MS >= 5 * DEFAULT_DIR_SYNC_DELAY_MS);
  });
});

/** The real deploy fs, with every folder fsync (a folder is opened "r") going through `onSync`. */
function onFolderSync(onSync: (folder: string, sync: () => Promise<void>) => Promise<void>): DeployFs {
  return {
    ...nodeDeployFs,
    async open(file, flags, mode) {
      const handle = await nodeDeployFs.open(file, flags, mode);
      if (flags !== "r") return handle;
      return {
        writeFile: (d, e) => handle.writeFile(d, e),
        sync: () => onSync(file, () => handle.sync()),
        close: () => handle.close(),
      };
    },
  };
}
