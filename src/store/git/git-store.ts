import { EventEmitter } from "node:events";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import path from "node:path";
import type { GatewayApiDto } from "../../artifacts/types.js";
import type { GitStoreConfig } from "../../config/types.js";
import { GwsyncError, isGwsyncError } from "../../errors.js";
import { GitCli } from "../../git/git-cli.js";
import { GitObjects, OBJECT_ID } from "../../git/git-objects.js";
import { type Logger, silentLogger } from "../../log.js";
import { maskUrl } from "../../security/secrets.js";
import type { LeaderLock } from "../leader-lock.js";
import { type ParsedSave, parseSaveInput, sha256Hex } from "../save-input.js";
import type { SaveExtension } from "../sqlite/save-artifact.js";
import { SqliteArtifactStore } from "../sqlite/sqlite-store.js";
import type {
  AgreementRecord,
  AgreementRole,
  ArtifactStore,
  ChangeRecord,
  GatewayApiReport,
  GatewayHeartbeat,
  GatewayReportCursor,
  NewOutboxMessage,
  OutboxClaim,
  OutboxMessage,
  RevisionRecord,
  SaveArtifactInput,
  SaveArtifactResult,
  StoredArtifact,
  StoredRevision,
  StoreHealth,
} from "../types.js";
import { changeMessage, gwsyncTrailers, importMessage } from "./commit-message.js";
import { createGitTables, type GitStatements, hasGitTables, prepareGitStatements } from "./git-tables.js";
import { apiFileBase, apiFileWithId, labelFolder } from "./paths.js";
import { RemotePush, type RemoteStatus } from "./remote-push.js";
import { HeadTree } from "./tree.js";

type BuildMessages = (result: SaveArtifactResult) => NewOutboxMessage[];

/** What `GitArtifactStore.events` emits. */
export interface GitStoreEvents {
  /** The remote took the branch up to this commit. */
  pushed: [commit: string];
  /** A push failed (retried later). */
  pushFailed: [reason: string];
}

/** `git gc --auto` after this many commits (it packs loose objects; a no-op below git's thresholds). */
const GC_EVERY_COMMITS = 1000;
/** How long close() gives a push of the last commits. */
const CLOSE_PUSH_GRACE_MS = 5_000;
/** Repository settings the store relies on, set when it creates the repository (and checked at start). */
const REPOSITORY_CONFIG: readonly (readonly [string, string])[] = [
  // Objects and the branch reach the disk before the SQLite transaction that names them commits.
  ["core.fsync", "committed"],
  ["core.fsyncMethod", "fsync"],
  // A bare repository keeps no reflog by default; the branch's moves are worth keeping.
  ["core.logAllRefUpdates", "always"],
  // Whoever pushes into this repository cannot rewrite or delete the store's branch.
  ["receive.denyNonFastForwards", "true"],
  ["receive.denyDeletes", "true"],
  // What a restore fetches from the remote is checked.
  ["transfer.fsckObjects", "true"],
];

export interface GitStoreOptions {
  /** The SQLite file that keeps the changelog, the outbox and the runtime tables. */
  file: string;
  git: GitStoreConfig;
  readonly?: boolean;
  busyTimeoutMs?: number;
  /** This region's name, reported as the origin of local changes. */
  region?: string;
  logger?: Logger;
  /** Clock in ms since epoch (tests). */
  now?: () => number;
}

/**
 * The Git artifact store (`artifact_saver = "GitSaver"`, docs/git-store.md): every publish, update and
 * remove is one commit of a branch of a Git repository, one file per API per label
 * (`<label>/<provider>--<name>_v<version>.json`, the GatewayAPIDTO JSON byte for byte), with a
 * message naming the API, its revision and origin. The changelog, the outbox and the runtime tables
 * stay in an embedded SQLite store, so the outbox and changelog guarantees are SQLite's; the repository
 * holds every revision's bytes (history, rollback and diff read them from Git) and each changelog row
 * records the commit that holds it.
 *
 * A save commits to Git first (objects, then the branch moved by compare-and-swap) and then runs the
 * SQLite transaction that records the commit as the store's head together with the changelog and
 * outbox rows. A crash in between leaves a commit no transaction recorded (an orphan): at the next
 * start the branch is moved back to the recorded head and the orphan kept under
 * `refs/gwsync/orphans/`, as a transaction that did not commit. The publish was never acknowledged, so
 * its caller sends it again. A branch that no longer reaches the recorded head (reset, rewritten,
 * restored from an older backup) stops the store with the commands that repair it.
 *
 * Saves are serialized in the process (SQLite has one writer anyway); reads are the SQLite store's,
 * except history, which reads Git. Git runs as the git command line (src/git/), through long-running
 * commands, so a commit costs pipe round trips rather than process starts.
 */
export class GitArtifactStore implements ArtifactStore {
  readonly engine = "git" as const;
  readonly events: EventEmitter<GitStoreEvents> = new EventEmitter<GitStoreEvents>();
  readonly #inner: SqliteArtifactStore;
  readonly #config: GitStoreConfig;
  readonly #ref: string;
  readonly #git: GitCli;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #readonly: boolean;
  readonly #st: GitStatements | undefined;
  #objects: GitObjects | undefined;
  #ready: Promise<void> | undefined;
  #head: string | undefined;
  #tree: HeadTree | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #broken: GwsyncError | undefined;
  #remote: RemotePush | undefined;
  #commitsSinceGc = 0;
  #gc: Promise<unknown> | undefined;
  #closed = false;

  constructor(o: GitStoreOptions) {
    this.#config = o.git;
    this.#ref = `refs/heads/${o.git.branch}`;
    this.#readonly = o.readonly ?? false;
    this.#log = (o.logger ?? silentLogger).child({ component: "git-store" });
    this.#now = o.now ?? Date.now;
    this.#git = new GitCli({ gitDir: o.git.repository });
    this.#inner = SqliteArtifactStore.open(o.file, {
      readonly: this.#readonly,
      ...(o.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: o.busyTimeoutMs }),
      ...(o.region === undefined ? {} : { region: o.region }),
      ...(o.now === undefined ? {} : { now: o.now }),
    });
    try {
      const db = this.#inner.database;
      if (!this.#readonly) createGitTables(db);
      this.#st = hasGitTables(db) ? prepareGitStatements(db) : undefined;
    } catch (err) {
      this.#inner.closeSync();
      throw err;
    }
  }

  get location(): string {
    return `${this.#config.repository} (branch ${this.#config.branch}; changelog ${this.#inner.file})`;
  }

  /** The commit the store recorded last (undefined before the first, or before the store started). */
  get head(): string | undefined {
    return this.#head;
  }

  /** The remote's state, when one is configured and the store started. */
  get remote(): RemoteStatus | undefined {
    return this.#remote?.status();
  }

  // ---------------------------------------------------------------------------------------- start

  /** Open the repository and repair what a crash left (once; every write waits for it). */
  #start(): Promise<void> {
    if (this.#readonly) throw this.#readonlyError("write");
    this.#ready ??= this.#open().catch((err: unknown) => {
      // The next call tries again (a repository on a disk that comes back, a remote that answers).
      this.#ready = undefined;
      throw err;
    });
    return this.#ready;
  }

  async #open(): Promise<void> {
    await this.#ensureRepository();
    this.#objects ??= new GitObjects(this.#git);
    this.#objects.clearTemp();
    const head = await this.#recover();
    this.#head = head;
    this.#tree = await HeadTree.load(this.#objects, head);
    if ((await this.#inner.headSeq()) > 0 && head === undefined) await this.#importStore();
    if (this.#config.remoteUrl !== undefined && this.#remote === undefined) {
      const creds =
        this.#config.username !== undefined && this.#config.password !== undefined
          ? { username: this.#config.username, password: this.#config.password }
          : undefined;
      this.#remote = new RemotePush({
        git: new GitCli({ gitDir: this.#config.repository, credentials: creds }),
        url: this.#config.remoteUrl,
        branch: this.#config.branch,
        retryMs: this.#config.pushRetryMs,
        logger: this.#log,
        head: () => this.#head,
        onPushed: (commit) => this.events.emit("pushed", commit),
        onFailed: (reason) => this.events.emit("pushFailed", reason),
      });
      this.#remote.wake();
    }
    this.#log.info(
      { repository: this.#config.repository, branch: this.#config.branch, head: this.#head ?? null },
      "git store ready",
    );
  }

  /** Create the bare repository when missing, and give it the settings the store relies on. */
  async #ensureRepository(): Promise<void> {
    const repo = this.#config.repository;
    if (!existsSync(path.join(repo, "HEAD"))) {
      if (existsSync(repo) && readdirSync(repo).length > 0) {
        throw new GwsyncError(
          "GWSYNC_STORE_FAILED",
          `${repo} is neither a Git repository nor empty: point [gwsync.git_store] repository at a repository or a new folder`,
          { retryable: false },
        );
      }
      mkdirSync(repo, { recursive: true });
      await this.#git.run(["init", "--bare", "--quiet", `--initial-branch=${this.#config.branch}`]);
      this.#log.info({ repository: repo }, "git store: created the repository");
    }
    const set = await this.#git.exec(["config", "--get", "core.fsync"]);
    if (set.stdout.toString("utf8").trim() !== "committed") {
      for (const [key, value] of REPOSITORY_CONFIG) await this.#git.run(["config", key, value]);
    }
  }

  async #branchHead(): Promise<string | undefined> {
    const r = await this.#git.exec(["rev-parse", "--verify", "--quiet", `${this.#ref}^{commit}`]);
    const id = r.stdout.toString("utf8").trim();
    return r.code === 0 && OBJECT_ID.test(id) ? id : undefined;
  }

  async #hasCommit(id: string): Promise<boolean> {
    const o = await this.#objects!.read(`${id}^{commit}`);
    return o !== undefined;
  }

  async #message(commit: string): Promise<{ message: string; parent: string | undefined }> {
    const o = await this.#objects!.read(commit);
    if (o === undefined || o.type !== "commit") {
      throw new GwsyncError(
        "GWSYNC_STORE_FAILED",
        `commit ${commit} is missing from ${this.#config.repository}`,
      );
    }
    const text = o.data.toString("utf8");
    const blank = text.indexOf("\n\n");
    const header = blank < 0 ? text : text.slice(0, blank);
    const parent = /^parent ([0-9a-f]+)$/m.exec(header)?.[1];
    return { message: blank < 0 ? "" : text.slice(blank + 2), parent };
  }

  #fail(message: string): GwsyncError {
    const err = new GwsyncError("GWSYNC_STORE_FAILED", message, { retryable: false });
    this.#broken = err;
    return err;
  }

  /**
   * Bring the branch and the SQLite rows back in step after a crash, or refuse when they cannot be:
   * returns the head both agree on.
   */
  async #recover(): Promise<string | undefined> {
    const st = this.#st!;
    const repo = this.#config.repository;
    const now = this.#now();
    let state = st.state.get();
    if (state === undefined) {
      st.initState.run(this.#config.branch, now);
      state = st.state.get()!;
    }
    if (state.BRANCH !== this.#config.branch) {
      if (state.HEAD !== null) {
        throw this.#fail(
          `the store's history is on branch ${state.BRANCH} of ${repo}, but [gwsync.git_store] branch is ${this.#config.branch}: set it back to ${state.BRANCH}`,
        );
      }
      st.setBranch.run(this.#config.branch);
    }
    const recorded = state.HEAD ?? undefined;
    let head = await this.#branchHead();
    if (recorded === undefined) return this.#recoverFresh(head);

    if (head === undefined || !(await this.#hasCommit(recorded))) {
      head = await this.#restoreFromRemote(recorded, head);
    }
    if (head === recorded) return head;
    const ancestor = await this.#git.isAncestor(recorded, head);
    if (ancestor !== true) {
      throw this.#fail(
        `branch ${this.#config.branch} of ${repo} is at ${head}, which does not descend from ${recorded}, the commit the store recorded last: the branch was reset or rewritten outside gwsync. Point it back with: git --git-dir=${repo} update-ref ${this.#ref} ${recorded}`,
      );
    }
    // Commits after the recorded head: made by a save whose SQLite transaction never committed.
    const orphans = (await this.#git.text(["rev-list", "--first-parent", `${recorded}..${head}`]))
      .split("\n")
      .filter((l) => l !== "");
    const subjects: string[] = [];
    for (const c of orphans) {
      const { message } = await this.#message(c);
      const trailers = gwsyncTrailers(message);
      const firstSeq = Number(trailers.get("Gwsync-Seq")?.split(" ")[0]);
      if (!(firstSeq > (st.headSeq.get() ?? 0))) {
        throw this.#fail(
          `branch ${this.#config.branch} of ${repo} has commit ${c} after ${recorded} (the commit the store recorded last) that gwsync did not make: remove it from the branch (git --git-dir=${repo} update-ref ${this.#ref} ${recorded}) and commit it elsewhere`,
        );
      }
      subjects.push(`${c.slice(0, 12)} ${message.split("\n")[0]}`);
    }
    await this.#objects!.updateRef(`refs/gwsync/orphans/${head}`, head, undefined).catch(() => undefined);
    await this.#objects!.updateRef(this.#ref, recorded, head);
    this.#log.warn(
      { orphans: subjects, kept: `refs/gwsync/orphans/${head}`, head: recorded },
      "git store: commits whose store transaction never committed (a crash between the two) were taken off the branch; their publishes were not acknowledged and are sent again by their callers",
    );
    return recorded;
  }

  /** No commit recorded yet: start on the branch as it is, unless it holds a store's history. */
  async #recoverFresh(head: string | undefined): Promise<string | undefined> {
    if (head === undefined) return undefined;
    const st = this.#st!;
    const { message, parent } = await this.#message(head);
    const trailers = gwsyncTrailers(message);
    const seq = trailers.get("Gwsync-Seq")?.split(" ")[0];
    const importSeq = trailers.get("Gwsync-Import-Seq");
    if (seq === undefined && importSeq === undefined) {
      this.#log.info({ head }, "git store: starting on the branch's existing commits (their files are kept)");
      return head;
    }
    const parentIsGwsync =
      parent !== undefined && gwsyncTrailers((await this.#message(parent)).message).size > 0;
    const headSeq = st.headSeq.get() ?? 0;
    const orphan =
      !parentIsGwsync &&
      (importSeq !== undefined ? Number(importSeq) === headSeq : Number(seq) === headSeq + 1);
    if (!orphan) {
      throw this.#fail(
        `branch ${this.#config.branch} of ${this.#config.repository} already holds a gwsync store's history (head ${head}) that this store (${this.#inner.file}) did not record: give this store an empty repository or branch, or the store file that goes with this repository`,
      );
    }
    await this.#objects!.updateRef(`refs/gwsync/orphans/${head}`, head, undefined).catch(() => undefined);
    if (parent === undefined) await this.#deleteBranch(head);
    else await this.#objects!.updateRef(this.#ref, parent, head);
    this.#log.warn(
      { orphans: [`${head.slice(0, 12)} ${message.split("\n")[0]}`], kept: `refs/gwsync/orphans/${head}` },
      "git store: a commit whose store transaction never committed was taken off the branch",
    );
    return parent;
  }

  async #deleteBranch(from: string): Promise<void> {
    await this.#git.run(["update-ref", "-d", this.#ref, from]);
  }

  /** The repository lost the branch or the recorded commit: fetch them from the remote, if any. */
  async #restoreFromRemote(recorded: string, head: string | undefined): Promise<string> {
    const repo = this.#config.repository;
    const lost = `${repo} does not hold commit ${recorded}, which the store's changelog (${this.#inner.file}) records as its head`;
    if (this.#config.remoteUrl === undefined) {
      throw this.#fail(`${lost}: restore the repository from a backup (or configure its remote_url)`);
    }
    const creds =
      this.#config.username !== undefined && this.#config.password !== undefined
        ? { username: this.#config.username, password: this.#config.password }
        : undefined;
    const remote = new GitCli({ gitDir: repo, credentials: creds });
    const fetched = "refs/gwsync/remote";
    const r = await remote.exec([
      "fetch",
      "--quiet",
      "--no-tags",
      this.#config.remoteUrl,
      `+refs/heads/${this.#config.branch}:${fetched}`,
    ]);
    if (r.code !== 0) {
      throw this.#fail(
        `${lost}, and fetching it from ${maskUrl(this.#config.remoteUrl)} failed: ${r.stderr}`,
      );
    }
    const remoteHead = (await this.#git.text(["rev-parse", "--verify", `${fetched}^{commit}`])).trim();
    if (!(await this.#hasCommit(recorded)) || (await this.#git.isAncestor(recorded, remoteHead)) !== true) {
      throw this.#fail(
        `${lost}, and the remote's branch does not hold it either: restore the repository from a backup`,
      );
    }
    if (head !== undefined && (await this.#git.isAncestor(head, recorded)) !== true) {
      throw this.#fail(
        `${lost}; its branch is at ${head}, which is no ancestor of it: restore the repository from the remote by hand`,
      );
    }
    await this.#objects!.updateRef(this.#ref, recorded, head);
    this.#log.warn(
      { head: recorded, remote: maskUrl(this.#config.remoteUrl) },
      "git store: the repository's branch was restored from the remote",
    );
    return recorded;
  }

  /**
   * A store that held artifacts before it became a Git store: one commit with every published
   * artifact, so the branch starts with what gateways serve. Earlier revisions stay in the SQLite
   * store's history.
   */
  async #importStore(): Promise<void> {
    const st = this.#st!;
    const rows = await this.#inner.listArtifacts({ withBody: true });
    if (rows.length === 0) return;
    const seq = await this.#inner.headSeq();
    const edits = new Map<string, string | undefined>();
    const paths: { label: string; apiId: string; path: string }[] = [];
    const taken = new Set<string>();
    for (const a of rows) {
      const dto = { provider: a.provider, name: a.name, version: a.version, apiId: a.apiId };
      const folder = labelFolder(a.label);
      let p = `${folder}/${apiFileBase(dto)}`;
      if (taken.has(p)) p = `${folder}/${apiFileWithId(dto)}`;
      taken.add(p);
      edits.set(p, await this.#objects!.writeBlob(a.artifactJson));
      paths.push({ label: a.label, apiId: a.apiId, path: p });
    }
    const tree = await this.#tree!.write(edits);
    const commit = await this.#objects!.writeCommit({
      tree: tree.id,
      parents: this.#head === undefined ? [] : [this.#head],
      name: this.#config.authorName,
      email: this.#config.authorEmail,
      timeMs: this.#now(),
      message: importMessage(new Set(rows.map((r) => r.apiId)).size, rows.length, seq),
    });
    await this.#objects!.updateRef(this.#ref, commit, this.#head);
    try {
      this.#inner.database
        .transaction(() => {
          if (st.setImport.run(commit, commit, this.#now()).changes !== 1) {
            throw new GwsyncError("GWSYNC_STORE_FAILED", "the Git store's head moved during the import");
          }
          for (const p of paths) st.putPath.run(p.label, p.apiId, p.path);
        })
        .immediate();
    } catch (err) {
      await this.#moveBack(commit);
      throw err;
    }
    tree.apply();
    this.#head = commit;
    this.#log.info({ commit, apis: rows.length, seq }, "git store: imported the store's artifacts");
  }

  // ----------------------------------------------------------------------------------------- save

  async saveArtifact(input: SaveArtifactInput, buildMessages: BuildMessages): Promise<SaveArtifactResult> {
    this.#inner.assertWritable("saveArtifact");
    const parsed = parseSaveInput(input);
    await this.#start();
    return this.#exclusive(() => this.#save(parsed, buildMessages));
  }

  /** Run `fn` after every save before it (one writer). */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #save(p: ParsedSave, build: BuildMessages): Promise<SaveArtifactResult> {
    if (this.#broken !== undefined) throw this.#broken;
    if (this.#closed) throw new GwsyncError("GWSYNC_STORE_FAILED", "the Git store is closed");
    const inner = this.#inner;
    const plan = inner.planParsed(p);
    // Nothing to commit: the SQLite store answers (and writes nothing).
    if (plan.kind === "unchanged") return inner.saveParsed(p, build, { keepBodies: false });
    inner.checkFileConflicts(p, plan.labels);

    const st = this.#st!;
    const objects = this.#objects!;
    const firstSeq = inner.nextChangeSeq();
    const blob = p.instruction === "Publish" ? await objects.writeBlob(p.artifactJson) : undefined;
    const edits = new Map<string, string | undefined>();
    /** Per label, in plan order: the file this change writes or deletes. */
    const files: { label: string; path: string }[] = [];
    for (const { label } of plan.labels) {
      const old = st.pathOf.get(label, p.apiId);
      let file: string;
      if (p.instruction === "Remove") {
        file = old ?? `${labelFolder(label)}/${apiFileBase(p.dto)}`;
        edits.set(file, undefined);
      } else {
        file = await this.#fileFor(p.dto, label, old);
        if (old !== undefined && old !== file) edits.set(old, undefined);
        edits.set(file, blob);
      }
      files.push({ label, path: file });
    }
    const seqs = files.map((_, i) => firstSeq + i);
    const tree = await this.#tree!.write(edits);
    const parent = this.#head;
    const commit = await objects.writeCommit({
      tree: tree.id,
      parents: parent === undefined ? [] : [parent],
      name: this.#config.authorName,
      email: this.#config.authorEmail,
      timeMs: this.#now(),
      message: changeMessage({
        instruction: p.instruction,
        apiId: p.apiId,
        name: p.dto.name,
        version: p.dto.version,
        provider: p.dto.provider,
        tenantDomain: p.dto.tenantDomain,
        revision: plan.revision,
        sha256: p.sha256,
        labels: files.map((f) => f.label),
        seqs,
        origin:
          p.origin === undefined
            ? { region: this.#region() }
            : { region: p.origin.region, seq: p.origin.seq },
        sourceCommit: p.sourceCommit,
      }),
    });
    try {
      await objects.updateRef(this.#ref, commit, parent);
    } catch (err) {
      throw this.#fail(
        `the branch ${this.#config.branch} of ${this.#config.repository} moved outside gwsync (it is no longer at ${parent ?? "nothing"}): ${(err as Error).message}; restart the publisher to check it`,
      );
    }
    const ext: SaveExtension = {
      keepBodies: false,
      commit,
      written: (rows) => {
        if (
          rows.length !== files.length ||
          rows.some((r, i) => r.seq !== seqs[i] || r.label !== files[i]!.label)
        ) {
          throw new GwsyncError(
            "GWSYNC_STORE_FAILED",
            `the changelog took sequence numbers ${rows.map((r) => r.seq).join(",")}, not ${seqs.join(",")} as commit ${commit} says: another process writes ${this.#inner.file}`,
          );
        }
        for (const [i, f] of files.entries()) {
          st.insertChange.run(seqs[i]!, commit, f.path);
          if (p.instruction === "Publish") st.putPath.run(f.label, p.apiId, f.path);
          else st.dropPath.run(f.label, p.apiId);
        }
        if (st.moveHead.run(commit, this.#now(), parent ?? null).changes !== 1) {
          throw new GwsyncError(
            "GWSYNC_STORE_FAILED",
            `the Git store's recorded head is no longer ${parent ?? "empty"}: another process writes ${this.#inner.file}`,
          );
        }
      },
    };
    let result: SaveArtifactResult;
    try {
      result = inner.saveParsed(p, build, ext);
    } catch (err) {
      await this.#moveBack(commit, parent);
      throw err;
    }
    tree.apply();
    this.#head = commit;
    this.#remote?.wake();
    this.#maybeGc();
    return result;
  }

  /** The save's transaction did not commit: the branch goes back to where it was. */
  async #moveBack(commit: string, parent: string | undefined = this.#head): Promise<void> {
    try {
      if (parent === undefined) await this.#deleteBranch(commit);
      else await this.#objects!.updateRef(this.#ref, parent, commit);
    } catch (err) {
      // The next start takes the commit off the branch (it is an orphan then); until then no save.
      const e = this.#fail(
        `commit ${commit} is on branch ${this.#config.branch} but its store transaction failed, and moving the branch back failed too (${(err as Error).message}): restart the publisher`,
      );
      this.#log.error({ commit, err: (err as Error).message }, e.message);
    }
  }

  /** The API's file on the label: its WSO2 name, unless another API holds that name there. */
  async #fileFor(dto: GatewayApiDto, label: string, old: string | undefined): Promise<string> {
    const folder = labelFolder(label);
    const candidates = [`${folder}/${apiFileBase(dto)}`, `${folder}/${apiFileWithId(dto)}`];
    // An API keeps its file while its name stays (no move when the other API of its name is gone).
    if (old !== undefined && candidates.includes(old)) return old;
    for (const file of candidates) {
      const owner = this.#st!.ownerOfPath.get(file);
      if (owner !== undefined && owner.API_ID !== dto.apiId) continue;
      // A file the store does not know (a branch it started on): not overwritten.
      if (owner === undefined && (await this.#tree!.has(file))) continue;
      return file;
    }
    throw new GwsyncError(
      "GWSYNC_ARTIFACT_CONFLICT",
      `API ${dto.apiId}: the files ${candidates.join(" and ")} of the Git store are taken by other APIs or files`,
      { details: { apiId: dto.apiId, label } },
    );
  }

  #region(): string {
    return this.#inner.region;
  }

  #maybeGc(): void {
    if (++this.#commitsSinceGc < GC_EVERY_COMMITS || this.#gc !== undefined) return;
    this.#commitsSinceGc = 0;
    // In the save queue, after this save: no save runs beside it. In the foreground
    // (gc.autoDetach=false): by default `git gc --auto` forks into the background, so it packed objects
    // under the long-running mktree (B3 on the Git store: "object ... is unavailable") and kept writing
    // after close(). The long-running git processes cache the pack list: fresh ones see the new packs.
    this.#gc = this.#exclusive(async () => {
      if (this.#closed) return;
      const r = await this.#git.exec(["-c", "gc.autoDetach=false", "gc", "--auto", "--quiet"]);
      if (r.code !== 0) this.#log.warn({ err: r.stderr }, "git store: git gc --auto failed");
      const old = this.#objects;
      this.#objects = new GitObjects(this.#git);
      this.#tree = await HeadTree.load(this.#objects, this.#head);
      old?.close();
    })
      .catch((err: Error) => this.#log.warn({ err: err.message }, "git store: git gc --auto failed"))
      .finally(() => {
        this.#gc = undefined;
      });
  }


  // ---------------------------------------------------------------------------------------- reads

  async enqueue(messages: NewOutboxMessage[]): Promise<void> {
    return this.#inner.enqueue(messages);
  }

  getArtifact(apiId: string, label: string): Promise<StoredArtifact | undefined> {
    return this.#inner.getArtifact(apiId, label);
  }

  listArtifacts(options?: {
    label?: string;
    includeRemoved?: boolean;
    withBody?: boolean;
  }): Promise<StoredArtifact[]> {
    return this.#inner.listArtifacts(options);
  }

  listApiLabels(apiId: string): Promise<StoredArtifact[]> {
    return this.#inner.listApiLabels(apiId);
  }

  countArtifacts(label: string): Promise<number> {
    return this.#inner.countArtifacts(label);
  }

  listArtifactPage(label: string, after: string, limit: number): Promise<StoredArtifact[]> {
    return this.#inner.listArtifactPage(label, after, limit);
  }

  async apiHistory(apiId: string, limit?: number): Promise<RevisionRecord[]> {
    const records = await this.#inner.apiHistory(apiId, limit);
    const st = this.#st;
    if (st === undefined) return records;
    return records.map((r) => {
      const c = st.commitOfSeq.get(r.seq);
      return c === undefined ? r : { ...r, storeCommit: c.COMMIT_ID, hasContent: true };
    });
  }

  async getRevision(apiId: string, revision: number): Promise<StoredRevision | undefined> {
    const base = await this.#inner.getRevision(apiId, revision);
    const st = this.#st;
    if (base === undefined || st === undefined) return base;
    const row = st.revisionChanges.all(apiId, revision)[0];
    // A revision from before the store became a Git store: the SQLite store kept its bytes.
    if (row === undefined) return base;
    const record: RevisionRecord = { ...base.record, storeCommit: row.COMMIT_ID, hasContent: true };
    // A Remove's bytes are the artifact it removed: the file in the commit's parent.
    const name = `${row.COMMIT_ID}${row.GATEWAY_INSTRUCTION === "Remove" ? "^" : ""}:${row.PATH}`;
    return { record, artifactJson: await this.#readFile(name, record.sha256) };
  }

  async artifactAtCommit(apiId: string, label: string, commit: string): Promise<StoredArtifact | undefined> {
    const st = this.#st;
    if (st === undefined || !OBJECT_ID.test(commit)) return undefined;
    const last = st.lastSeqOfCommit.get(commit);
    if (last === null || last === undefined) return undefined;
    const row = st.changeAt.get(apiId, label, last);
    if (row === undefined || row.GATEWAY_INSTRUCTION !== "Publish") return undefined;
    const artifactJson = await this.#readFile(`${commit}:${row.PATH}`, row.SHA256);
    const dto = JSON.parse(artifactJson) as Partial<GatewayApiDto>;
    const change = (await this.#inner.changesSince(row.SEQ - 1, [label], 1))[0];
    return {
      apiId,
      label,
      instruction: "Publish",
      artifactJson,
      name: String(dto.name ?? ""),
      version: String(dto.version ?? ""),
      provider: String(dto.provider ?? ""),
      tenantDomain: String(dto.tenantDomain ?? ""),
      revision: row.REVISION,
      sha256: row.SHA256,
      seq: row.SEQ,
      updatedAt: change?.createdAt ?? 0,
    };
  }

  /** A file of the repository whose sha256 the changelog recorded; a repository that lost or changed it is an error. */
  async #readFile(name: string, sha256: string): Promise<string> {
    this.#objects ??= new GitObjects(this.#git);
    const o = await this.#objects.read(name);
    if (o === undefined || o.type !== "blob") {
      throw new GwsyncError(
        "GWSYNC_STORE_FAILED",
        `the Git store's repository ${this.#config.repository} does not hold ${name}, which its changelog records: restore the repository`,
      );
    }
    const text = o.data.toString("utf8");
    if (sha256Hex(text) !== sha256) {
      throw new GwsyncError(
        "GWSYNC_STORE_FAILED",
        `${name} in ${this.#config.repository} is not the artifact the changelog records (sha256 ${sha256})`,
      );
    }
    return text;
  }

  findApiId(name: string, version: string, tenantDomain?: string): Promise<string | undefined> {
    return this.#inner.findApiId(name, version, tenantDomain);
  }

  changesSince(since: number, labels: string[], limit?: number): Promise<ChangeRecord[]> {
    return this.#inner.changesSince(since, labels, limit);
  }

  apisChangedSince(since: number, limit: number): Promise<{ seq: number; apiId: string }[]> {
    return this.#inner.apisChangedSince(since, limit);
  }

  headSeq(): Promise<number> {
    return this.#inner.headSeq();
  }

  hasOriginChange(region: string, originSeq: number): Promise<boolean> {
    return this.#inner.hasOriginChange(region, originSeq);
  }

  claimOutbox(limit: number): Promise<OutboxClaim> {
    return this.#inner.claimOutbox(limit);
  }

  peekOutbox(limit: number, afterId?: number): Promise<OutboxMessage[]> {
    return this.#inner.peekOutbox(limit, afterId);
  }

  outboxDepth(): Promise<number> {
    return this.#inner.outboxDepth();
  }

  onOutboxCommit(listener: () => void): () => void {
    return this.#inner.onOutboxCommit(listener);
  }

  recordHeartbeat(hb: GatewayHeartbeat): Promise<void> {
    return this.#inner.recordHeartbeat(hb);
  }

  listGateways(): Promise<GatewayHeartbeat[]> {
    return this.#inner.listGateways();
  }

  forgetGateway(nodeId: string): Promise<boolean> {
    return this.#inner.forgetGateway(nodeId);
  }

  recordGatewayReports(
    reports: GatewayApiReport[],
    options: { replace: boolean; cursor: GatewayReportCursor },
  ): Promise<void> {
    return this.#inner.recordGatewayReports(reports, options);
  }

  listGatewayReports(filter?: {
    apiId?: string;
    nodeId?: string;
    refused?: boolean;
    limit?: number;
  }): Promise<GatewayApiReport[]> {
    return this.#inner.listGatewayReports(filter);
  }

  listReportCursors(): Promise<GatewayReportCursor[]> {
    return this.#inner.listReportCursors();
  }

  listAgreements(): Promise<AgreementRecord[]> {
    return this.#inner.listAgreements();
  }

  putAgreement(record: AgreementRecord, ifDocument?: string): Promise<boolean> {
    return this.#inner.putAgreement(record, ifDocument);
  }

  /** The SQLite changelog's: one process owns the store, always the leader. */
  leaderLock(name: string): LeaderLock {
    return this.#inner.leaderLock(name);
  }

  deleteAgreement(id: string, role: AgreementRole): Promise<boolean> {
    return this.#inner.deleteAgreement(id, role);
  }

  async health(): Promise<StoreHealth> {
    const t0 = performance.now();
    const inner = await this.#inner.health();
    const base = { engine: this.engine, location: this.location };
    const done = (ok: boolean, detail: string): StoreHealth => ({
      ...base,
      ok,
      latencyMs: performance.now() - t0,
      detail,
    });
    if (!inner.ok) return done(false, `changelog ${this.#inner.file}: ${inner.detail}`);
    if (this.#broken !== undefined) return done(false, this.#broken.message);
    if (this.#readonly) {
      if (!existsSync(path.join(this.#config.repository, "HEAD"))) {
        return done(false, `no repository at ${this.#config.repository} (start the publisher on it first)`);
      }
      return done(true, "ok");
    }
    // Not started yet: start now (create or repair the repository), so /readyz reports what a write would meet.
    try {
      await this.#start();
    } catch (err) {
      return done(false, isGwsyncError(err) ? err.message : String(err));
    }
    // A remote that does not take the branch does not stop publishing (the local repository has it): said, not failed.
    const remote = this.#remote?.status();
    const push =
      remote?.lastError === undefined ? "" : `; remote ${remote.url} is behind: ${remote.lastError}`;
    return done(true, `ok${push}`);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#queue;
    await this.#ready?.catch(() => undefined);
    await this.#remote?.close(CLOSE_PUSH_GRACE_MS);
    await this.#gc;
    this.#objects?.close();
    await this.#inner.close();
  }

  #readonlyError(operation: string): GwsyncError {
    return new GwsyncError(
      "GWSYNC_STORE_FAILED",
      `store ${this.location} is open readonly: ${operation} needs the publisher's writable store`,
      { retryable: false },
    );
  }
}
