import path from "node:path";
import { artifactFolder, joinInFolder, parseRelPath } from "../../artifacts/names.js";
import { compileSkipList, type SkipList } from "../../artifacts/skip-list.js";
import {
  ARTIFACT_FOLDERS,
  type ArtifactKind,
  type DeployedFile,
  type GatewayApiDto,
} from "../../artifacts/types.js";
import { fsErrorCode, GwsyncError, isGwsyncError } from "../../errors.js";
import {
  closeAfter,
  fsyncDir,
  isTempName,
  SHARED_FILE_MODE,
  tempPathIn,
  unlinkIfPresent,
  type WriteFileHandle,
} from "../../security/safe-write.js";
import { AsyncGroupCommit } from "../group-commit.js";
import {
  type BulkDeployFs,
  bulkFsOf,
  type DeployFs,
  nodeBulkDeployFs,
  nodeDeployFs,
  nodePoolDeployFs,
  nodeSyncDir,
} from "./deploy-fs.js";
import { readDeployState, writeDeployState } from "./deploy-state.js";
import { DeployedRegistry, type DeployPlan } from "./deployed-registry.js";
import { PackedApi } from "./packed-api.js";
import type { ApiDeployer, DeployedApi, DeployMeta, DeployOptions } from "./deployer.js";
import { hop } from "../../hops.js";

/** Default state file: beside the deployment folder, named after it (`<deploymentDir>.gwsync-state.json`). */
export const STATE_FILE_SUFFIX = ".gwsync-state.json";

export interface FileDeployerOptions {
  /** WSO2's synapse-configs/default: api/, sequences/, endpoints/, local-entries/ are created under it. */
  deploymentDir: string;
  /** Where the last-known-good state is kept. Default `<deploymentDir>.gwsync-state.json` (outside the folder). */
  stateFile?: string;
  /** Names never deployed (ALWAYS_SKIPPED is always added). */
  skipList?: Partial<SkipList>;
  /** fsync files and folders before they count as deployed. Default true; false only for throwaway setups. */
  fsync?: boolean;
  /** File-system calls; tests inject failures here. Default node:fs/promises. */
  fs?: DeployFs;
  /**
   * A bulk deploy's create and rename calls, and a single deploy's while no fsync of this deployer is
   * in flight. Default: node's blocking calls when `fs` is not given, else made of `fs`'s (so injected
   * failures apply to every deploy).
   */
  bulkFs?: BulkDeployFs;
  /**
   * A single deploy's create and rename calls while an fsync of this deployer is in flight (on the
   * thread pool, so none waits behind its journal commit on the event loop). Default: node's
   * callbacks when `fs` is not given, else made of `fs`'s.
   */
  poolFs?: BulkDeployFs;
  now?: () => number;
  /**
   * How long a deploy's state-file update may wait so that one write serves a burst, ms (default
   * 1000). The files themselves are durable before deploy() returns; the state file is the record of
   * which files each API owns (last-known-good), rewritten whole, so it is batched. 0 writes it (and
   * fsyncs the folders) every time.
   */
  stateWriteDelayMs?: number;
  /**
   * How long after a single deploy the folders holding its renames are fsynced, ms (default 200, at
   * most stateWriteDelayMs): the bound on how long a rename may stay undurable after its ack.
   */
  dirSyncDelayMs?: number;
}

/**
 * The state file is written at most this often while single deploys go on. It is a cache of what is
 * deployed (the startup load checks it against the store), so a kill -9 only costs the redeploy of
 * what changed since; each write costs three fsyncs and ten thread-pool trips. At 200 ms, B1's
 * gateways wrote it every 3-5 updates (issue 19: ~1.4 ms of CPU per write, as much as a deploy).
 */
export const DEFAULT_STATE_WRITE_DELAY_MS = 1000;
/** Folders are fsynced this soon after a single deploy's renames (README: "within 200 ms"). */
export const DEFAULT_DIR_SYNC_DELAY_MS = 200;
/**
 * Replaced files a bulk deploy keeps under a temp name at most (FileDeployer, retired files): beyond,
 * its renames free the replaced files themselves, as before. 20,000 files of 5 KB hold ~80 MB of disk.
 */
export const MAX_RETIRED_FILES = 20_000;
/** Retired files removed at once in the background (each on libuv's pool). */
const REAP_IN_FLIGHT = 2;
/** Retired files removed at once when the gateway stops (FileDeployer.close). */
const CLOSE_REAP_IN_FLIGHT = 16;

interface StagedFile {
  temp: string;
  final: string;
  dir: string;
  file: DeployedFile;
  /** Bulk deploys: the temp file, written, still open until its fsync round. */
  handle?: WriteFileHandle;
}

/** The old files a deploy unlinked, and those it could not (with the first error). */
interface StaleRemoval {
  leftover: DeployedFile[];
  failure: unknown;
}

/** What a round of fsyncs answers for each file (undefined: durable and closed). */
async function syncAndClose(handles: WriteFileHandle[]): Promise<unknown[]> {
  return Promise.all(
    handles.map(async (h) => {
      let failure: unknown;
      try {
        await h.sync();
      } catch (err) {
        failure = err;
      }
      try {
        await h.close();
      } catch (err) {
        failure ??= err;
      }
      return failure;
    }),
  );
}

/**
 * Deploys GatewayAPIDTOs as files in WSO2's layout. Every file is written as a temp file in its folder,
 * fsynced and renamed over the target, so a reader sees the old or the new file, never a partial one; all
 * files of a deploy are staged before the first rename, so a full disk leaves the previous version as it
 * was. Each API owns the files it wrote: updates delete what the API no longer has, undeploy deletes
 * exactly its files, and a file another API owns is never taken over.
 */
export class FileDeployer implements ApiDeployer {
  readonly deploymentDir: string;
  readonly stateFile: string;
  private readonly fs: DeployFs;
  private readonly bulkFs: BulkDeployFs;
  private readonly poolFs: BulkDeployFs;
  /**
   * fsyncs of this deployer on the thread pool now: single deploys' files and flushes' folders and
   * state file (bulk rounds: `rounds.flushing`). While any runs, a single deploy creates and renames
   * on the pool (poolFs); else with blocking calls (bulkFs), two to four thread-pool trips fewer.
   */
  private fsyncsInFlight = 0;
  /** A flush's folder fsync: node's with one thread-pool trip, or fsyncDir over an injected `fs`. */
  private readonly syncDir: (dir: string) => Promise<void>;
  private readonly fsync: boolean;
  private readonly registry: DeployedRegistry;
  private readonly folders = new Map<ArtifactKind, Promise<string>>();
  private readonly dirtyDirs = new Set<string>();
  private stateDirty = false;
  private flushChain: Promise<void> = Promise.resolve();
  private stateTimer: NodeJS.Timeout | undefined;
  private dirTimer: NodeJS.Timeout | undefined;
  private readonly stateWriteDelayMs: number;
  private readonly dirSyncDelayMs: number;
  private loading: Promise<DeployedApi[]> | undefined;
  /**
   * Files replaced by bulk deploys, kept under a temp name (a hard link) until the background removes
   * them, and temp files an earlier process left. A rename over a file frees the replaced file's blocks
   * inside the rename, which on ext4 waits for the journal: 0.4–1 ms per file here, 3.8 s of B7's
   * 10,000 blocking renames (issue 19); with the replaced file still linked elsewhere, the rename only
   * moves a name. Removed after the next flush (the startup load's end), off every deploy's path; a crash
   * before that leaves temp-named files, removed by the next start. Their names are temp names: hidden,
   * never picked up by a synapse deployer, and owned by no API.
   */
  private readonly retired: string[] = [];
  /** Retired files removed at once: REAP_IN_FLIGHT while serving, more once the gateway stops. */
  private reapInFlight = REAP_IN_FLIGHT;
  private reaping: Promise<void> | undefined;
  /**
   * Bulk deploys (deferFlush: the startup load, catch-up) make their files durable in rounds: every
   * temp file written since the last round is fsynced at once (concurrent fsyncs share ext4's journal
   * commits), then each deploy renames its own files, then one fsync per folder serves every rename
   * of the round; deploy() returns (and the API is reported deployed) only after that.
   */
  private readonly rounds = new AsyncGroupCommit<WriteFileHandle | string>(async (keys) => {
    // Temps staged since the last round and folders renamed into since the last round, together.
    const handles = keys.filter((k): k is WriteFileHandle => typeof k !== "string");
    const dirs = keys.filter((k): k is string => typeof k === "string");
    const [fileResults, dirResults] = await Promise.all([
      syncAndClose(handles),
      Promise.all(
        dirs.map((dir) =>
          fsyncDir(this.fs, dir).then(
            () => undefined,
            (err: unknown) => err,
          ),
        ),
      ),
    ]);
    let f = 0;
    let d = 0;
    return keys.map((k) => (typeof k === "string" ? dirResults[d++] : fileResults[f++]));
  });

  constructor(options: FileDeployerOptions) {
    this.deploymentDir = path.resolve(options.deploymentDir);
    this.stateFile = path.resolve(options.stateFile ?? `${this.deploymentDir}${STATE_FILE_SUFFIX}`);
    this.fs = options.fs ?? nodeDeployFs;
    this.bulkFs = options.bulkFs ?? (options.fs !== undefined ? bulkFsOf(this.fs) : nodeBulkDeployFs);
    this.poolFs = options.poolFs ?? (options.fs !== undefined ? bulkFsOf(this.fs) : nodePoolDeployFs);
    this.syncDir = options.fs !== undefined ? (dir) => fsyncDir(this.fs, dir) : nodeSyncDir;
    this.fsync = options.fsync ?? true;
    this.stateWriteDelayMs = options.stateWriteDelayMs ?? DEFAULT_STATE_WRITE_DELAY_MS;
    this.dirSyncDelayMs = Math.min(
      options.dirSyncDelayMs ?? DEFAULT_DIR_SYNC_DELAY_MS,
      this.stateWriteDelayMs,
    );
    this.registry = new DeployedRegistry(compileSkipList(options.skipList), options.now);
    const rel = path.relative(this.deploymentDir, this.stateFile);
    if (rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel))) {
      throw new GwsyncError(
        "GWSYNC_CONFIG_INVALID",
        `deploy state file ${this.stateFile} must not be inside the deployment folder ${this.deploymentDir}; put it beside it`,
      );
    }
  }

  /**
   * Reads the last-known-good state (once; later calls return the same list), removes temp files a crash
   * left behind, and marks APIs whose files went missing (sha256 "") so their next deploy rewrites them.
   * deploy/undeploy/flush call it first, so the state on disk is never overwritten by an empty one.
   */
  load(): Promise<DeployedApi[]> {
    this.loading ??= this.loadOnce();
    return this.loading;
  }

  deployed(): DeployedApi[] {
    return this.registry.all();
  }

  get size(): number {
    return this.registry.size;
  }

  get(apiId: string): DeployedApi | undefined {
    return this.registry.get(apiId);
  }

  compact(): void {
    this.registry.compact();
  }

  /** The API that owns a file (relative to deployment_dir), if any. */
  ownerOf(relPath: string): string | undefined {
    return this.registry.ownerOf(relPath);
  }

  /**
   * Files that vanished from disk behind gwsync's back (a WSO2 gateway's start deletes
   * synapse-configs/default/{api,sequences,endpoints,local-entries} but the skip list:
   * GatewayStartupListener.java:150, InMemoryAPIDeployer.java:467-492). Each API owning one of `relPaths`
   * whose files are not all there is marked partial (sha256 ""), so its next deploy rewrites every file.
   * Returns the APIs that need that deploy.
   */
  async markMissing(relPaths: Iterable<string>): Promise<string[]> {
    await this.load();
    const owners = new Set<string>();
    for (const p of relPaths) {
      const owner = this.registry.ownerOf(p);
      if (owner !== undefined) owners.add(owner);
    }
    const marked: string[] = [];
    await Promise.all(
      [...owners].map((apiId) =>
        this.registry.serialize(apiId, async () => {
          const api = this.registry.get(apiId);
          if (api === undefined) return;
          if (api.sha256 !== "" && (await this.missingFiles(api.files)) === 0) return;
          if (api.sha256 !== "") {
            this.registry.restore({ ...api.toJSON(), sha256: "" });
            this.stateDirty = true;
          }
          marked.push(apiId);
        }),
      ),
    );
    return marked;
  }

  async deploy(dto: GatewayApiDto, meta: DeployMeta, options: DeployOptions = {}): Promise<DeployedFile[]> {
    await this.load();
    const bulk = options.deferFlush === true && this.fsync;
    const files = await this.registry.serialize(dto.apiId, () => this.deployNow(dto, meta, bulk));
    if (options.deferFlush !== true) await this.settle();
    return files;
  }

  async undeploy(apiId: string, options: DeployOptions = {}): Promise<void> {
    await this.load();
    const bulk = options.deferFlush === true && this.fsync;
    await this.registry.serialize(apiId, () => this.undeployNow(apiId, bulk));
    if (options.deferFlush !== true) await this.settle();
  }

  /**
   * After a single deploy the file is complete and durable (fsynced before its rename) and readers see
   * it. The renames themselves become durable with the next folder fsyncs, within dirSyncDelayMs: one
   * folder fsync serves a whole burst. A power loss inside that window can only bring back the previous
   * complete file under the previous state, which the startup reconciliation with the store redeploys.
   * The state file follows within stateWriteDelayMs, always after the folder fsyncs of the renames it
   * names; a kill -9 before it leaves the previous state, and the startup load redeploys what changed.
   */
  private async settle(): Promise<void> {
    if (this.stateWriteDelayMs === 0) return this.flush();
    if (this.dirSyncDelayMs < this.stateWriteDelayMs) {
      this.dirTimer ??= setTimeout(() => {
        this.dirTimer = undefined;
        this.queueFlush(false).catch(() => undefined); // failed folders stay dirty for the next flush
      }, this.dirSyncDelayMs);
      this.dirTimer.unref?.();
    }
    this.stateTimer ??= setTimeout(() => {
      this.stateTimer = undefined;
      this.flush().catch(() => undefined); // a failed write stays dirty and is retried by the next flush
    }, this.stateWriteDelayMs);
    this.stateTimer.unref?.();
  }

  /** fsyncs the folders touched since the last flush, then writes the state file atomically. */
  async flush(): Promise<void> {
    if (this.stateTimer) {
      clearTimeout(this.stateTimer);
      this.stateTimer = undefined;
    }
    if (this.dirTimer) {
      clearTimeout(this.dirTimer);
      this.dirTimer = undefined;
    }
    await this.load();
    return this.queueFlush(true);
  }

  /** Runs a flush after the ones queued; `writeState` false: the folder fsyncs alone. */
  private queueFlush(writeState: boolean): Promise<void> {
    const run = this.flushChain.then(() => this.flushNow(writeState));
    this.flushChain = run.catch(() => undefined);
    return run;
  }

  /**
   * Writes the plan's changed files as temps, makes them durable, renames them into place, removes the
   * stale ones. A single deploy fsyncs each file before its rename and leaves the folder fsyncs to the
   * next flush (settle()); a bulk deploy fsyncs its files in a round with the others in flight and
   * returns only once the folders holding its renames are fsynced too.
   */
  private async deployNow(dto: GatewayApiDto, meta: DeployMeta, bulk = false): Promise<DeployedFile[]> {
    const plan = this.registry.plan(dto, meta);
    if (plan.sameArtifact) {
      const { previous, record } = plan;
      if (
        previous?.seq !== record.seq ||
        previous.revision !== record.revision ||
        previous.labels !== record.labels
      ) {
        this.registry.commit(plan);
        this.stateDirty = true;
      }
      return record.files;
    }
    let staged: StagedFile[];
    try {
      staged = await this.stage(plan, bulk);
      if (bulk) await this.syncStaged(staged);
    } catch (err) {
      this.registry.abandon(plan);
      throw deployError(err, `cannot deploy API ${plan.apiId}`);
    }
    hop("gateway.staged", plan.apiId);
    await this.renameAll(plan, staged, bulk);
    hop("gateway.written", plan.apiId);
    // The old files go before the record that no longer names them is committed: a state file written
    // meanwhile still names them, and one written after names them no more only once their unlinks have
    // marked their folders for the fsync that precedes every state write (else a power cut could keep
    // a file that no API owns).
    const removal = await this.unlinkStale(plan);
    this.registry.commit(plan, { releaseStale: false });
    this.stateDirty = true;
    if (!bulk) {
      this.releaseStale(plan, removal);
      return plan.record.files;
    }
    // The renames (and the stale files' unlinks) are durable before the deploy counts as done.
    const dirs = [...staged.map((s) => s.dir), ...(await this.staleDirs(plan))];
    let failure: unknown;
    try {
      this.releaseStale(plan, removal);
    } catch (err) {
      failure = err;
    }
    try {
      await this.syncDirs(dirs);
    } catch (err) {
      // Not known durable: the next deploy of this API rewrites every file (and fsyncs them again).
      const current = this.registry.get(plan.apiId);
      if (current !== undefined) this.registry.recordPartial(current, current.files);
      failure ??= deployError(err, `cannot deploy API ${plan.apiId} (fsync of its folders)`);
    }
    if (failure !== undefined) throw failure;
    return plan.record.files;
  }

  /**
   * Writes every changed file of the plan to a temp file (fsynced and closed; in bulk, left open for
   * its fsync round); on failure closes and removes the temps and rethrows.
   */
  private async stage(plan: DeployPlan, bulk: boolean): Promise<StagedFile[]> {
    const staged: StagedFile[] = [];
    try {
      for (const f of plan.files) {
        if (f.unchanged) continue;
        const dir = await this.folder(f.kind);
        const final = joinInFolder(dir, f.fileName);
        const temp = tempPathIn(dir);
        const s: StagedFile = { temp, final, dir, file: f };
        staged.push(s);
        if (!bulk) {
          await this.writeTemp(temp, f.content);
          continue;
        }
        // Bulk: created between two fsync rounds, not behind their journal commits.
        await this.rounds.quiet();
        s.handle = await this.bulkFs.createTemp(temp, f.content, SHARED_FILE_MODE);
      }
    } catch (err) {
      await this.closeHandles(staged);
      await this.removeTemps(staged);
      throw err;
    }
    return staged;
  }

  /**
   * A single deploy's calls: blocking while no fsync of this deployer is in flight (B1's case: one
   * update at a time), on the thread pool while one is (a burst, as in B3: a blocking create or rename
   * would wait on the event loop for that fsync's journal commit).
   */
  private singleFs(): BulkDeployFs {
    return this.fsyncsInFlight === 0 && !this.rounds.flushing ? this.bulkFs : this.poolFs;
  }

  /** An fsync counted in fsyncsInFlight while it runs. */
  private async counted<T>(fsync: () => Promise<T>): Promise<T> {
    this.fsyncsInFlight++;
    try {
      return await fsync();
    } finally {
      this.fsyncsInFlight--;
    }
  }

  /**
   * A single deploy's temp file: created and written, fsynced (before the deploy may be acked), closed;
   * the first error wins (as writeNewFile). The caller removes the temp on failure.
   */
  private async writeTemp(temp: string, content: string): Promise<void> {
    const handle = await this.singleFs().createTemp(temp, content, SHARED_FILE_MODE);
    await closeAfter(handle, async () => {
      if (this.fsync) await this.counted(() => handle.sync());
    });
  }

  /** Bulk: the staged files' fsync round (every file before any rename); on failure removes the temps. */
  private async syncStaged(staged: StagedFile[]): Promise<void> {
    const results = await Promise.allSettled(
      staged.map((s) => {
        const h = s.handle!;
        s.handle = undefined; // closed by its round, whatever the outcome
        return this.rounds.run(h);
      }),
    );
    const failed = results.find((r) => r.status === "rejected");
    if (failed !== undefined) {
      await this.removeTemps(staged);
      throw failed.reason;
    }
  }

  /** Bulk: waits for a folder fsync round that started after this deploy's renames and unlinks. */
  private async syncDirs(dirs: string[]): Promise<void> {
    await Promise.all([...new Set(dirs)].map((dir) => this.rounds.run(dir)));
  }

  private async staleDirs(plan: DeployPlan): Promise<string[]> {
    return Promise.all(plan.stale.map((f) => this.folder(parseRelPath(f.relPath).kind)));
  }

  private async closeHandles(staged: readonly StagedFile[]): Promise<void> {
    for (const s of staged) {
      const h = s.handle;
      s.handle = undefined;
      await h?.close().catch(() => undefined);
    }
  }

  /** Renames staged files into place; a failure half way records what is on disk, then rethrows. */
  private async renameAll(plan: DeployPlan, staged: readonly StagedFile[], bulk: boolean): Promise<void> {
    // The paths whose previous file the renames replace (bulk: kept and removed later, see `retired`).
    const previous = bulk ? plan.previous : undefined;
    const replaced = new Set(
      previous instanceof PackedApi ? previous.relPaths : (previous?.files ?? []).map((f) => f.relPath),
    );
    for (let i = 0; i < staged.length; i++) {
      const s = staged[i]!;
      try {
        if (bulk && replaced.has(s.file.relPath)) await this.retire(s.final, s.dir);
        await (bulk ? this.bulkFs : this.singleFs()).rename(s.temp, s.final);
      } catch (err) {
        await this.removeTemps(staged.slice(i));
        this.recordPartialRename(plan, staged.slice(0, i));
        throw deployError(err, `cannot deploy API ${plan.apiId} (renaming ${s.file.relPath})`);
      }
      this.dirtyDirs.add(s.dir);
    }
  }

  // Some files are new, the rest old: keep owning both, and force a full rewrite on the next deploy.
  private recordPartialRename(plan: DeployPlan, renamed: readonly StagedFile[]): void {
    const files = new Map((plan.previous?.files ?? []).map((f) => [f.relPath, f]));
    for (const s of renamed) files.set(s.file.relPath, s.file);
    this.registry.recordPartial(plan.record, [...files.values()]);
    this.stateDirty = true;
  }

  /** Unlinks the files the plan's API no longer has (before its record is committed, see deployNow). */
  private async unlinkStale(plan: DeployPlan): Promise<StaleRemoval> {
    const leftover: DeployedFile[] = [];
    let failure: unknown;
    for (const f of plan.stale) {
      try {
        await this.unlinkDeployed(f);
      } catch (err) {
        leftover.push(f);
        failure ??= err;
      }
    }
    return { leftover, failure };
  }

  /**
   * After the commit: the removed files' paths are free for other APIs; the ones that could not be
   * removed stay in the record, so the next deploy or the undeploy removes them, and the deploy fails.
   */
  private releaseStale(plan: DeployPlan, { leftover, failure }: StaleRemoval): void {
    const kept = new Set(leftover.map((f) => f.relPath));
    for (const f of plan.stale) if (!kept.has(f.relPath)) this.registry.releasePath(plan.apiId, f.relPath);
    if (failure !== undefined) {
      this.registry.recordPartial(plan.record, [...plan.record.files, ...leftover]);
      throw deployError(failure, `API ${plan.apiId} deployed, but removing its old files failed`);
    }
  }

  private async undeployNow(apiId: string, bulk = false): Promise<void> {
    const record = this.registry.get(apiId);
    if (record === undefined) return;
    const leftover: DeployedFile[] = [];
    let failure: unknown;
    for (const f of record.files) {
      try {
        await this.unlinkDeployed(f);
      } catch (err) {
        leftover.push(f);
        failure ??= err;
      }
    }
    if (bulk) {
      // Bulk: the unlinks are durable before the removal counts as done.
      const dirs = await Promise.all(record.files.map((f) => this.folder(parseRelPath(f.relPath).kind)));
      await this.syncDirs(dirs).catch((err: unknown) => {
        failure ??= err;
      });
    }
    this.stateDirty = true;
    if (failure !== undefined) {
      this.registry.recordPartial(record, leftover);
      throw deployError(failure, `cannot undeploy API ${apiId}`);
    }
    this.registry.remove(apiId);
  }

  private async unlinkDeployed(f: DeployedFile): Promise<void> {
    const { kind, fileName } = parseRelPath(f.relPath);
    const dir = await this.folder(kind);
    await unlinkIfPresent(this.fs, joinInFolder(dir, fileName));
    this.dirtyDirs.add(dir);
  }

  private async flushNow(writeState = true): Promise<void> {
    const dirs = [...this.dirtyDirs];
    const stateDirty = writeState && this.stateDirty;
    // The records as they are now, with the folders: a deploy commits its record after its renames
    // marked their folders dirty, so every file named here is renamed in `dirs` (or an earlier flush's).
    // A deploy renamed while the fsyncs below run is left to the next flush.
    const apis = stateDirty ? this.registry.all() : [];
    this.dirtyDirs.clear();
    if (writeState) this.stateDirty = false;
    try {
      // Directories first: the state must never name a file whose rename is not yet durable.
      if (this.fsync) for (const dir of dirs) await this.counted(() => this.syncDir(dir));
      if (stateDirty) await this.counted(() => writeDeployState(this.fs, this.stateFile, apis, this.fsync));
    } catch (err) {
      for (const dir of dirs) this.dirtyDirs.add(dir);
      this.stateDirty ||= stateDirty;
      throw deployError(err, `cannot save deploy state ${this.stateFile}`);
    }
    this.reapRetired();
  }

  /**
   * Bulk: keeps the file a rename is about to replace under a temp name (retired), so the rename does
   * not free it; removed in the background later (reapRetired). Nothing is kept when the file is not
   * there, when the file system has no hard links, or when MAX_RETIRED_FILES wait already.
   */
  private async retire(final: string, dir: string): Promise<void> {
    const fs = this.bulkFs;
    if (fs.link === undefined) return;
    if (this.retired.length >= MAX_RETIRED_FILES) {
      this.reapRetired();
      return;
    }
    const trash = tempPathIn(dir);
    try {
      await fs.link(final, trash);
    } catch {
      return; // ENOENT (nothing to replace), EPERM/EMLINK/ENOTSUP: the rename frees it, as before
    }
    this.retired.push(trash);
  }

  /** Removes the retired files in the background, REAP_IN_FLIGHT at a time (see `retired`). */
  private reapRetired(): void {
    if (this.reaping !== undefined || this.retired.length === 0) return;
    this.reaping = (async () => {
      while (this.retired.length > 0) {
        const batch = this.retired.splice(0, this.reapInFlight);
        // One that cannot be removed stays, temp-named, until the next start removes it.
        await Promise.all(batch.map((f) => unlinkIfPresent(this.fs, f).catch(() => undefined)));
      }
    })().finally(() => {
      this.reaping = undefined;
    });
  }

  /** Resolves once no retired file waits for its removal (tests). */
  async reaped(): Promise<void> {
    while (this.reaping !== undefined) await this.reaping;
  }

  /**
   * Before the process stops: the retired files (replaced by a bulk load, or temp files an earlier
   * process left) are removed now, CLOSE_REAP_IN_FLIGHT at a time, instead of being left in the
   * deployment folders until the next start (test/faults/gateway-kill.test.ts found 846 after a
   * graceful stop that followed ten kill -9s). Bounded by the service's shutdown timeout.
   */
  async close(): Promise<void> {
    this.reapInFlight = CLOSE_REAP_IN_FLIGHT;
    this.reapRetired();
    await this.reaped();
  }

  /** The absolute folder of `kind`, created and checked (inside deploymentDir, symlinks resolved) once. */
  private folder(kind: ArtifactKind): Promise<string> {
    let folder = this.folders.get(kind);
    if (folder === undefined) {
      // Checked before mkdir (a symlink pointing out must not be followed) and after (a race).
      folder = Promise.resolve()
        .then(() => this.fs.mkdir(artifactFolder(this.deploymentDir, kind), { recursive: true }))
        .then(() => artifactFolder(this.deploymentDir, kind));
      // A failed mkdir (disk full) is retried by the next deploy.
      folder.catch(() => this.folders.delete(kind));
      this.folders.set(kind, folder);
    }
    return folder;
  }

  private async removeTemps(staged: readonly StagedFile[]): Promise<void> {
    for (const s of staged) await unlinkIfPresent(this.fs, s.temp).catch(() => undefined);
  }

  private async loadOnce(): Promise<DeployedApi[]> {
    const apis = await readDeployState(this.fs, this.stateFile);
    const listings = await this.listFolders();
    await this.removeLeftoverTemps(listings);
    const missingCounts = await Promise.all(apis.map((api) => this.missingFiles(api.files, listings)));
    for (const [i, api] of apis.entries()) {
      const missing = missingCounts[i] ?? 0;
      const restored = this.registry.restore(missing === 0 ? api : { ...api, sha256: "" });
      if (missing > 0 || restored.relPaths.length !== api.files.length) this.stateDirty = true;
    }
    return this.registry.all();
  }

  /**
   * Each artifact folder's entries (folder name → file name → is a symlink), one listing per folder
   * instead of a stat per deployed file (issue 19, B7: 10,000 stats on libuv's pool took 0.2–1 s of a
   * restart). A folder that does not exist lists nothing; one that is unsafe or cannot be listed is
   * undefined, and a stat of each of its files decides, as before.
   */
  private async listFolders(): Promise<Map<string, Map<string, boolean> | undefined>> {
    const listings = new Map<string, Map<string, boolean> | undefined>();
    for (const kind of Object.keys(ARTIFACT_FOLDERS) as ArtifactKind[]) {
      const folder = ARTIFACT_FOLDERS[kind];
      let dir: string;
      try {
        dir = artifactFolder(this.deploymentDir, kind);
      } catch {
        listings.set(folder, undefined); // an unsafe folder fails the first deploy into it, with the reason
        continue;
      }
      try {
        const entries = await this.fs.readdirTypes(dir);
        listings.set(folder, new Map(entries.map((e) => [e.name, e.isSymbolicLink()])));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        listings.set(folder, code === "ENOENT" || code === "ENOTDIR" ? new Map() : undefined);
      }
    }
    return listings;
  }

  /**
   * How many of an API's files are not there. With the folders' listings (the startup load), a name
   * listed is there unless it is a symlink (stat follows it: a dangling one is missing), a name not listed
   * is missing; without them, or for a folder not listed, a stat of the file decides.
   */
  private async missingFiles(
    files: readonly DeployedFile[],
    listings?: ReadonlyMap<string, ReadonlyMap<string, boolean> | undefined>,
  ): Promise<number> {
    let missing = 0;
    const unsure: DeployedFile[] = [];
    for (const f of files) {
      const slash = f.relPath.indexOf("/");
      const entries = listings?.get(f.relPath.slice(0, slash));
      const symlink = entries?.get(f.relPath.slice(slash + 1));
      if (entries === undefined || symlink === true) unsure.push(f);
      else if (symlink === undefined) missing++;
    }
    if (unsure.length === 0) return missing;
    const found = await Promise.all(
      unsure.map((f) =>
        this.fs.stat(path.join(this.deploymentDir, f.relPath)).then(
          () => true,
          () => false,
        ),
      ),
    );
    return missing + found.filter((present) => !present).length;
  }

  private async removeLeftoverTemps(
    listings: ReadonlyMap<string, ReadonlyMap<string, boolean> | undefined>,
  ): Promise<void> {
    for (const kind of Object.keys(ARTIFACT_FOLDERS) as ArtifactKind[]) {
      const names = listings.get(ARTIFACT_FOLDERS[kind]);
      if (names === undefined) continue; // unsafe or unreadable: nothing was listed there before either
      const dir = path.join(this.deploymentDir, ARTIFACT_FOLDERS[kind]);
      // Removed in the background after the next flush (thousands of retired files may be left by a
      // stop right after a bulk load); this process's temp names never match an earlier one's.
      for (const name of names.keys()) if (isTempName(name)) this.retired.push(path.join(dir, name));
    }
    const stateDir = path.dirname(this.stateFile);
    const stateStem = path.basename(this.stateFile);
    const names = await this.fs.readdir(stateDir).catch(() => [] as string[]);
    for (const name of names) {
      if (isTempName(name, stateStem)) await unlinkIfPresent(this.fs, path.join(stateDir, name));
    }
  }
}

function deployError(err: unknown, what: string): GwsyncError {
  if (isGwsyncError(err)) return err;
  const code = fsErrorCode(err);
  const errno = (err as NodeJS.ErrnoException | undefined)?.code ?? "unknown";
  const fix =
    code === "GWSYNC_DEPLOY_DISK_FULL"
      ? "free disk space; the previous version stays deployed"
      : "check the disk and permissions";
  return new GwsyncError(
    code,
    `${what}: ${errno} ${(err as Error | undefined)?.message ?? String(err)}; ${fix}`,
    {
      cause: err,
      details: { errno },
    },
  );
}
