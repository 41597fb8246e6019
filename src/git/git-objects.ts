import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GwsyncError } from "../errors.js";
import type { GitCli } from "./git-cli.js";
import { type BatchObject, catFileParser, type GitPipe, lineParser } from "./git-pipe.js";

/** An object id as git 2.x prints it (SHA-1; SHA-256 repositories have 64 digits). */
export const OBJECT_ID = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/** One entry of a tree to write. Names hold no NUL or "/" (git refuses them). */
export interface TreeItem {
  mode: string;
  type: "blob" | "tree" | "commit";
  id: string;
  name: string;
}

/** A commit to write; times in milliseconds since epoch (git keeps seconds). */
export interface CommitInput {
  tree: string;
  parents: readonly string[];
  name: string;
  email: string;
  timeMs: number;
  message: string;
}

function checkId(id: string, what: string): string {
  if (!OBJECT_ID.test(id))
    throw new GwsyncError("GWSYNC_STORE_FAILED", `git answered ${JSON.stringify(id)} for ${what}`);
  return id;
}

/**
 * Writes and reads objects of one repository through long-running git commands (src/git/git-pipe.ts):
 * blobs and commits through `git hash-object -w --stdin-paths` (git checks a commit's format as it
 * writes it), trees through `git mktree -z --batch`, the branch through `git update-ref --stdin` as a
 * compare-and-swap, reads through `git cat-file --batch`. Nothing is written into a work tree: the
 * repository may be bare.
 */
export class GitObjects {
  readonly #git: GitCli;
  readonly #tmp: string;
  readonly #blobs: GitPipe;
  readonly #commits: GitPipe;
  readonly #trees: GitPipe;
  readonly #refs: GitPipe;
  readonly #reader: GitPipe;
  #n = 0;

  #tmpReady = false;

  constructor(git: GitCli) {
    this.#git = git;
    this.#tmp = join(git.gitDir, "gwsync-tmp");
    this.#blobs = git.pipe(["hash-object", "-w", "--no-filters", "--stdin-paths"]);
    this.#commits = git.pipe(["hash-object", "-w", "-t", "commit", "--stdin-paths"]);
    this.#trees = git.pipe(["mktree", "-z", "--batch"]);
    this.#refs = git.pipe(["update-ref", "--stdin"]);
    this.#reader = git.pipe(["cat-file", "--batch"]);
  }

  get gitDir(): string {
    return this.#git.gitDir;
  }

  /** Remove what a killed writer left in the temporary folder (the one writer, at its start). */
  clearTemp(): void {
    rmSync(this.#tmp, { recursive: true, force: true });
    this.#tmpReady = false;
  }

  /** Write `data` as a blob; its id. */
  writeBlob(data: Buffer | string): Promise<string> {
    return this.#hashFile(this.#blobs, data, "a blob");
  }

  /** Write a tree of these entries (any order: git sorts them); its id. */
  async writeTree(items: readonly TreeItem[]): Promise<string> {
    const parts: string[] = [];
    for (const e of items) {
      if (e.name === "" || e.name.includes("\0") || e.name.includes("/")) {
        throw new GwsyncError(
          "GWSYNC_STORE_FAILED",
          `cannot write a tree entry named ${JSON.stringify(e.name)}`,
        );
      }
      parts.push(`${e.mode} ${e.type} ${e.id}\t${e.name}\0`);
    }
    // -z --batch: entries end with NUL, an empty entry ends the tree.
    const id = await this.#trees.line(`${parts.join("")}\0`);
    return checkId(id, "a tree");
  }

  /** Write a commit object; its id. */
  writeCommit(c: CommitInput): Promise<string> {
    const seconds = Math.floor(c.timeMs / 1000);
    const who = `${c.name} <${c.email}> ${seconds} +0000`;
    const text = [
      `tree ${c.tree}`,
      ...c.parents.map((p) => `parent ${p}`),
      `author ${who}`,
      `committer ${who}`,
      "",
      c.message.endsWith("\n") ? c.message : `${c.message}\n`,
    ].join("\n");
    return this.#hashFile(this.#commits, text, "a commit");
  }

  /**
   * Point `ref` at `to` if it points at `from` now (undefined: the ref must not exist), in one
   * transaction; fails (GWSYNC_STORE_FAILED) when someone else moved it.
   */
  async updateRef(ref: string, to: string, from: string | undefined): Promise<void> {
    const zero = "0".repeat(to.length);
    const lines = await this.#refs.request(
      `start\nupdate ${ref} ${to} ${from ?? zero}\nprepare\ncommit\n`,
      lineParser(3),
    );
    if (lines.join("\n") !== "start: ok\nprepare: ok\ncommit: ok") {
      throw new GwsyncError("GWSYNC_STORE_FAILED", `git update-ref ${ref}: ${lines.join("; ")}`);
    }
  }

  /** An object by id or name (`<commit>:<path>`), undefined when the repository does not hold it. */
  read(name: string): Promise<BatchObject | undefined> {
    if (name.includes("\n")) return Promise.resolve(undefined);
    return this.#reader.request(`${name}\n`, catFileParser);
  }

  /** The entries of a tree (one level), or undefined when `name` is no tree. */
  async readTree(name: string): Promise<TreeItem[] | undefined> {
    const o = await this.read(name);
    if (o === undefined || o.type !== "tree") return undefined;
    return parseTree(o.data);
  }

  close(): void {
    for (const p of [this.#blobs, this.#commits, this.#trees, this.#refs, this.#reader]) p.close();
  }

  async #hashFile(pipe: GitPipe, data: Buffer | string, what: string): Promise<string> {
    if (!this.#tmpReady) {
      mkdirSync(this.#tmp, { recursive: true });
      this.#tmpReady = true;
    }
    const file = join(this.#tmp, `${process.pid}-${++this.#n}-${randomBytes(4).toString("hex")}`);
    writeFileSync(file, data);
    try {
      return checkId(await pipe.line(`${file}\n`), what);
    } finally {
      try {
        unlinkSync(file);
      } catch {
        // Removed at the next start.
      }
    }
  }
}

/** Parse a raw tree object: `<mode> <name>\0<20 or 32 byte id>` entries. */
export function parseTree(data: Buffer): TreeItem[] {
  const items: TreeItem[] = [];
  // SHA-1 repositories: 20-byte ids (gwsync makes SHA-1 repositories; git's default).
  const idBytes = 20;
  let at = 0;
  while (at < data.length) {
    const sp = data.indexOf(32, at);
    const nul = data.indexOf(0, sp);
    if (sp < 0 || nul < 0)
      throw new GwsyncError("GWSYNC_STORE_FAILED", "a tree object git returned is truncated");
    const mode = data.subarray(at, sp).toString("latin1");
    const name = data.subarray(sp + 1, nul).toString("utf8");
    const id = data.subarray(nul + 1, nul + 1 + idBytes).toString("hex");
    const type = mode === "40000" ? "tree" : mode === "160000" ? "commit" : "blob";
    items.push({ mode: mode === "40000" ? "040000" : mode, type, id, name });
    at = nul + 1 + idBytes;
  }
  return items;
}
