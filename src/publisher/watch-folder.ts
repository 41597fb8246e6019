import { readFile } from "node:fs/promises";
import { basename, extname } from "node:path";
import chokidar, { type FSWatcher } from "chokidar";
import type { Logger } from "../log.js";
import type { Publisher } from "./publisher.js";

/** Files larger than this in the watched folder are refused (an artifact is kilobytes). */
export const MAX_WATCHED_FILE_BYTES = 8 * 1024 * 1024;
const ACCEPTED_EXTENSIONS = new Set([".xml", ".json"]);

export interface WatchFolderOptions {
  dir: string;
  labels: string[];
  publisher: Publisher;
  logger: Logger;
  /** Wait until a file has stopped growing for this long before reading it. */
  stabilityMs?: number;
  onResult?: (event: "published" | "removed" | "rejected", file: string, detail: string) => void;
}

/**
 * The watched-folder form of the plugin hook: a synapse XML or GatewayAPIDTO JSON dropped (or
 * changed) in the folder is published to the labels; deleting it removes the API from them. A bad
 * file is logged with its reason and left where it is; nothing else is affected.
 */
export class WatchFolder {
  readonly #o: WatchFolderOptions;
  /** Which API each file published, so a delete knows what to remove. */
  readonly #apiOfFile = new Map<string, string>();
  #watcher: FSWatcher | undefined;

  constructor(options: WatchFolderOptions) {
    this.#o = options;
  }

  async start(): Promise<void> {
    const w = chokidar.watch(this.#o.dir, {
      depth: 0,
      ignoreInitial: false,
      ignored: (path: string, stats?: { isFile(): boolean }) =>
        basename(path).startsWith(".") || (stats?.isFile() === true && !ACCEPTED_EXTENSIONS.has(extname(path).toLowerCase())),
      awaitWriteFinish: { stabilityThreshold: this.#o.stabilityMs ?? 200, pollInterval: 50 },
    });
    w.on("add", (p) => void this.#publish(p));
    w.on("change", (p) => void this.#publish(p));
    w.on("unlink", (p) => this.#remove(p));
    w.on("error", (err) => this.#o.logger.warn({ err: (err as Error).message }, "watched folder error"));
    await new Promise<void>((resolve) => w.once("ready", () => resolve()));
    this.#watcher = w;
  }

  async #publish(path: string): Promise<void> {
    const log = this.#o.logger;
    try {
      const buf = await readFile(path);
      if (buf.length > MAX_WATCHED_FILE_BYTES) throw new Error(`file is larger than ${MAX_WATCHED_FILE_BYTES} bytes`);
      const r = this.#o.publisher.deployApi(buf.toString("utf8"), this.#o.labels);
      this.#apiOfFile.set(path, r.apiId);
      log.info({ file: basename(path), apiId: r.apiId, revision: r.revision, changed: r.changed }, "published from watched folder");
      this.#o.onResult?.("published", path, r.apiId);
    } catch (err) {
      log.warn({ file: basename(path), err: (err as Error).message }, "file in watched folder rejected");
      this.#o.onResult?.("rejected", path, (err as Error).message);
    }
  }

  #remove(path: string): void {
    const apiId = this.#apiOfFile.get(path);
    this.#apiOfFile.delete(path);
    if (!apiId) return;
    try {
      this.#o.publisher.removeApi(apiId, this.#o.labels);
      this.#o.logger.info({ file: basename(path), apiId }, "removed: file deleted from watched folder");
      this.#o.onResult?.("removed", path, apiId);
    } catch (err) {
      this.#o.logger.warn({ file: basename(path), apiId, err: (err as Error).message }, "remove after delete failed");
      this.#o.onResult?.("rejected", path, (err as Error).message);
    }
  }

  async close(): Promise<void> {
    await this.#watcher?.close();
  }
}
