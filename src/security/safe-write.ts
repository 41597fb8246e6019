import { randomBytes } from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";

/**
 * The one atomic write: temp file in the target's folder, write, fsync the file, rename over the
 * target, fsync the folder. A reader sees the old or the new file, never a mix, and after a power cut
 * the rename is on disk once the folder's fsync returned. Deployed artifacts, the deploy state file,
 * the runtime state files and journals all write through it.
 */

/** The part of an open file a write uses (node's FileHandle has it). */
export interface WriteFileHandle {
  writeFile(data: string, encoding: "utf8"): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** The file-system calls an atomic write makes: a subset of node:fs/promises, so tests can inject faults. */
export interface AtomicWriteFs {
  open(file: string, flags: string, mode?: number): Promise<WriteFileHandle>;
  rename(from: string, to: string): Promise<void>;
  unlink(file: string): Promise<void>;
}

export const nodeAtomicWriteFs: AtomicWriteFs = {
  open: (file, flags, mode) => fsp.open(file, flags, mode),
  rename: fsp.rename,
  unlink: fsp.unlink,
};

/** rw-r--r--: what another user (WSO2's synapse deployer, often) must read. */
export const SHARED_FILE_MODE = 0o644;
/** rw-------: state that can hold credentials (webhook secrets, key-manager configurations). */
export const PRIVATE_FILE_MODE = 0o600;

/** Temp files are `.<stem>-<pid>-<n>.tmp`: hidden, so no synapse deployer picks them up. */
export const DEFAULT_TEMP_STEM = "gwsync";
export const TEMP_SUFFIX = ".tmp";

let tempCounter = 0;
/**
 * Tells this process's temp files from an earlier process's with the same pid (a container's gateway is
 * often pid 1 on every start): a leftover may then be removed in the background while this process
 * creates its own temps (FileDeployer's retired files).
 */
const PROCESS_TOKEN = randomBytes(4).toString("hex");

/** A temp file name in `dir`, unique within this process (counter) and across processes (pid, token). */
export function tempPathIn(dir: string, stem = DEFAULT_TEMP_STEM): string {
  tempCounter = (tempCounter + 1) % Number.MAX_SAFE_INTEGER;
  return path.join(dir, `.${stem}-${process.pid}-${PROCESS_TOKEN}-${tempCounter}${TEMP_SUFFIX}`);
}

export function isTempName(fileName: string, stem = DEFAULT_TEMP_STEM): boolean {
  return fileName.startsWith(`.${stem}-`) && fileName.endsWith(TEMP_SUFFIX);
}

/**
 * What fsync of a folder answers on file systems that do not do it (some network and FUSE file
 * systems): the rename is still atomic there, only not forced to disk. Any other error is real.
 */
const FOLDER_FSYNC_UNSUPPORTED = new Set(["EINVAL", "ENOTSUP", "EOPNOTSUPP", "EISDIR", "EPERM"]);

/** A folder fsync's error that only says the file system does not do it (FOLDER_FSYNC_UNSUPPORTED). */
export function folderSyncUnsupported(err: unknown): boolean {
  return FOLDER_FSYNC_UNSUPPORTED.has((err as NodeJS.ErrnoException).code ?? "");
}

export interface AtomicWriteOptions {
  /** fsync the file before its rename and the folder after it. Default true; false only for throwaway setups. */
  fsync?: boolean;
  /** Mode of a new file. Default SHARED_FILE_MODE. */
  mode?: number;
}

/**
 * Creates `file` (it must not exist), writes `content` (a string, or chunks written one after the other
 * so a large file never has to be one string), fsyncs when asked, closes; the first error wins.
 */
export async function writeNewFile(
  fs: AtomicWriteFs,
  file: string,
  content: string | Iterable<string>,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const handle = await fs.open(file, "wx", options.mode ?? SHARED_FILE_MODE);
  await closeAfter(handle, async () => {
    // writeFile on an open handle continues at its position: successive calls append.
    for (const chunk of typeof content === "string" ? [content] : content)
      await handle.writeFile(chunk, "utf8");
    if (options.fsync ?? true) await handle.sync();
  });
}

/** Runs `work` on an open file, then closes it whatever happened; the first error wins. */
export async function closeAfter(
  handle: Pick<WriteFileHandle, "close">,
  work: () => Promise<void>,
): Promise<void> {
  let failure: unknown;
  try {
    await work();
  } catch (err) {
    failure = err;
  }
  try {
    await handle.close();
  } catch (err) {
    failure ??= err;
  }
  if (failure !== undefined) throw failure;
}

/** Makes renames and unlinks in `dir` durable (a rename is only on disk once its folder is). */
export async function fsyncDir(fs: AtomicWriteFs, dir: string): Promise<void> {
  const handle = await fs.open(dir, "r");
  try {
    await handle.sync();
  } catch (err) {
    if (!folderSyncUnsupported(err)) throw err;
  } finally {
    await handle.close();
  }
}

/** Removes a file, quietly if it is already gone. */
export async function unlinkIfPresent(fs: AtomicWriteFs, file: string): Promise<void> {
  try {
    await fs.unlink(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}

/** temp + fsync + rename + fsync of the folder: readers see the old or the new file, never a mix. */
export async function writeFileAtomic(
  fs: AtomicWriteFs,
  file: string,
  content: string | Iterable<string>,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const dir = path.dirname(file);
  // Named after the target, so cleaning up after a crash touches only this file's temps.
  const temp = tempPathIn(dir, path.basename(file));
  try {
    await writeNewFile(fs, temp, content, options);
    await fs.rename(temp, file);
  } catch (err) {
    await unlinkIfPresent(fs, temp).catch(() => undefined);
    throw err;
  }
  if (options.fsync ?? true) await fsyncDir(fs, dir);
}

/**
 * writeFileAtomic for callers that must finish before they return (the gateway's runtime state is
 * written inside the synchronous flush that gates an ack): the same steps with node:fs's sync calls.
 */
export function writeFileAtomicSync(file: string, content: string, options: AtomicWriteOptions = {}): void {
  const dir = path.dirname(file);
  const temp = tempPathIn(dir, path.basename(file));
  const doSync = options.fsync ?? true;
  try {
    const fd = fs.openSync(temp, "wx", options.mode ?? SHARED_FILE_MODE);
    try {
      fs.writeFileSync(fd, content);
      if (doSync) fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, file);
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw err;
  }
  if (doSync) fsyncDirSync(dir);
}

/** fsyncDir with node:fs's sync calls. */
export function fsyncDirSync(dir: string): void {
  const fd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(fd);
  } catch (err) {
    if (!folderSyncUnsupported(err)) throw err;
  } finally {
    fs.closeSync(fd);
  }
}
