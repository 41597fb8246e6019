import fs from "node:fs";
import fsp from "node:fs/promises";
import {
  type AtomicWriteFs,
  nodeAtomicWriteFs,
  folderSyncUnsupported,
  type WriteFileHandle,
} from "../../security/safe-write.js";

/**
 * The file-system calls the FileDeployer makes: those of an atomic write (src/security/safe-write.ts)
 * and the reads around it, a subset of node:fs/promises, so tests can inject ENOSPC or EIO at any step.
 */
export interface DeployFs extends AtomicWriteFs {
  mkdir(dir: string, options: { recursive: true }): Promise<string | undefined>;
  readFile(file: string, encoding: "utf8"): Promise<string>;
  readdir(dir: string): Promise<string[]>;
  /** A folder's entries with their types (readdir withFileTypes): the startup load's one look per folder. */
  readdirTypes(dir: string): Promise<FolderEntry[]>;
  stat(file: string): Promise<unknown>;
}

/** One entry of a folder listing (a node:fs Dirent fits). */
export interface FolderEntry {
  name: string;
  isSymbolicLink(): boolean;
}

export const nodeDeployFs: DeployFs = {
  ...nodeAtomicWriteFs,
  mkdir: fsp.mkdir,
  readFile: (file, encoding) => fsp.readFile(file, encoding),
  readdir: (dir) => fsp.readdir(dir),
  readdirTypes: (dir) => fsp.readdir(dir, { withFileTypes: true }),
  stat: fsp.stat,
};

/**
 * The calls of a bulk deploy (FileDeployer, deferFlush) around its fsync rounds: create a temp file
 * with its content and leave it open (not fsynced), rename it into place.
 */
export interface BulkDeployFs {
  createTemp(file: string, content: string, mode: number): Promise<WriteFileHandle>;
  rename(from: string, to: string): Promise<void>;
  /**
   * A second name for an existing file (link(2)), so that the rename over it does not free it: the
   * replaced file is removed later, off the deploy's path (FileDeployer, retired files). Optional: without
   * it, a bulk deploy's rename frees the replaced file itself.
   */
  link?(existing: string, newPath: string): Promise<void>;
}

/** Bytes a write(2) wrote; none at all (never seen on a regular file) fails instead of looping. */
function progress(n: number): number {
  if (n > 0) return n;
  throw Object.assign(new Error("write(2) wrote nothing"), { code: "EIO" });
}

/** Bulk calls made of a DeployFs's (open + writeFile): what tests inject faults into. */
export function bulkFsOf(deployFs: DeployFs): BulkDeployFs {
  return {
    async createTemp(file, content, mode) {
      const handle = await deployFs.open(file, "wx", mode);
      try {
        await handle.writeFile(content, "utf8");
      } catch (err) {
        await handle.close().catch(() => undefined);
        throw err;
      }
      return handle;
    },
    rename: (from, to) => deployFs.rename(from, to),
  };
}

/**
 * node's bulk calls: create, write, close and rename with blocking calls on the event loop (tens of
 * microseconds each), the fsync alone on libuv's thread pool. Each asynchronous call is a thread-pool
 * round trip, and in a burst those queue behind the fsyncs of the round in flight on the pool's 4
 * threads; measured on 10,000 files (bench/durable-writes.ts, BENCHMARKS.md issue 19). A single
 * deploy uses them too while no fsync of its deployer is in flight (FileDeployer): each thread-pool
 * trip costs the process ~0.1–0.2 ms of CPU on this 2-core machine (a worker woken, the loop woken
 * back), on every gateway for every update (issue 19, the gateway's CPU per update, fourth pass).
 */
export const nodeBulkDeployFs: BulkDeployFs = {
  async createTemp(file, content, mode) {
    const fd = fs.openSync(file, "wx", mode);
    try {
      const bytes = Buffer.from(content, "utf8");
      // A short write (a full disk) is continued: the next call says why it cannot.
      for (let at = 0; at < bytes.length; ) at += progress(fs.writeSync(fd, bytes, at, bytes.length - at));
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
    return {
      writeFile: () => Promise.reject(new Error("a bulk temp file is written once")),
      sync: () => new Promise<void>((resolve, reject) => fs.fsync(fd, (e) => (e ? reject(e) : resolve()))),
      close: async () => fs.closeSync(fd),
    };
  },
  rename: async (from, to) => fs.renameSync(from, to),
  link: async (existing, newPath) => fs.linkSync(existing, newPath),
};

/**
 * The same calls on libuv's thread pool, with node's callback API (no FileHandle: its promise
 * machinery cost ~0.3 ms more CPU per staged file than callbacks, issue 19): what a single deploy
 * uses while an fsync of its deployer is in flight, so that no blocking create or rename waits behind
 * that fsync's journal commit on the event loop.
 */
export const nodePoolDeployFs: BulkDeployFs = {
  async createTemp(file, content, mode) {
    const fd = await new Promise<number>((resolve, reject) =>
      fs.open(file, "wx", mode, (e, fd) => (e ? reject(e) : resolve(fd))),
    );
    try {
      const bytes = Buffer.from(content, "utf8");
      for (let at = 0; at < bytes.length; ) {
        const n = await new Promise<number>((resolve, reject) =>
          fs.write(fd, bytes, at, bytes.length - at, null, (e, n) => (e ? reject(e) : resolve(n))),
        );
        at += progress(n);
      }
    } catch (err) {
      fs.close(fd, () => undefined);
      throw err;
    }
    return {
      writeFile: () => Promise.reject(new Error("a temp file is written once")),
      sync: () => new Promise<void>((resolve, reject) => fs.fsync(fd, (e) => (e ? reject(e) : resolve()))),
      // close(2) of a file already fsynced waits for nothing: blocking, one trip fewer.
      close: async () => fs.closeSync(fd),
    };
  },
  rename: (from, to) =>
    new Promise<void>((resolve, reject) => fs.rename(from, to, (e) => (e ? reject(e) : resolve()))),
};

/**
 * fsyncDir (src/security/safe-write.ts) with one thread-pool trip instead of three: the folder opened
 * and closed with blocking calls (neither waits for the journal), its fsync on the pool. What a
 * single deploy's folder flush uses (FileDeployer, issue 19).
 */
export async function nodeSyncDir(dir: string): Promise<void> {
  const fd = fs.openSync(dir, "r");
  try {
    await new Promise<void>((resolve, reject) => fs.fsync(fd, (e) => (e ? reject(e) : resolve())));
  } catch (err) {
    if (!folderSyncUnsupported(err)) throw err;
  } finally {
    fs.closeSync(fd);
  }
}
