import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { EventEmitter } from "node:events";
import { closeSync, mkdirSync, openSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { loadConfig } from "../../src/config/load-config.js";
import { Publisher } from "../../src/publisher/publisher.js";
import { WatchFolder, type WatchResult } from "../../src/publisher/watch-folder.js";
import { synapseApi } from "../harness/cluster.js";
import { tempDir } from "../harness/temp-dir.js";
import { waitFor } from "../harness/wait.js";

const LABEL = "W";
const GRACE_MS = 300;

/**
 * Issue items 5 and 6: what lands in the drop folder is checked before it is read, and an API leaves
 * the gateways only when no file of the folder holds it any more. The publisher commits to its store
 * without a broker here: the changelog shows every deploy and removal gateways would hear of.
 */
describe("the drop folder: lstat before read, sizes, FIFOs, symlinks, and removal only when no file holds the API", () => {
  const root = tempDir("gwsync-watch-");
  const drop = join(root, "drop");
  const outside = join(root, "outside");
  let publisher: Publisher;
  let watch: WatchFolder;
  const results = new EventEmitter();
  const seen: { event: WatchResult; file: string; detail: string }[] = [];
  const limits: string[] = [];

  const has = (event: WatchResult, name: string, detail?: RegExp) =>
    seen.some((r) => r.event === event && r.file.endsWith(name) && (detail === undefined || detail.test(r.detail)));
  const until = (what: string, check: () => boolean | Promise<boolean>) =>
    waitFor(results, "result", check, what, 20_000);
  const changes = () => publisher.store.changesSince(0, [LABEL]);
  const removals = async (apiId: string) =>
    (await changes()).filter((c) => c.apiId === apiId && c.instruction === "Remove").length;

  function start(extra: { followSymlinks?: boolean; maxFileBytes?: number } = {}): Promise<void> {
    watch = new WatchFolder({
      dir: drop,
      labels: [LABEL],
      publisher,
      logger: publisher.log,
      stabilityMs: 50,
      removeGraceMs: GRACE_MS,
      ...extra,
      onLimit: (l) => limits.push(l),
      onResult: (event, file, detail) => {
        seen.push({ event, file, detail });
        results.emit("result");
      },
    });
    return watch.start();
  }

  before(async () => {
    mkdirSync(drop, { recursive: true });
    mkdirSync(outside, { recursive: true });
    const { config } = loadConfig({
      role: "publisher",
      env: {},
      text: `[gwsync]\nnode_id = "watch-test"\ndata_dir = ${JSON.stringify(join(root, "data"))}\n[apim.sync_runtime_artifacts.publisher]\n[database.sync_runtime_artifacts_db]\ntype = "sqlite"\nurl = ${JSON.stringify(join(root, "data", "artifacts.db"))}\n`,
    });
    publisher = new Publisher({ config });
    await start({ maxFileBytes: 64 * 1024 });
  });
  after(async () => {
    await watch.close();
    await publisher.close();
  });

  test("a 1.5 GB file is refused by its size before a byte is read (RSS stays flat)", async () => {
    const big = join(drop, "huge.xml");
    const fd = openSync(big, "w");
    closeSync(fd);
    execFileSync("truncate", ["-s", "1500M", big]); // sparse: no disk, but 1.5 GB to whoever reads it
    const rssBefore = process.memoryUsage().rss;
    await until("the huge file refused", () => has("rejected", "huge.xml"));
    assert.ok(has("rejected", "huge.xml", /1572864000 bytes, over the 65536-byte limit/), JSON.stringify(seen));
    assert.ok(process.memoryUsage().rss - rssBefore < 200 * 1024 * 1024, "the file was never read into memory");
    assert.ok(limits.includes("watch.max_file_bytes"));
    rmSync(big);
  });

  test("FIFOs named *.xml are refused without being opened: later files still publish", async () => {
    // Four FIFOs would take every libuv worker thread for good if they were opened for a blocking read.
    for (let i = 0; i < 4; i++) execFileSync("mkfifo", [join(drop, `fifo${i}.xml`)]);
    writeFileSync(join(drop, "after-fifo.xml"), synapseApi({ name: "AfterFifo" }));
    await until("the FIFOs refused and the next file published", () =>
      [0, 1, 2, 3].every((i) => has("rejected", `fifo${i}.xml`, /not a regular file/)) && has("published", "after-fifo.xml"),
    );
    for (let i = 0; i < 4; i++) rmSync(join(drop, `fifo${i}.xml`));
  });

  test("a symlink to a file outside the folder is refused; with follow_symlinks it is published", async () => {
    writeFileSync(join(outside, "secret.xml"), synapseApi({ name: "Outside" }));
    symlinkSync(join(outside, "secret.xml"), join(drop, "link.xml"));
    await until("the symlink refused", () => has("rejected", "link.xml", /symbolic link/));
    assert.equal(await publisher.store.findApiId("Outside", "1.0.0"), undefined, "nothing of it was stored");
    assert.ok(limits.includes("watch.follow_symlinks"));
    rmSync(join(drop, "link.xml"));

    await watch.close();
    seen.length = 0;
    await start({ followSymlinks: true });
    symlinkSync(join(outside, "secret.xml"), join(drop, "allowed.xml"));
    await until("the allowed symlink published", () => has("published", "allowed.xml"));
    assert.ok(await publisher.store.findApiId("Outside", "1.0.0"));
  });

  test("deleting one of two files holding the same API keeps it; deleting the last one removes it", async () => {
    const xml = synapseApi({ name: "Twice" });
    writeFileSync(join(drop, "twice-a.xml"), xml);
    writeFileSync(join(drop, "twice-b.xml"), xml);
    await until("both copies read", () => has("published", "twice-a.xml") && has("published", "twice-b.xml"));
    const apiId = (await publisher.store.findApiId("Twice", "1.0.0"))!;

    rmSync(join(drop, "twice-a.xml"));
    // A witness deleted after it: its removal comes one grace period later, so once it is there, a
    // removal of Twice (scheduled earlier) would have happened too.
    writeFileSync(join(drop, "witness1.xml"), synapseApi({ name: "Witness1" }));
    await until("the witness published", () => has("published", "witness1.xml"));
    rmSync(join(drop, "witness1.xml"));
    await until("the witness removed", () => has("removed", "witness1.xml"));
    assert.equal(await removals(apiId), 0, "Twice is still held by twice-b.xml");

    rmSync(join(drop, "twice-b.xml"));
    await until("Twice removed with its last file", () => has("removed", "twice-b.xml"));
    assert.equal(await removals(apiId), 1);
  });

  test("a rename is not a removal: no REMOVE, no new revision, nothing for the gateways", async () => {
    writeFileSync(join(drop, "before.xml"), synapseApi({ name: "Renamed" }));
    await until("published", () => has("published", "before.xml"));
    const apiId = (await publisher.store.findApiId("Renamed", "1.0.0"))!;
    const rowsBefore = (await changes()).filter((c) => c.apiId === apiId).length;

    renameSync(join(drop, "before.xml"), join(drop, "after.xml"));
    await until("the new name read", () => has("published", "after.xml"));
    writeFileSync(join(drop, "witness2.xml"), synapseApi({ name: "Witness2" }));
    await until("the witness published", () => has("published", "witness2.xml"));
    rmSync(join(drop, "witness2.xml"));
    await until("the witness removed", () => has("removed", "witness2.xml"));
    assert.equal((await changes()).filter((c) => c.apiId === apiId).length, rowsBefore, "no changelog row: gateways hear nothing");
  });

  test("a file rewritten to hold another API releases the one it held", async () => {
    writeFileSync(join(drop, "swap.xml"), synapseApi({ name: "First" }));
    await until("First published", () => has("published", "swap.xml"));
    const first = (await publisher.store.findApiId("First", "1.0.0"))!;
    writeFileSync(join(drop, "swap.xml"), synapseApi({ name: "Second" }));
    await until(
      "First removed once swap.xml holds Second",
      async () => (await removals(first)) === 1 || has("removed", "swap.xml"),
    );
    assert.equal(await removals(first), 1);
    assert.ok(await publisher.store.findApiId("Second", "1.0.0"));
  });
});
