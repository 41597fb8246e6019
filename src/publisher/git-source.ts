import { EventEmitter } from "node:events";
import { mkdir, readFile } from "node:fs/promises";
import { extname, join, posix } from "node:path";
import type { GitSourceConfig } from "../config/types.js";
import { isGwsyncError } from "../errors.js";
import { GitCli, parseLsTree, type TreeEntry } from "../git/git-cli.js";
import type { Logger } from "../log.js";
import { nodeAtomicWriteFs, PRIVATE_FILE_MODE, writeFileAtomic } from "../security/safe-write.js";
import { toGatewayApiDto } from "./artifact-input.js";
import type { Publisher } from "./publisher.js";

/** What a poll of the followed branch did. */
export type GitSourceOutcome =
  | { kind: "unchanged"; commit: string }
  | { kind: "applied"; commit: string; from: string | undefined; published: number; unchanged: number; removed: number }
  | { kind: "refused"; commit: string | undefined; reason: string };

/** What `GitSource.events` emits. */
export interface GitSourceEvents {
  outcome: [outcome: GitSourceOutcome];
}

export interface GitSourceOptions {
  config: GitSourceConfig;
  /** The publisher's data_dir: the source keeps its mirror and its state under git-source/. */
  dataDir: string;
  publisher: Publisher;
  logger: Logger;
  /** A refusal by a limit (max_file_bytes, max_files): the alarm metric. */
  onLimit?: (limit: string) => void;
}

/** What the source remembers between polls (and restarts): the commit applied and which API each file holds. */
interface SourceState {
  url: string;
  branch: string;
  folder: string;
  commit: string;
  files: Record<string, string>;
}

const ACCEPTED_EXTENSIONS = new Set([".xml", ".json"]);
/** Regular files only: a symlink (120000) or a submodule (160000) in the folder refuses the commit. */
const REGULAR_MODES = new Set(["100644", "100755"]);
/** A refusal lists at most this many files (the log line stays readable). */
const MAX_REASONS = 20;
const FETCHED_REF = "refs/gwsync/fetched";
const APPLIED_REF = "refs/gwsync/applied";

/**
 * The GitOps form of the plugin hook (`[gwsync.git_source]`): the publisher follows a branch of a
 * repository, and the folder's synapse XML / GatewayAPIDTO JSON files are its APIs. Each new commit
 * is applied as a unit: a file added or changed is published, a file removed undeploys its API (when
 * no other file holds it), and every revision records the commit id.
 *
 * It is the drop folder with history and review, under the same rules: the same parsing and
 * validation (toGatewayApiDto), max_file_bytes, regular files only, and the publisher's signature on
 * every event. Before anything is published the whole commit is checked; a commit that is not a
 * fast-forward of the last applied one (a force-push), a fetch that brings a corrupt object (git
 * fsck), or any file that fails validation refuses the commit with one clear error and nothing is
 * deployed. The source keeps following the branch: the next good commit applies everything since
 * the last applied one.
 */
export class GitSource {
  readonly events: EventEmitter<GitSourceEvents> = new EventEmitter<GitSourceEvents>();
  readonly #o: GitSourceOptions;
  readonly #git: GitCli;
  readonly #dir: string;
  readonly #stateFile: string;
  #state: SourceState | undefined;
  #running: Promise<GitSourceOutcome> | undefined;
  #again = false;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  /** The commit refused last, so a refusal is logged once as an error, not at every poll. */
  #refusedCommit: string | undefined;

  constructor(options: GitSourceOptions) {
    this.#o = options;
    this.#dir = join(options.dataDir, "git-source");
    this.#stateFile = join(this.#dir, "state.json");
    const { username, password } = options.config;
    this.#git = new GitCli({
      gitDir: join(this.#dir, "mirror.git"),
      credentials: username !== undefined && password !== undefined ? { username, password } : undefined,
    });
  }

  /** The commit applied last (undefined before the first). */
  get appliedCommit(): string | undefined {
    return this.#state?.commit;
  }

  /** Prepare the mirror, apply the branch's head, then poll every poll_interval_ms. */
  async start(): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    await this.#git.run(["init", "--bare", "--quiet"]);
    this.#state = await this.#readState();
    await this.poll();
    this.#schedule();
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      void this.poll().finally(() => this.#schedule());
    }, this.#o.config.pollIntervalMs);
    this.#timer.unref();
  }

  /**
   * Fetch the branch and apply what changed (also what `POST /api/v1/git-source/poll`, a webhook's
   * target, calls). One poll at a time: a poll asked for while one runs runs once after it.
   */
  poll(): Promise<GitSourceOutcome> {
    if (this.#running !== undefined) {
      this.#again = true;
      return this.#running;
    }
    const run = async (): Promise<GitSourceOutcome> => {
      let outcome: GitSourceOutcome;
      do {
        this.#again = false;
        outcome = await this.#pollOnce();
      } while (this.#again && !this.#closed);
      return outcome;
    };
    this.#running = run().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #pollOnce(): Promise<GitSourceOutcome> {
    let outcome: GitSourceOutcome;
    try {
      outcome = await this.#apply();
    } catch (err) {
      outcome = { kind: "refused", commit: undefined, reason: (err as Error).message };
    }
    this.#report(outcome);
    this.events.emit("outcome", outcome);
    return outcome;
  }

  #report(o: GitSourceOutcome): void {
    const log = this.#o.logger;
    const { url, branch } = this.#o.config;
    if (o.kind === "refused") {
      const key = o.commit ?? o.reason;
      if (this.#refusedCommit === key) log.debug({ commit: o.commit, reason: o.reason }, "git source: still refused");
      else log.error({ branch, commit: o.commit, reason: o.reason }, "git source: commit refused, nothing deployed");
      this.#refusedCommit = key;
      return;
    }
    this.#refusedCommit = undefined;
    if (o.kind === "applied") {
      log.info(
        { branch, url: url, commit: o.commit, published: o.published, removed: o.removed, unchanged: o.unchanged },
        "git source: commit applied",
      );
    }
  }

  async #apply(): Promise<GitSourceOutcome> {
    const c = this.#o.config;
    // fsck every object the fetch brings: a corrupt commit or tree fails the fetch, before any reading.
    const fetched = await this.#git.exec([
      "-c",
      "fetch.fsckObjects=true",
      "-c",
      "transfer.fsckObjects=true",
      "fetch",
      "--quiet",
      "--no-tags",
      "--force",
      c.url,
      `refs/heads/${c.branch}:${FETCHED_REF}`,
    ]);
    if (fetched.code !== 0) {
      const corrupt = /fsck|corrupt|bad object|did not send all necessary objects|missing/i.test(fetched.stderr);
      return {
        kind: "refused",
        commit: undefined,
        reason: corrupt
          ? `branch ${c.branch} holds a corrupt commit (git refused what the repository sent: ${lastLine(fetched.stderr)})`
          : `cannot fetch branch ${c.branch}: ${lastLine(fetched.stderr)}`,
      };
    }
    const head = await this.#git.text(["rev-parse", "--verify", `${FETCHED_REF}^{commit}`]);
    const state = this.#state !== undefined && this.#sameSource(this.#state) ? this.#state : undefined;
    if (state?.commit === head) return { kind: "unchanged", commit: head };
    if (state !== undefined) {
      const ff = await this.#git.isAncestor(state.commit, head);
      if (ff !== true) {
        return {
          kind: "refused",
          commit: head,
          reason:
            ff === false
              ? `branch ${c.branch} was force-pushed: ${head} does not descend from ${state.commit}, the commit applied last; nothing deployed (push a commit on top of ${state.commit.slice(0, 12)}, or restore the branch)`
              : `the commit applied last, ${state.commit}, is no longer in the mirror; nothing deployed`,
        };
      }
    }
    const plan = await this.#plan(head, state);
    if (plan.problems.length > 0) {
      const shown = plan.problems.slice(0, MAX_REASONS).join("; ");
      const more = plan.problems.length > MAX_REASONS ? ` (and ${plan.problems.length - MAX_REASONS} more)` : "";
      return {
        kind: "refused",
        commit: head,
        reason: `commit ${head} of ${c.branch} refused, nothing deployed: ${shown}${more}`,
      };
    }
    let published = 0;
    let unchanged = 0;
    let removed = 0;
    const opts = { sourceCommit: head };
    try {
      for (const p of plan.publish) {
        const r = await this.#o.publisher.deployApi(p.text, c.labels, opts);
        if (r.changed) published++;
        else unchanged++;
      }
      for (const apiId of plan.remove) {
        try {
          const r = await this.#o.publisher.removeApi(apiId, c.labels, opts);
          if (r.changed) removed++;
        } catch (err) {
          // Already gone from these labels (removed by hand): nothing to undo.
          if (!(isGwsyncError(err) && err.code === "GWSYNC_NOT_FOUND")) throw err;
        }
      }
    } catch (err) {
      // The commit is applied again from the last one at the next poll; what was saved is unchanged then.
      return {
        kind: "refused",
        commit: head,
        reason: `commit ${head} of ${c.branch} could not be applied whole (${published} published so far; retried at the next poll): ${(err as Error).message}`,
      };
    }
    const next: SourceState = { url: c.url, branch: c.branch, folder: c.folder, commit: head, files: plan.files };
    await this.#git.run(["update-ref", APPLIED_REF, head]);
    await this.#writeState(next);
    this.#state = next;
    return { kind: "applied", commit: head, from: state?.commit, published, unchanged, removed };
  }

  /** What applying `head` means: files to publish, APIs to remove, or the problems that refuse it. */
  async #plan(head: string, state: SourceState | undefined) {
    const c = this.#o.config;
    const problems: string[] = [];
    const entries = await this.#listFolder(head);
    const artifacts = entries.filter((e) => {
      const name = posix.basename(e.path);
      return !name.startsWith(".") && ACCEPTED_EXTENSIONS.has(extname(name).toLowerCase());
    });
    if (artifacts.length > c.maxFiles) {
      this.#o.onLimit?.("git_source.max_files");
      problems.push(`the folder holds ${artifacts.length} artifact files, over max_files (${c.maxFiles})`);
      return { problems, publish: [], remove: [], files: {} };
    }
    const previousBlobs = state === undefined ? new Map<string, string>() : await this.#blobsAt(state.commit);
    const changed: TreeEntry[] = [];
    const files: Record<string, string> = {};
    for (const e of artifacts) {
      if (e.type !== "blob" || !REGULAR_MODES.has(e.mode)) {
        problems.push(
          `${e.path} is ${e.mode === "120000" ? "a symbolic link" : e.type === "commit" ? "a submodule" : `not a regular file (mode ${e.mode})`}`,
        );
        continue;
      }
      if ((e.size ?? 0) > c.maxFileBytes) {
        this.#o.onLimit?.("git_source.max_file_bytes");
        problems.push(`${e.path} is ${e.size} bytes, over the ${c.maxFileBytes}-byte limit (max_file_bytes)`);
        continue;
      }
      const known = state?.files[e.path];
      if (known !== undefined && previousBlobs.get(e.path) === e.id) files[e.path] = known;
      else changed.push(e);
    }
    const blobs = await this.#git.readBlobs(changed.map((e) => e.id));
    const publish: { path: string; text: string; apiId: string }[] = [];
    for (const e of changed) {
      const text = blobs.get(e.id)!.toString("utf8");
      try {
        // The same parsing and validation as the drop folder and the REST API.
        const dto = toGatewayApiDto(text);
        files[e.path] = dto.apiId;
        publish.push({ path: e.path, text, apiId: dto.apiId });
      } catch (err) {
        problems.push(`${e.path}: ${(err as Error).message}`);
      }
    }
    // One API, one file: two files holding one API would fight over it at every commit.
    const holder = new Map<string, string>();
    for (const [path, apiId] of Object.entries(files)) {
      const other = holder.get(apiId);
      if (other !== undefined) problems.push(`${other} and ${path} both hold API ${apiId}; keep one`);
      holder.set(apiId, path);
    }
    const remove = new Set<string>();
    for (const apiId of Object.values(state?.files ?? {})) if (!holder.has(apiId)) remove.add(apiId);
    return { problems, publish, remove: [...remove], files };
  }

  /** The folder's direct entries at `commit` (subfolders are not followed, as in the drop folder). */
  async #listFolder(commit: string): Promise<TreeEntry[]> {
    const folder = this.#o.config.folder;
    const args = ["ls-tree", "-l", "-z", "--full-tree", commit];
    if (folder !== "") args.push("--", `${folder}/`);
    const entries = parseLsTree(await this.#git.run(args));
    return entries.filter((e) => e.type !== "tree");
  }

  async #blobsAt(commit: string): Promise<Map<string, string>> {
    return new Map((await this.#listFolder(commit)).map((e) => [e.path, e.id]));
  }

  #sameSource(s: SourceState): boolean {
    const c = this.#o.config;
    return s.url === c.url && s.branch === c.branch && s.folder === c.folder;
  }

  async #readState(): Promise<SourceState | undefined> {
    let text: string;
    try {
      text = await readFile(this.#stateFile, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    try {
      const s = JSON.parse(text) as SourceState;
      if (typeof s.commit !== "string" || typeof s.files !== "object" || s.files === null) throw new Error("fields");
      if (!this.#sameSource(s)) {
        this.#o.logger.warn(
          { was: `${s.url} ${s.branch} ${s.folder}` },
          "git source: the configuration names another repository, branch or folder; starting from its head (APIs only the old one held stay published)",
        );
      }
      return s;
    } catch {
      this.#o.logger.warn({ file: this.#stateFile }, "git source: unreadable state file; applying the branch's head as new");
      return undefined;
    }
  }

  async #writeState(s: SourceState): Promise<void> {
    await writeFileAtomic(nodeAtomicWriteFs, this.#stateFile, `${JSON.stringify(s)}\n`, {
      mode: PRIVATE_FILE_MODE,
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    await this.#running?.catch(() => undefined);
  }
}

function lastLine(text: string): string {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  return (lines.at(-1) ?? "no message").trim();
}
