import { execFile, spawn } from "node:child_process";
import { DEFAULT_GIT_TIMEOUT_MS } from "../config/defaults.js";
import { GwsyncError } from "../errors.js";
import { maskUrl } from "../security/secrets.js";
import { GitPipe } from "./git-pipe.js";

/**
 * gwsync talks to Git through the git command line (docs/architecture.md#git): every transport and
 * credential form git has (https, ssh, file, credential helpers), fsck of what a fetch brings, and the
 * same repository format any operator's tools read. No shell is involved: arguments go to git as a list.
 */

/** HTTP Basic credentials for a remote, handed to git through its environment, never its argv. */
export interface GitCredentials {
  username: string;
  password: string;
}

export interface GitOptions {
  /** The repository (its .git folder, or a bare repository). */
  gitDir: string;
  credentials?: GitCredentials | undefined;
  timeoutMs?: number;
}

export interface GitResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** Largest output one git command may return (a listing of a very large tree). */
const MAX_OUTPUT_BYTES = 256 * 1024 * 1024;

/** The environment of every git command: no prompt, no user or system configuration, stable messages. */
function gitEnv(credentials: GitCredentials | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LC_ALL: "C",
    GIT_TERMINAL_PROMPT: "0",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_SSH_COMMAND: process.env.GIT_SSH_COMMAND ?? "ssh -o BatchMode=yes",
    // Transports that run a command (ext::) or are unknown are refused, whatever a URL says.
    GIT_ALLOW_PROTOCOL: "file:git:http:https:ssh",
    // Identity of the commits a Git store makes (the message names the API and origin).
    GIT_AUTHOR_NAME: "gwsync",
    GIT_AUTHOR_EMAIL: "gwsync@localhost",
    GIT_COMMITTER_NAME: "gwsync",
    GIT_COMMITTER_EMAIL: "gwsync@localhost",
  };
  if (credentials !== undefined) {
    // GIT_CONFIG_COUNT passes configuration without argv (ps shows argv to every user of the host).
    const basic = Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64");
    env.GIT_CONFIG_COUNT = "1";
    env.GIT_CONFIG_KEY_0 = "http.extraHeader";
    env.GIT_CONFIG_VALUE_0 = `Authorization: Basic ${basic}`;
  }
  return env;
}

/** One repository, driven by the git command line. */
export class GitCli {
  readonly gitDir: string;
  readonly #env: NodeJS.ProcessEnv;
  readonly #timeoutMs: number;

  constructor(o: GitOptions) {
    this.gitDir = o.gitDir;
    this.#env = gitEnv(o.credentials);
    this.#timeoutMs = o.timeoutMs ?? DEFAULT_GIT_TIMEOUT_MS;
  }

  /** A long-running `git ARGS` fed requests on stdin (src/git/git-pipe.ts), with this repository's environment. */
  pipe(args: readonly string[]): GitPipe {
    return new GitPipe({ gitDir: this.gitDir, args, env: this.#env, timeoutMs: this.#timeoutMs });
  }

  /** Run `git ARGS`; a non-zero exit is returned, not thrown (callers tell "no" from "broken"). */
  exec(args: readonly string[], input?: Buffer | string): Promise<GitResult> {
    return new Promise((resolve, reject) => {
      const child = execFile(
        "git",
        [`--git-dir=${this.gitDir}`, ...args],
        {
          env: this.#env,
          encoding: "buffer",
          maxBuffer: MAX_OUTPUT_BYTES,
          timeout: this.#timeoutMs,
          windowsHide: true,
        },
        (err, stdout, stderr) => {
          const text = maskUrl(stderr.toString("utf8")).trim();
          if (err && typeof (err as NodeJS.ErrnoException).code === "string") {
            const code = (err as NodeJS.ErrnoException).code;
            reject(
              new GwsyncError(
                "GWSYNC_STORE_FAILED",
                code === "ENOENT"
                  ? "the git command is not installed (gwsync's Git support runs git; install it, e.g. apt-get install git)"
                  : `git ${args[0]} failed (${code}): ${text}`,
                { cause: err, retryable: code !== "ENOENT" },
              ),
            );
            return;
          }
          if (err && (err as { killed?: boolean }).killed) {
            reject(
              new GwsyncError("GWSYNC_STORE_FAILED", `git ${args[0]} did not finish within ${this.#timeoutMs} ms`, {
                cause: err,
              }),
            );
            return;
          }
          resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr: text });
        },
      );
      if (input !== undefined) child.stdin?.end(input);
    });
  }

  /** Run `git ARGS` and return its stdout; a non-zero exit is GWSYNC_STORE_FAILED with git's message. */
  async run(args: readonly string[], input?: Buffer | string): Promise<Buffer> {
    const r = await this.exec(args, input);
    if (r.code !== 0) {
      throw new GwsyncError("GWSYNC_STORE_FAILED", `git ${args.join(" ").slice(0, 200)}: ${r.stderr || `exit ${r.code}`}`, {
        details: { exitCode: r.code },
      });
    }
    return r.stdout;
  }

  /** `run`, trimmed text. */
  async text(args: readonly string[], input?: Buffer | string): Promise<string> {
    return (await this.run(args, input)).toString("utf8").trim();
  }

  /** Whether `ancestor` is `descendant` or one of its ancestors; undefined when either is not in the repository. */
  async isAncestor(ancestor: string, descendant: string): Promise<boolean | undefined> {
    const r = await this.exec(["merge-base", "--is-ancestor", ancestor, descendant]);
    if (r.code === 0) return true;
    if (r.code === 1) return false;
    return undefined;
  }

  /** The contents of many blobs at once (`git cat-file --batch`), by object id. */
  async readBlobs(ids: readonly string[]): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    if (ids.length === 0) return out;
    const raw = await this.#batch(`${ids.join("\n")}\n`);
    let at = 0;
    while (at < raw.length) {
      const nl = raw.indexOf(10, at);
      const header = raw.subarray(at, nl).toString("utf8");
      const [id, type, size] = header.split(" ");
      if (type === "missing" || id === undefined || size === undefined) {
        throw new GwsyncError("GWSYNC_STORE_FAILED", `git object ${id ?? "?"} is missing from ${this.gitDir}`);
      }
      const n = Number(size);
      out.set(id, raw.subarray(nl + 1, nl + 1 + n));
      at = nl + 1 + n + 1;
    }
    return out;
  }

  #batch(input: string): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const child = spawn("git", [`--git-dir=${this.gitDir}`, "cat-file", "--batch"], {
        env: this.#env,
        stdio: ["pipe", "pipe", "pipe"],
        timeout: this.#timeoutMs,
      });
      const chunks: Buffer[] = [];
      let err = "";
      child.stdout.on("data", (d: Buffer) => chunks.push(d));
      child.stderr.on("data", (d: Buffer) => {
        err += d.toString("utf8");
      });
      child.on("error", reject);
      child.on("close", (code) =>
        code === 0
          ? resolve(Buffer.concat(chunks))
          : reject(new GwsyncError("GWSYNC_STORE_FAILED", `git cat-file --batch: ${err.trim() || `exit ${code}`}`)),
      );
      child.stdin.end(input);
    });
  }
}

/** One entry of a tree listing (`git ls-tree -r -l -z`). */
export interface TreeEntry {
  mode: string;
  type: string;
  id: string;
  /** Bytes of a blob; undefined for other objects. */
  size: number | undefined;
  path: string;
}

/** Parse `git ls-tree -r -l -z` output. */
export function parseLsTree(out: Buffer): TreeEntry[] {
  const entries: TreeEntry[] = [];
  for (const rec of out.toString("utf8").split("\0")) {
    if (rec === "") continue;
    const tab = rec.indexOf("\t");
    const [mode, type, id, size] = rec.slice(0, tab).split(/ +/);
    entries.push({
      mode: mode!,
      type: type!,
      id: id!,
      size: size === undefined || size === "-" ? undefined : Number(size),
      path: rec.slice(tab + 1),
    });
  }
  return entries;
}
