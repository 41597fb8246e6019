/**
 * How fast can this disk make N small files durable (bytes and names)? A standalone measurement of the
 * schemes B7's writers can use, each in a fresh folder, timed from the first open to the last folder
 * fsync:
 *
 *   serial       open, write, fsync, close, rename with blocking calls, one file after another (B7's
 *                raw loop before 2026-12-06), one folder fsync at the end
 *   pipe:K       each file's open, write, fsync, close, rename as asynchronous calls, K files in flight
 *                (gwsync's bulk deploy before 2026-12-06), one folder fsync at the end
 *   mixed:K      each file's open, write, close, rename blocking, its fsync asynchronous, K files in flight
 *   batch:K:B    per batch of B files: create + write + keep the fd open (blocking calls), fsync the B
 *                files with K asynchronous fsyncs in flight, close + rename (blocking), one folder fsync
 *   abatch:K:B   the same with every call asynchronous (thread pool), K in flight for each step
 *   nosync       open, write, close, rename with blocking calls and no fsync at all: not durable, the floor
 *   sync-all     write every temp (blocking), one `sync -f` of the file system, renames, folder fsync
 *
 * `fdatasync` instead of `fsync` with a `d` suffix on the mode (e.g. `batch:64:500:d`).
 * Run: `UV_THREADPOOL_SIZE=16 node --import tsx bench/durable-writes.ts batch:64:500 10000 [dir]`
 * (the thread pool's size is read when the pool starts: set it in the environment, not in the script).
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";

const [modeArg = "serial", nArg = "10000", baseArg = ".tmp/durable-writes"] = process.argv.slice(2);
const n = Number(nArg);
const parts = modeArg.split(":");
const mode = parts[0]!;
const k = Number(parts[1] ?? 8);
const batch = Number(parts[2] ?? n);
const data = parts.includes("d");
const body = Buffer.from("x".repeat(5 * 1024));

const dir = path.resolve(baseArg, `${mode}-${process.pid}-${Date.now()}`);
fs.mkdirSync(dir, { recursive: true });
const name = (i: number) => path.join(dir, `api-${i}.xml`);
const temp = (i: number) => path.join(dir, `.api-${i}.tmp`);
const syncFd = (fd: number) => (data ? fs.fdatasyncSync(fd) : fs.fsyncSync(fd));
const syncFdAsync = (fd: number) =>
  new Promise<void>((res, rej) => (data ? fs.fdatasync : fs.fsync)(fd, (e) => (e ? rej(e) : res())));

function dirSync(): void {
  const fd = fs.openSync(dir, "r");
  fs.fsyncSync(fd);
  fs.closeSync(fd);
}

/** Runs f(i) for i in [from, to) with at most k in flight. */
async function pool(from: number, to: number, limit: number, f: (i: number) => Promise<void>): Promise<void> {
  let next = from;
  const worker = async () => {
    while (next < to) await f(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, to - from) }, worker));
}

async function run(): Promise<void> {
  if (mode === "serial") {
    for (let i = 0; i < n; i++) {
      const fd = fs.openSync(temp(i), "wx");
      fs.writeSync(fd, body);
      syncFd(fd);
      fs.closeSync(fd);
      fs.renameSync(temp(i), name(i));
    }
    dirSync();
  } else if (mode === "pipe") {
    await pool(0, n, k, async (i) => {
      const h = await fsp.open(temp(i), "wx");
      await h.writeFile(body);
      await (data ? h.datasync() : h.sync());
      await h.close();
      await fsp.rename(temp(i), name(i));
    });
    dirSync();
  } else if (mode === "mixed") {
    await pool(0, n, k, async (i) => {
      const fd = fs.openSync(temp(i), "wx");
      fs.writeSync(fd, body);
      await syncFdAsync(fd);
      fs.closeSync(fd);
      fs.renameSync(temp(i), name(i));
    });
    dirSync();
  } else if (mode === "batch" || mode === "abatch") {
    for (let b = 0; b < n; b += batch) {
      const end = Math.min(n, b + batch);
      const fds: number[] = [];
      if (mode === "batch") {
        for (let i = b; i < end; i++) {
          const fd = fs.openSync(temp(i), "wx");
          fs.writeSync(fd, body);
          fds[i - b] = fd;
        }
        await pool(b, end, k, (i) => syncFdAsync(fds[i - b]!));
        for (let i = b; i < end; i++) {
          fs.closeSync(fds[i - b]!);
          fs.renameSync(temp(i), name(i));
        }
      } else {
        const handles: fsp.FileHandle[] = [];
        await pool(b, end, k, async (i) => {
          const h = await fsp.open(temp(i), "wx");
          await h.writeFile(body);
          handles[i - b] = h;
        });
        await pool(b, end, k, (i) => (data ? handles[i - b]!.datasync() : handles[i - b]!.sync()));
        await pool(b, end, k, async (i) => {
          await handles[i - b]!.close();
          await fsp.rename(temp(i), name(i));
        });
      }
      dirSync();
    }
  } else if (mode === "nosync") {
    for (let i = 0; i < n; i++) {
      const fd = fs.openSync(temp(i), "wx");
      fs.writeSync(fd, body);
      fs.closeSync(fd);
      fs.renameSync(temp(i), name(i));
    }
  } else if (mode === "sync-all") {
    for (let i = 0; i < n; i++) {
      const fd = fs.openSync(temp(i), "wx");
      fs.writeSync(fd, body);
      fs.closeSync(fd);
    }
    execFileSync("sync", ["-f", dir]);
    for (let i = 0; i < n; i++) fs.renameSync(temp(i), name(i));
    dirSync();
  } else throw new Error(`unknown mode ${mode}`);
}

const cpu0 = process.cpuUsage();
const t0 = performance.now();
await run();
const ms = performance.now() - t0;
// The whole process's CPU (event loop and thread pool) during the writes, not its startup.
const cpu = process.cpuUsage(cpu0);
console.log(
  JSON.stringify({
    mode: modeArg,
    n,
    pool: process.env.UV_THREADPOOL_SIZE ?? "4",
    ms: Math.round(ms),
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
  }),
);
fs.rmSync(dir, { recursive: true, force: true });
