import { closeSync, fsync, fsyncSync, openSync, renameSync, writeSync } from "node:fs";
import { dirname } from "node:path";

/** The baselines' atomic write: temp file in the same folder, fsync, rename (what a careful script does). */
export function writeAtomic(file: string, data: string | Buffer): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, "w");
  try {
    writeSync(fd, typeof data === "string" ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

/** fsync of a folder: its renames are on disk once it returns. */
export function fsyncDirSync(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Files per round of writeAtomicBatch. */
export const ATOMIC_BATCH_FILES = 500;
/** fsyncs queued at once on libuv's thread pool (its size, UV_THREADPOOL_SIZE, bounds what runs). */
export const ATOMIC_BATCH_IN_FLIGHT = 64;

/**
 * The same durability for many files, the fastest way measured on this disk (bench/durable-writes.ts,
 * BENCHMARKS.md issue 19): per round of `batch` files, write every temp (blocking calls), fsync them
 * all with `inFlight` asynchronous fsyncs queued (ext4 joins concurrent fsyncs into shared journal
 * commits), then close and rename each, then one fsync per folder. A file's name is only ever given
 * to bytes already durable, as in writeAtomic; the renames are durable when the round returns.
 */
export async function writeAtomicBatch(
  files: Iterable<{ file: string; data: string | Buffer }>,
  batch = ATOMIC_BATCH_FILES,
  inFlight = ATOMIC_BATCH_IN_FLIGHT,
): Promise<number> {
  let n = 0;
  let round: { tmp: string; file: string; fd: number }[] = [];
  const flush = async () => {
    let next = 0;
    const worker = async () => {
      while (next < round.length) {
        const fd = round[next++]!.fd;
        await new Promise<void>((res, rej) => fsync(fd, (e) => (e ? rej(e) : res())));
      }
    };
    await Promise.all(Array.from({ length: Math.min(inFlight, round.length) }, worker));
    const dirs = new Set<string>();
    for (const f of round) {
      closeSync(f.fd);
      renameSync(f.tmp, f.file);
      dirs.add(dirname(f.file));
    }
    for (const dir of dirs) fsyncDirSync(dir);
    round = [];
  };
  for (const { file, data } of files) {
    const tmp = `${file}.tmp`;
    const fd = openSync(tmp, "w");
    writeSync(fd, typeof data === "string" ? Buffer.from(data) : data);
    round.push({ tmp, file, fd });
    n++;
    if (round.length >= batch) await flush();
  }
  if (round.length > 0) await flush();
  return n;
}
