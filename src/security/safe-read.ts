import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { open } from "node:fs/promises";
import { GwsyncError } from "../errors.js";

/**
 * Reads a file that someone else may have put there (a drop folder, a mounted secret) without being
 * fooled by what it is: opened with O_NONBLOCK (a FIFO then opens at once instead of holding a libuv
 * worker thread until a writer comes, and a device is refused before a byte is read), optionally with
 * O_NOFOLLOW (a symlink is refused by the kernel itself, with no window between a check and the open),
 * then fstat'ed on the open descriptor: only a regular file no larger than `maxBytes` is read, and never
 * more than `maxBytes` + 1 bytes even when it grows meanwhile.
 */
export interface SafeReadOptions {
  maxBytes: number;
  /** Follow a symlink at the last path component (mounted Kubernetes secrets are symlinks). */
  followSymlinks: boolean;
  /** What the file is, for messages ("password_file", "drop-folder file"). */
  what: string;
}

const READ_CHUNK_BYTES = 64 * 1024;

/** O_NONBLOCK and O_NOFOLLOW are POSIX; Windows has neither (0 keeps the flags valid there). */
function openFlags(followSymlinks: boolean): number {
  const nofollow = followSymlinks ? 0 : (constants.O_NOFOLLOW ?? 0);
  return constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | nofollow;
}

function refused(
  o: SafeReadOptions,
  file: string,
  why: string,
  cause?: unknown,
  errno?: string,
): GwsyncError {
  return new GwsyncError("GWSYNC_FILE_REFUSED", `${o.what} ${file} ${why}`, {
    ...(cause === undefined ? {} : { cause }),
    details: { what: o.what, ...(errno === undefined ? {} : { errno }) },
  });
}

function openError(o: SafeReadOptions, file: string, err: unknown): GwsyncError {
  const code = (err as NodeJS.ErrnoException).code ?? "error";
  // O_NOFOLLOW on a symlink fails with ELOOP (Linux) or EMLINK (FreeBSD).
  if (code === "ELOOP" || code === "EMLINK") return refused(o, file, "is a symbolic link, which is not followed", err);
  return refused(o, file, `cannot be opened (${code})`, err, code);
}

function kindOf(stats: { isFIFO(): boolean; isDirectory(): boolean; isSocket(): boolean }): string {
  if (stats.isFIFO()) return "a FIFO";
  if (stats.isDirectory()) return "a folder";
  if (stats.isSocket()) return "a socket";
  return "a device";
}

/** The file's bytes (see SafeReadOptions); throws GWSYNC_FILE_REFUSED naming why. */
export function readRegularFileSync(file: string, o: SafeReadOptions): Buffer {
  let fd: number;
  try {
    fd = openSync(file, openFlags(o.followSymlinks));
  } catch (err) {
    throw openError(o, file, err);
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw refused(o, file, `is ${kindOf(stats)}, not a regular file`);
    if (stats.size > o.maxBytes) throw refused(o, file, `is ${stats.size} bytes, over the ${o.maxBytes}-byte limit`);
    const buf = Buffer.alloc(o.maxBytes + 1);
    let n = 0;
    for (;;) {
      const r = readSync(fd, buf, n, buf.length - n, null);
      if (r === 0) break;
      n += r;
      if (n > o.maxBytes) throw refused(o, file, `grew over the ${o.maxBytes}-byte limit while being read`);
    }
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** Async readRegularFileSync: the open cannot block a libuv worker (O_NONBLOCK). */
export async function readRegularFile(file: string, o: SafeReadOptions): Promise<Buffer> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, openFlags(o.followSymlinks));
  } catch (err) {
    throw openError(o, file, err);
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw refused(o, file, `is ${kindOf(stats)}, not a regular file`);
    if (stats.size > o.maxBytes) throw refused(o, file, `is ${stats.size} bytes, over the ${o.maxBytes}-byte limit`);
    // The size is read again by reading: a file that grows after the fstat still stops at maxBytes + 1.
    const chunks: Buffer[] = [];
    let n = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(Math.max(stats.size, READ_CHUNK_BYTES), o.maxBytes + 1 - n));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      n += bytesRead;
      if (n > o.maxBytes) throw refused(o, file, `grew over the ${o.maxBytes}-byte limit while being read`);
    }
    return Buffer.concat(chunks, n);
  } finally {
    await handle.close();
  }
}
