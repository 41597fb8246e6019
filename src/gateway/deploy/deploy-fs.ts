import fsp from "node:fs/promises";
import path from "node:path";

/** The part of an open file the deployer uses (node's FileHandle has it). */
export interface DeployFileHandle {
  writeFile(data: string, encoding: "utf8"): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The file-system calls the FileDeployer makes: a subset of node:fs/promises, so tests can inject
 * ENOSPC or EIO at any step.
 */
export interface DeployFs {
  open(file: string, flags: string, mode?: number): Promise<DeployFileHandle>;
  rename(from: string, to: string): Promise<void>;
  unlink(file: string): Promise<void>;
  mkdir(dir: string, options: { recursive: true }): Promise<string | undefined>;
  readFile(file: string, encoding: "utf8"): Promise<string>;
  readdir(dir: string): Promise<string[]>;
  stat(file: string): Promise<unknown>;
}

export const nodeDeployFs: DeployFs = {
  open: (file, flags, mode) => fsp.open(file, flags, mode),
  rename: fsp.rename,
  unlink: fsp.unlink,
  mkdir: fsp.mkdir,
  readFile: (file, encoding) => fsp.readFile(file, encoding),
  readdir: (dir) => fsp.readdir(dir),
  stat: fsp.stat,
};

/** rw-r--r--: the synapse deployer of the gateway (another user, often) must be able to read the files. */
export const ARTIFACT_FILE_MODE = 0o644;
/** Temp files are `.<stem>-<pid>-<n>.tmp`: hidden, so no synapse deployer picks them up. */
export const DEFAULT_TEMP_STEM = "gwsync";
export const TEMP_SUFFIX = ".tmp";

let tempCounter = 0;

/** A temp file name in `dir`, unique within this process (counter) and across processes (pid). */
export function tempPathIn(dir: string, stem = DEFAULT_TEMP_STEM): string {
  tempCounter = (tempCounter + 1) % Number.MAX_SAFE_INTEGER;
  return path.join(dir, `.${stem}-${process.pid}-${tempCounter}${TEMP_SUFFIX}`);
}

export function isTempName(fileName: string, stem = DEFAULT_TEMP_STEM): boolean {
  return fileName.startsWith(`.${stem}-`) && fileName.endsWith(TEMP_SUFFIX);
}

/**
 * Creates `file` (it must not exist), writes `content` (a string, or chunks written one after the other
 * so a large file never has to be one string), fsyncs when asked, closes; the first error wins.
 */
export async function writeNewFile(
  fs: DeployFs,
  file: string,
  content: string | Iterable<string>,
  fsync: boolean,
): Promise<void> {
  const handle = await fs.open(file, "wx", ARTIFACT_FILE_MODE);
  let failure: unknown;
  try {
    // writeFile on an open handle continues at its position: successive calls append.
    for (const chunk of typeof content === "string" ? [content] : content)
      await handle.writeFile(chunk, "utf8");
    if (fsync) await handle.sync();
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

/** Makes renames and unlinks in `dir` durable (a rename is only on disk once its directory is). */
export async function fsyncDir(fs: DeployFs, dir: string): Promise<void> {
  const handle = await fs.open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Removes a file, quietly if it is already gone. */
export async function unlinkIfPresent(fs: DeployFs, file: string): Promise<void> {
  try {
    await fs.unlink(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}

/** temp + fsync + rename + fsync of the directory: readers see the old or the new file, never a mix. */
export async function writeFileAtomic(
  fs: DeployFs,
  file: string,
  content: string | Iterable<string>,
  fsync: boolean,
): Promise<void> {
  const dir = path.dirname(file);
  // Named after the target, so cleaning up after a crash touches only this file's temps.
  const temp = tempPathIn(dir, path.basename(file));
  try {
    await writeNewFile(fs, temp, content, fsync);
    await fs.rename(temp, file);
  } catch (err) {
    await unlinkIfPresent(fs, temp).catch(() => undefined);
    throw err;
  }
  if (fsync) await fsyncDir(fs, dir);
}
