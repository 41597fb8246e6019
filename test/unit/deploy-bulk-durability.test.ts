/**
 * A bulk deploy (deferFlush: the startup load, catch-up) makes its files durable in rounds shared with
 * the other deploys in flight (issue 19, B7). What must hold whatever the rounds look like: a file's
 * name is only given to bytes already fsynced (rename after the temp's fsync), and deploy() returns
 * (the API is reported deployed) only after a fsync of each folder holding its renames, started after
 * them.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";
import { GwsyncError } from "../../src/errors.js";
import { type DeployFs, nodeDeployFs } from "../../src/gateway/deploy/deploy-fs.js";
import { FileDeployer } from "../../src/gateway/deploy/file-deployer.js";
import { apiDto } from "../harness/api-dto.js";
import { tempDir } from "../harness/temp-dir.js";

const tmpRoot = tempDir("gwsync-bulk-");
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));
let dirCount = 0;
const freshDir = () => path.join(tmpRoot, `gw${++dirCount}`, "default");

const dto = (name: string, body: string) =>
  apiDto(name, {
    body,
    sequences: [{ name: `${name}-in`, content: `<sequence name="${name}-in">${body}</sequence>` }],
  });
const meta = (sha: string, seq = 1) => ({ revision: seq, sha256: sha.repeat(64), seq, labels: ["Default"] });

type Step =
  | { op: "write" | "sync" | "close"; file: string }
  | { op: "dirsync"; dir: string }
  | { op: "rename"; from: string; to: string }
  | { op: "done"; apiId: string };

/** node's fs, recording every call of a deploy in order; `fail` makes one call fail once. */
function recordingFs(log: Step[], fail?: (s: Step) => string | undefined): DeployFs {
  const check = (s: Step) => {
    const code = fail?.(s);
    if (code !== undefined) throw Object.assign(new Error(`${code}: injected`), { code });
  };
  return {
    ...nodeDeployFs,
    async open(file, flags, mode) {
      const handle = await nodeDeployFs.open(file, flags, mode);
      const isDir = flags === "r";
      return {
        writeFile: async (data, enc) => {
          const s: Step = { op: "write", file };
          check(s);
          await handle.writeFile(data, enc);
          log.push(s);
        },
        sync: async () => {
          const s: Step = isDir ? { op: "dirsync", dir: file } : { op: "sync", file };
          check(s);
          await handle.sync();
          log.push(s);
        },
        close: async () => {
          await handle.close();
          if (!isDir) log.push({ op: "close", file });
        },
      };
    },
    async rename(from, to) {
      const s: Step = { op: "rename", from, to };
      check(s);
      await nodeDeployFs.rename(from, to);
      log.push(s);
    },
  };
}

function files(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .filter((p) => fs.statSync(path.join(dir, p)).isFile())
    .map((p) => p.split(path.sep).join("/"))
    .sort();
}

describe("bulk deploys: durability order", () => {
  test("every rename follows its temp's fsync; deploy() returns after a folder fsync started after its renames", async () => {
    const dir = freshDir();
    const log: Step[] = [];
    const deployer = new FileDeployer({ deploymentDir: dir, fs: recordingFs(log), stateWriteDelayMs: 0 });
    const names = Array.from({ length: 40 }, (_, i) => `Api${i}`);
    // Two versions of each: the second replaces files the first made durable.
    for (const [v, sha] of [
      ["<v1/>", "1"],
      ["<v2/>", "2"],
    ] as const) {
      await Promise.all(
        names.map((n) =>
          deployer
            .deploy(dto(n, v), meta(sha, Number(sha)), { deferFlush: true })
            .then(() => log.push({ op: "done", apiId: `id-${n}` })),
        ),
      );
    }
    await deployer.flush();

    const at = (pred: (s: Step) => boolean, from = 0) => log.findIndex((s, i) => i >= from && pred(s));
    let renames = 0;
    for (const [i, s] of log.entries()) {
      if (s.op !== "rename" || s.to === deployer.stateFile) continue;
      renames++;
      const synced = at((x) => x.op === "sync" && x.file === s.from);
      assert.ok(synced >= 0 && synced < i, `${s.from} renamed before its fsync`);
      const written = at((x) => x.op === "write" && x.file === s.from);
      assert.ok(written < synced, `${s.from} fsynced before it was written`);
    }
    assert.equal(renames, names.length * 2 * 2, "two files per API, two versions");

    let dones = 0;
    for (const [i, s] of log.entries()) {
      if (s.op !== "done") continue;
      dones++;
      const name = s.apiId.slice(3);
      // This API's renames before this done (the latest version's).
      const mine = log
        .slice(0, i)
        .filter((x): x is Extract<Step, { op: "rename" }> => x.op === "rename")
        .filter((x) => x.to.endsWith(`admin--${name}_v1.0.0.xml`) || x.to.endsWith(`${name}-in.xml`))
        .slice(-2);
      assert.equal(mine.length, 2);
      for (const r of mine) {
        const renamedAt = log.indexOf(r);
        const dirSynced = at((x) => x.op === "dirsync" && x.dir === path.dirname(r.to), renamedAt);
        assert.ok(
          dirSynced > renamedAt && dirSynced < i,
          `${s.apiId} reported before ${r.to}'s folder fsync`,
        );
      }
    }
    assert.equal(dones, names.length * 2);
    // Rounds, not one folder fsync per deploy.
    const dirSyncs = log.filter((s) => s.op === "dirsync").length;
    assert.ok(dirSyncs < names.length * 2 * 2, `${dirSyncs} folder fsyncs for ${names.length * 2} deploys`);
    assert.equal(files(dir).length, names.length * 2);
    assert.equal(JSON.parse(fs.readFileSync(deployer.stateFile, "utf8")).apis.length, names.length);
  });

  test("EIO on one temp's fsync fails that deploy alone: its previous version stays, no temp is left", async () => {
    const dir = freshDir();
    const log: Step[] = [];
    let armed = false;
    const deployer = new FileDeployer({
      deploymentDir: dir,
      stateWriteDelayMs: 0,
      fs: recordingFs(log, (s) => {
        if (
          armed &&
          s.op === "sync" &&
          s.file.includes(".gwsync-") &&
          fs.readFileSync(s.file, "utf8").includes("B")
        ) {
          armed = false;
          return "EIO";
        }
        return undefined;
      }),
    });
    await deployer.deploy(dto("A", "<v1/>"), meta("1"), { deferFlush: true });
    await deployer.deploy(dto("B", "<v1/>"), meta("1"), { deferFlush: true });
    const bBefore = fs.readFileSync(path.join(dir, "api", "admin--B_v1.0.0.xml"), "utf8");
    armed = true;
    const [a, b] = await Promise.allSettled([
      deployer.deploy(dto("A", "<v2/>"), meta("2", 2), { deferFlush: true }),
      deployer.deploy(dto("B", "<v2/>"), meta("2", 2), { deferFlush: true }),
    ]);
    assert.equal(a.status, "fulfilled");
    assert.equal(b.status, "rejected");
    assert.ok(b.status === "rejected" && b.reason instanceof GwsyncError);
    assert.equal((b as PromiseRejectedResult).reason.code, "GWSYNC_DEPLOY_IO");
    assert.equal(fs.readFileSync(path.join(dir, "api", "admin--B_v1.0.0.xml"), "utf8"), bBefore);
    assert.equal(deployer.get("id-B")?.sha256, "1".repeat(64));
    assert.equal(deployer.get("id-A")?.sha256, "2".repeat(64));
    assert.deepEqual(
      files(dir).filter((f) => f.includes(".tmp")),
      [],
      "no temp file left",
    );
  });

  test("a failing folder fsync fails the deploy (it is not reported); the next deploy succeeds", async () => {
    const dir = freshDir();
    const log: Step[] = [];
    let armed = true;
    const deployer = new FileDeployer({
      deploymentDir: dir,
      stateWriteDelayMs: 0,
      fs: recordingFs(log, (s) => {
        if (armed && s.op === "dirsync") {
          armed = false;
          return "EIO";
        }
        return undefined;
      }),
    });
    await assert.rejects(
      deployer.deploy(dto("A", "<v1/>"), meta("1"), { deferFlush: true }),
      (err: unknown) => err instanceof GwsyncError && err.code === "GWSYNC_DEPLOY_IO",
    );
    await deployer.deploy(dto("A", "<v1/>"), meta("1"), { deferFlush: true });
    await deployer.flush();
    assert.deepEqual(files(dir), ["api/admin--A_v1.0.0.xml", "sequences/A-in.xml"]);
  });

  test("a bulk redeploy keeps each replaced file under a temp name until the next flush, then removes it", async () => {
    // The rename over a file frees the replaced one inside the rename, on ext4 behind the journal
    // (B7, issue 19: 3.8 s of 10,000 blocking renames): kept linked, the rename only moves a name.
    const dir = freshDir();
    const deployer = new FileDeployer({ deploymentDir: dir, stateWriteDelayMs: 0 });
    const names = ["A", "B", "C"];
    for (const n of names) await deployer.deploy(dto(n, "<v1/>"), meta("1"), { deferFlush: true });
    await deployer.flush();
    await deployer.reaped();
    const apiFile = (n: string) => path.join(dir, "api", `admin--${n}_v1.0.0.xml`);
    const inodes = new Map(names.map((n) => [fs.statSync(apiFile(n)).ino, n]));
    const readers = names.map((n) => fs.openSync(apiFile(n), "r"));
    try {
      await Promise.all(
        names.map((n) => deployer.deploy(dto(n, "<v2/>"), meta("2", 2), { deferFlush: true })),
      );
      for (const n of names) assert.match(fs.readFileSync(apiFile(n), "utf8"), /<v2\/>/);
      // Each replaced file is still linked in its folder, under a temp name, with its old bytes.
      const kept = fs
        .readdirSync(path.join(dir, "api"))
        .filter((f) => f.endsWith(".tmp"))
        .map((f) => path.join(dir, "api", f));
      assert.deepEqual(
        kept.map((f) => inodes.get(fs.statSync(f).ino)).sort(),
        names,
        "every replaced api file is kept (one temp name each)",
      );
      for (const f of kept) assert.match(fs.readFileSync(f, "utf8"), /<v1\/>/);
      assert.equal(
        fs.readdirSync(path.join(dir, "sequences")).filter((f) => f.endsWith(".tmp")).length,
        3,
        "and every replaced sequence",
      );
      await deployer.flush();
      await deployer.reaped();
      assert.deepEqual(
        files(dir).filter((f) => f.includes(".tmp")),
        [],
        "removed after the flush",
      );
      for (const fd of readers) assert.equal(fs.fstatSync(fd).nlink, 0, "the replaced file is gone");
    } finally {
      for (const fd of readers) fs.closeSync(fd);
    }
  });

  test("a single deploy (not bulk) replaces its files as before: nothing kept", async () => {
    const dir = freshDir();
    const deployer = new FileDeployer({ deploymentDir: dir, stateWriteDelayMs: 0 });
    await deployer.deploy(dto("A", "<v1/>"), meta("1"));
    await deployer.deploy(dto("A", "<v2/>"), meta("2", 2));
    assert.deepEqual(files(dir), ["api/admin--A_v1.0.0.xml", "sequences/A-in.xml"]);
  });
});
