import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import {
  type AtomicWriteFs,
  nodeAtomicWriteFs,
  PRIVATE_FILE_MODE,
  writeFileAtomic,
  writeFileAtomicSync,
} from "../../src/security/safe-write.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "gwsync-safe-write-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** node's calls, each one recorded as "<call> <name>" (names relative to `dir`). */
function recordingFs(dir: string, failRename = false): { fs: AtomicWriteFs; calls: string[] } {
  const calls: string[] = [];
  const rel = (f: string) => path.relative(dir, f) || ".";
  return {
    calls,
    fs: {
      async open(file, flags, mode) {
        const handle = await nodeAtomicWriteFs.open(file, flags, mode);
        calls.push(`open ${rel(file).replace(/-\d+-[0-9a-f]+-\d+\.tmp$/, "-N.tmp")} ${flags}`);
        return {
          writeFile: (d, e) => handle.writeFile(d, e),
          sync: async () => {
            calls.push(`fsync ${rel(file).replace(/-\d+-[0-9a-f]+-\d+\.tmp$/, "-N.tmp")}`);
            await handle.sync();
          },
          close: () => handle.close(),
        };
      },
      async rename(from, to) {
        if (failRename) throw Object.assign(new Error("EIO: rename"), { code: "EIO" });
        calls.push(`rename -> ${rel(to)}`);
        await nodeAtomicWriteFs.rename(from, to);
      },
      unlink: nodeAtomicWriteFs.unlink,
    },
  };
}

describe("one atomic write: temp, fsync of the file, rename, fsync of the folder", () => {
  test("the async write fsyncs the file before its rename and the folder after it", async () => {
    const dir = fs.mkdtempSync(path.join(root, "a-"));
    const { fs: rec, calls } = recordingFs(dir);
    await writeFileAtomic(rec, path.join(dir, "state.json"), ["{", "}"]);
    assert.deepEqual(calls, [
      "open .state.json-N.tmp wx",
      "fsync .state.json-N.tmp",
      "rename -> state.json",
      "open . r",
      "fsync .",
    ]);
    assert.equal(fs.readFileSync(path.join(dir, "state.json"), "utf8"), "{}");
    assert.deepEqual(fs.readdirSync(dir), ["state.json"]);
  });

  test("a failed rename keeps the previous file whole and leaves no temp file", async () => {
    const dir = fs.mkdtempSync(path.join(root, "b-"));
    fs.writeFileSync(path.join(dir, "api.xml"), "<old/>");
    const { fs: rec } = recordingFs(dir, true);
    await assert.rejects(writeFileAtomic(rec, path.join(dir, "api.xml"), "<new/>"), /EIO/);
    assert.equal(fs.readFileSync(path.join(dir, "api.xml"), "utf8"), "<old/>");
    assert.deepEqual(fs.readdirSync(dir), ["api.xml"]);
  });

  test("the sync write gives the same file, owner-only when asked, and leaves no temp file", () => {
    const dir = fs.mkdtempSync(path.join(root, "c-"));
    const file = path.join(dir, "revoked.json");
    writeFileAtomicSync(file, "one", { mode: PRIVATE_FILE_MODE });
    writeFileAtomicSync(file, "two", { mode: PRIVATE_FILE_MODE });
    assert.equal(fs.readFileSync(file, "utf8"), "two");
    assert.equal(fs.statSync(file).mode & 0o777, PRIVATE_FILE_MODE);
    assert.deepEqual(fs.readdirSync(dir), ["revoked.json"]);
  });

  test("the sync write into a missing folder fails and creates nothing", () => {
    const file = path.join(root, "missing", "x.json");
    assert.throws(() => writeFileAtomicSync(file, "x"), /ENOENT/);
    assert.equal(fs.existsSync(path.dirname(file)), false);
  });
});
