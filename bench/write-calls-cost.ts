/**
 * What one durable 5 KB file write costs the writing process in CPU (process.cpuUsage: the event
 * loop and libuv's thread pool together), by the calls it is made of: node's FileHandle promises (what
 * a gateway's single deploy used before issue 19's fourth pass), callbacks, blocking create/write/close
 * with the fsync (and the rename) on the pool, and all blocking (the raw baseline consumer's
 * bench/lib/atomic-write.ts). Each is temp file + write + fsync + close + rename over the previous
 * file, in os.tmpdir() (where the benchmarks' gateways deploy), the variants interleaved write by write
 * with a 5 ms pause (B1's gateways are idle between updates).
 * Usage: node --import tsx bench/write-calls-cost.ts [N=200] [variant,variant,...]
 */
import fs, { mkdtempSync, rmSync } from "node:fs";
import fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const n = Number(process.argv[2] ?? 200);
const root = mkdtempSync(join(tmpdir(), "gwsync-write-calls-"));
const content = "x".repeat(5100);
let k = 0;
const tmpName = (dir: string) => join(dir, `.t-${k++}.tmp`);
const cb = <T>(f: (done: (e: Error | null, v?: T) => void) => void) =>
  new Promise<T>((res, rej) => f((e, v) => (e ? rej(e) : res(v as T))));

/** A temp file created, written and closed with blocking calls, its fsync on the pool; its path. */
const blockingWritePoolFsync = async (dir: string): Promise<string> => {
  const t = tmpName(dir);
  const fd = fs.openSync(t, "wx", 0o644);
  fs.writeSync(fd, content, null, "utf8");
  await cb<void>((d) => fs.fsync(fd, (e) => d(e)));
  fs.closeSync(fd);
  return t;
};

const variants: Record<string, (dir: string, final: string) => Promise<void>> = {
  // FileHandle promises: open, writeFile, sync, close; then fsp.rename (single deploys before 547ce60)
  fileHandle: async (dir, final) => {
    const t = tmpName(dir);
    const h = await fsp.open(t, "wx", 0o644);
    await h.writeFile(content, "utf8");
    await h.sync();
    await h.close();
    await fsp.rename(t, final);
  },
  // callback fs.writeFile with flush + callback rename
  cbWriteFile: async (dir, final) => {
    const t = tmpName(dir);
    await cb<void>((d) => fs.writeFile(t, content, { flag: "wx", mode: 0o644, flush: true }, (e) => d(e)));
    await cb<void>((d) => fs.rename(t, final, (e) => d(e)));
  },
  // callbacks for open, write, fsync, close and rename, no FileHandle (nodePoolDeployFs is this with a blocking close)
  cbAll: async (dir, final) => {
    const t = tmpName(dir);
    const fd = await cb<number>((d) => fs.open(t, "wx", 0o644, d));
    await cb<number>((d) => fs.write(fd, content, null, "utf8", (e, w) => d(e, w)));
    await cb<void>((d) => fs.fsync(fd, (e) => d(e)));
    await cb<void>((d) => fs.close(fd, (e) => d(e)));
    await cb<void>((d) => fs.rename(t, final, (e) => d(e)));
  },
  // blocking create, write and close; the fsync and the rename on the pool
  syncCreate: async (dir, final) => {
    const t = await blockingWritePoolFsync(dir);
    await cb<void>((d) => fs.rename(t, final, (e) => d(e)));
  },
  // blocking everything but the fsync (a single deploy after 547ce60, no other fsync in flight)
  syncAllButFsync: async (dir, final) => {
    fs.renameSync(await blockingWritePoolFsync(dir), final);
  },
  // the raw consumer: all blocking
  raw: async (dir, final) => {
    const t = tmpName(dir);
    const fd = fs.openSync(t, "wx", 0o644);
    fs.writeSync(fd, content, null, "utf8");
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(t, final);
  },
};
const names = (process.argv[3] ?? Object.keys(variants).join(",")).split(",");
const cpu: Record<string, number> = {};
const wall: Record<string, number> = {};
for (const name of names) {
  fs.mkdirSync(join(root, name));
  fs.writeFileSync(join(root, name, "api.xml"), content);
  cpu[name] = 0;
  wall[name] = 0;
}
const WARM = 20;
for (let i = 0; i < WARM + n; i++) {
  for (const name of names) {
    const dir = join(root, name);
    const c = process.cpuUsage();
    const t = performance.now();
    await variants[name]!(dir, join(dir, "api.xml"));
    const d = process.cpuUsage(c);
    if (i >= WARM) {
      cpu[name]! += d.user + d.system;
      wall[name]! += performance.now() - t;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}
for (const name of names)
  console.log(
    `${name.padEnd(16)} cpu ${(cpu[name]! / n).toFixed(0).padStart(5)} µs  wall ${(wall[name]! / n).toFixed(2)} ms`,
  );
rmSync(root, { recursive: true, force: true });
