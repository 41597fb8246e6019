import { closeSync, fsyncSync, openSync, renameSync, writeSync } from "node:fs";

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
