import { existsSync, type FSWatcher, watch } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { ARTIFACT_FOLDERS } from "../../artifacts/types.js";
import type { Logger } from "../../log.js";
import type { FileDeployer } from "./file-deployer.js";

/** Unlinks are gathered this long before the files are checked (a wipe is thousands of them). */
const SETTLE_MS = 100;

/**
 * Puts back deployed files that vanished behind gwsync's back. A WSO2 4.x gateway sharing
 * `deployment_dir` deletes synapse-configs/default/{api,sequences,endpoints,local-entries}, all but its
 * skip list, each time it starts (GatewayStartupListener.java:150 → InMemoryAPIDeployer.cleanDeployment,
 * lines 467-492), expecting to fetch everything again. A gwsync sidecar notices the files going (a
 * watch on the folder), marks the APIs that lost files, and redeploys them from the control plane;
 * until every one is back, `pending` is true and the gateway is not ready.
 */
export class DeploymentRestorer {
  readonly #root: string;
  readonly #deployer: FileDeployer;
  readonly #reconcile: (apiId: string, labels: readonly string[]) => Promise<unknown>;
  readonly #log: Logger;
  readonly #onChange: () => void;
  /** Paths seen deleted that an API owned when they went, not checked yet. */
  readonly #vanished = new Set<string>();
  /** APIs marked partial, waiting for their redeploy. */
  readonly #toRestore = new Set<string>();
  readonly #watchers: FSWatcher[] = [];
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #closed = false;

  constructor(o: {
    root: string;
    deployer: FileDeployer;
    reconcile: (apiId: string, labels: readonly string[]) => Promise<unknown>;
    logger: Logger;
    /** Called when `pending` may have changed. */
    onChange?: () => void;
  }) {
    this.#root = o.root;
    this.#deployer = o.deployer;
    this.#reconcile = o.reconcile;
    this.#log = o.logger;
    this.#onChange = o.onChange ?? (() => undefined);
  }

  /** True while deployed files are missing and not yet put back. */
  get pending(): boolean {
    return this.#vanished.size > 0 || this.#toRestore.size > 0;
  }

  /** Starts watching; resolves once the watch is in place. */
  async start(): Promise<void> {
    // One inotify watch per folder (fs.watch): every file created, renamed or deleted in it is named,
    // whatever gwsync knew of it before, so a wipe of thousands of files is seen file by file.
    for (const folder of Object.values(ARTIFACT_FOLDERS)) {
      const dir = path.join(this.#root, folder);
      await mkdir(dir, { recursive: true });
      // Closed while the folder was being made (the gateway stopped during its start): watch nothing,
      // or the watch would keep the process alive.
      if (this.#closed) return;
      const w = watch(dir, (_event, name) => {
        if (typeof name === "string" && name !== "") this.#gone(`${folder}/${name}`);
      });
      w.on("error", (err: Error) =>
        this.#log.warn(
          { err: err.message, dir },
          "watch of deployment_dir failed; missing files are found by the catch-up",
        ),
      );
      this.#watchers.push(w);
    }
  }

  #gone(relPath: string): void {
    // gwsync's own renames and undeploys name files too: only a file an API owns that is not there counts.
    if (this.#closed || this.#deployer.ownerOf(relPath) === undefined) return;
    if (existsSync(path.join(this.#root, relPath))) return;
    const wasPending = this.pending;
    this.#vanished.add(relPath);
    if (!wasPending) this.#onChange();
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      void this.restore();
    }, SETTLE_MS);
  }

  /**
   * Looks at every deployed API's files (the catch-up's safety net for a watch that missed something,
   * or a folder deleted as a whole), then restores what is missing.
   */
  async check(): Promise<void> {
    for (const api of this.#deployer.deployed())
      for (const f of api.files)
        if (!existsSync(path.join(this.#root, f.relPath))) this.#vanished.add(f.relPath);
    if (this.pending) {
      this.#onChange();
      await this.restore();
    }
  }

  /** Checks what vanished and redeploys what lost files; a failed redeploy is tried again on the next call. */
  restore(): Promise<void> {
    this.#running ??= this.#restoreNow().finally(() => {
      this.#running = undefined;
      // Files that went while this pass ran get their own pass.
      if (this.#vanished.size > 0 && !this.#closed) void this.restore();
      this.#onChange();
    });
    return this.#running;
  }

  async #restoreNow(): Promise<void> {
    while (this.#vanished.size > 0) {
      const paths = [...this.#vanished];
      this.#vanished.clear();
      for (const apiId of await this.#deployer.markMissing(paths)) this.#toRestore.add(apiId);
    }
    if (this.#toRestore.size === 0) return;
    this.#log.warn(
      { apis: this.#toRestore.size },
      "deployed files vanished from deployment_dir: redeploying them",
    );
    let restored = 0;
    for (const apiId of [...this.#toRestore]) {
      if (this.#closed) return;
      const api = this.#deployer.get(apiId);
      if (api === undefined || api.sha256 !== "") {
        this.#toRestore.delete(apiId);
        continue;
      }
      try {
        await this.#reconcile(apiId, api.labels);
      } catch (err) {
        this.#log.warn(
          { apiId, err: (err as Error).message },
          "vanished API not redeployed yet; will try again",
        );
        continue;
      }
      if (this.#deployer.get(apiId)?.sha256 !== "") {
        this.#toRestore.delete(apiId);
        restored++;
      }
    }
    this.#log.info({ restored, left: this.#toRestore.size }, "vanished deployment files restored");
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    for (const w of this.#watchers) w.close();
    await this.#running?.catch(() => undefined);
  }
}
