import { lstat } from "node:fs/promises";
import { basename, extname } from "node:path";
import chokidar, { type FSWatcher } from "chokidar";
import * as D from "../config/defaults.js";
import { GwsyncError } from "../errors.js";
import type { Logger } from "../log.js";
import { readRegularFile } from "../security/safe-read.js";
import type { Publisher } from "./publisher.js";

/** Files larger than this in the watched folder are refused (an artifact is kilobytes). */
export const MAX_WATCHED_FILE_BYTES = D.DEFAULT_WATCH_MAX_FILE_BYTES;
const ACCEPTED_EXTENSIONS = new Set([".xml", ".json"]);

export type WatchResult = "published" | "removed" | "rejected";

export interface WatchFolderOptions {
  dir: string;
  labels: string[];
  publisher: Publisher;
  logger: Logger;
  /** Wait until a file has stopped growing for this long before reading it. */
  stabilityMs?: number;
  /** Largest file read ([gwsync.watch] max_file_bytes). */
  maxFileBytes?: number;
  /** Publish what a symlink points to ([gwsync.watch] follow_symlinks); default false: refused. */
  followSymlinks?: boolean;
  /** How long a file's API survives the file's removal, waiting for a file to hold it again (a rename). */
  removeGraceMs?: number;
  /** A refusal by a limit (max_file_bytes, symlinks, not a regular file): the alarm metric. */
  onLimit?: (limit: string) => void;
  onResult?: (event: WatchResult, file: string, detail: string) => void;
}

/**
 * The watched-folder form of the plugin hook: a synapse XML or GatewayAPIDTO JSON dropped (or
 * changed) in the folder is published to the labels. An API is removed only when no file of the folder
 * holds it any more, and only after `removeGraceMs`: `mv a.xml b.xml` is seen as a delete then an add,
 * and must not undeploy and redeploy the API on every gateway. A bad file is logged with its reason and
 * left where it is; nothing else is affected.
 *
 * Every file is checked before it is read (src/security/safe-read.ts): a regular file only, its size
 * first, never a symlink unless follow_symlinks, and opened without blocking, so a FIFO or a device can
 * neither hang the publisher nor fill its memory.
 */
export class WatchFolder {
  readonly #o: WatchFolderOptions;
  /** Which API each file published last, so a delete or a change knows what it may remove. */
  readonly #apiOfFile = new Map<string, string>();
  /** APIs whose last file went away, removed when their grace period ends without a new holder. */
  readonly #pendingRemovals = new Map<string, NodeJS.Timeout>();
  /** One change of a file at a time, in the order chokidar reported them. */
  readonly #fileQueue = new Map<string, Promise<void>>();
  #watcher: FSWatcher | undefined;
  #closed = false;

  constructor(options: WatchFolderOptions) {
    this.#o = options;
  }

  async start(): Promise<void> {
    const w = chokidar.watch(this.#o.dir, {
      depth: 0,
      ignoreInitial: false,
      // A symlink is reported as itself (lstat), never silently replaced by what it points to.
      followSymlinks: false,
      ignored: (path: string, stats?: { isDirectory(): boolean }) =>
        basename(path).startsWith(".") ||
        (stats !== undefined && !stats.isDirectory() && !ACCEPTED_EXTENSIONS.has(extname(path).toLowerCase())),
      awaitWriteFinish: { stabilityThreshold: this.#o.stabilityMs ?? 200, pollInterval: 50 },
    });
    w.on("add", (p) => this.#enqueue(p, () => this.#publish(p)));
    w.on("change", (p) => this.#enqueue(p, () => this.#publish(p)));
    w.on("unlink", (p) => this.#enqueue(p, async () => this.#forgetFile(p)));
    w.on("error", (err) => this.#o.logger.warn({ err: (err as Error).message }, "watched folder error"));
    await new Promise<void>((resolve) => w.once("ready", () => resolve()));
    this.#watcher = w;
  }

  #enqueue(path: string, work: () => Promise<void>): void {
    const next = (this.#fileQueue.get(path) ?? Promise.resolve()).then(work, work);
    this.#fileQueue.set(path, next);
    void next.finally(() => {
      if (this.#fileQueue.get(path) === next) this.#fileQueue.delete(path);
    });
  }

  async #publish(path: string): Promise<void> {
    const log = this.#o.logger;
    try {
      const text = await this.#read(path);
      const r = await this.#o.publisher.deployApi(text, this.#o.labels);
      const previous = this.#apiOfFile.get(path);
      this.#apiOfFile.set(path, r.apiId);
      this.#cancelRemoval(r.apiId);
      // The file now holds another API: the one it held goes when no other file holds it.
      if (previous !== undefined && previous !== r.apiId) this.#removeWhenOrphaned(previous, path);
      log.info(
        { file: basename(path), apiId: r.apiId, revision: r.revision, changed: r.changed },
        "published from watched folder",
      );
      this.#o.onResult?.("published", path, r.apiId);
    } catch (err) {
      const e = err as GwsyncError;
      if (e.code === "GWSYNC_FILE_REFUSED" && typeof e.details?.limit === "string") this.#o.onLimit?.(e.details.limit);
      log.warn({ file: basename(path), err: e.message }, "file in watched folder rejected");
      this.#o.onResult?.("rejected", path, e.message);
    }
  }

  /** The file's text, after lstat says what it is: nothing but a regular file within the size is opened. */
  async #read(path: string): Promise<string> {
    const max = this.#o.maxFileBytes ?? MAX_WATCHED_FILE_BYTES;
    const follow = this.#o.followSymlinks ?? false;
    const st = await lstat(path);
    const refuse = (why: string, limit: string) =>
      new GwsyncError("GWSYNC_FILE_REFUSED", `${basename(path)} ${why}`, { details: { limit } });
    if (st.isSymbolicLink() && !follow)
      throw refuse("is a symbolic link; set [gwsync.watch] follow_symlinks = true to publish what it points to", "watch.follow_symlinks");
    if (!st.isSymbolicLink() && !st.isFile()) throw refuse("is not a regular file (a FIFO, device or socket is never opened)", "watch.regular_files");
    if (st.size > max) throw refuse(`is ${st.size} bytes, over the ${max}-byte limit (max_file_bytes)`, "watch.max_file_bytes");
    try {
      const bytes = await readRegularFile(path, { maxBytes: max, followSymlinks: follow, what: "watched file" });
      return bytes.toString("utf8");
    } catch (err) {
      // Replaced between the lstat and the open: the descriptor's own checks refused it.
      throw new GwsyncError("GWSYNC_FILE_REFUSED", (err as Error).message, { cause: err, details: { limit: "watch.regular_files" } });
    }
  }

  #forgetFile(path: string): void {
    const apiId = this.#apiOfFile.get(path);
    this.#apiOfFile.delete(path);
    if (apiId !== undefined) this.#removeWhenOrphaned(apiId, path);
  }

  #heldByAFile(apiId: string): boolean {
    for (const held of this.#apiOfFile.values()) if (held === apiId) return true;
    return false;
  }

  /** Remove `apiId` after the grace period, unless a file of the folder holds it again by then. */
  #removeWhenOrphaned(apiId: string, lastFile: string): void {
    if (this.#heldByAFile(apiId) || this.#pendingRemovals.has(apiId)) return;
    const timer = setTimeout(() => {
      this.#pendingRemovals.delete(apiId);
      if (this.#closed || this.#heldByAFile(apiId)) return;
      void this.#removeApi(apiId, lastFile);
    }, this.#o.removeGraceMs ?? D.DEFAULT_WATCH_REMOVE_GRACE_MS);
    timer.unref();
    this.#pendingRemovals.set(apiId, timer);
  }

  #cancelRemoval(apiId: string): void {
    const timer = this.#pendingRemovals.get(apiId);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.#pendingRemovals.delete(apiId);
  }

  async #removeApi(apiId: string, file: string): Promise<void> {
    try {
      await this.#o.publisher.removeApi(apiId, this.#o.labels);
      this.#o.logger.info({ file: basename(file), apiId }, "removed: no file in the watched folder holds it any more");
      this.#o.onResult?.("removed", file, apiId);
    } catch (err) {
      this.#o.logger.warn({ file: basename(file), apiId, err: (err as Error).message }, "remove after delete failed");
      this.#o.onResult?.("rejected", file, (err as Error).message);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#watcher?.close();
    await Promise.allSettled([...this.#fileQueue.values()]);
    // A removal still waiting is due now: nobody would make it after the stop.
    const due: Promise<void>[] = [];
    for (const [apiId, timer] of this.#pendingRemovals) {
      clearTimeout(timer);
      if (!this.#heldByAFile(apiId)) due.push(this.#removeApi(apiId, "(closing)"));
    }
    await Promise.allSettled(due);
    this.#pendingRemovals.clear();
  }
}
