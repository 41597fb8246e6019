import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { GwsyncError } from "../errors.js";
import { maskUrl } from "../security/secrets.js";

/**
 * One long-running git command fed requests on stdin (`cat-file --batch`, `mktree --batch`,
 * `hash-object --stdin-paths`, `update-ref --stdin`): a request costs a pipe round trip instead of a
 * process start (1-2 ms on a quiet machine, 20 ms on a loaded one). Requests run one at a time, in
 * order. A command that exits (git refused a request: `update-ref` dies on a failed compare-and-swap)
 * fails the request in flight and the ones queued behind it; the next request starts it again.
 */

/** Reads one reply from the front of `buf`: the value and the bytes it took, or undefined while incomplete. */
export type ReplyParser<T> = (buf: Buffer) => { value: T; consumed: number } | undefined;

export interface GitPipeOptions {
  gitDir: string;
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  /** A request not answered within this time ends the command and fails. */
  timeoutMs: number;
}

interface Pending {
  input: Buffer | string;
  parse: ReplyParser<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

export class GitPipe {
  readonly #o: GitPipeOptions;
  #child: ChildProcessWithoutNullStreams | undefined;
  #buf: Buffer = Buffer.alloc(0);
  #stderr = "";
  readonly #queue: Pending[] = [];
  #current: Pending | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(o: GitPipeOptions) {
    this.#o = o;
  }

  /** Send `input` and wait for the reply `parse` reads. */
  request<T>(input: Buffer | string, parse: ReplyParser<T>): Promise<T> {
    if (this.#closed) {
      return Promise.reject(new GwsyncError("GWSYNC_STORE_FAILED", `git ${this.#o.args[0]}: closed`));
    }
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ input, parse, resolve: resolve as (v: unknown) => void, reject });
      this.#next();
    });
  }

  /** A reply of exactly one line (without its newline). */
  line(input: Buffer | string): Promise<string> {
    return this.request(input, lineParser(1)).then((lines) => lines[0]!);
  }

  /** End the command (its stdin closes; git exits on EOF). Requests still queued fail. */
  close(): void {
    this.#closed = true;
    this.#fail(new GwsyncError("GWSYNC_STORE_FAILED", `git ${this.#o.args[0]}: closed`));
  }

  #next(): void {
    if (this.#current !== undefined) return;
    const p = this.#queue.shift();
    if (p === undefined) return;
    this.#current = p;
    let child: ChildProcessWithoutNullStreams;
    try {
      child = this.#spawn();
    } catch (err) {
      this.#current = undefined;
      p.reject(err as Error);
      this.#next();
      return;
    }
    this.#timer = setTimeout(() => {
      this.#fail(
        new GwsyncError(
          "GWSYNC_STORE_FAILED",
          `git ${this.#o.args[0]} did not answer within ${this.#o.timeoutMs} ms`,
        ),
      );
    }, this.#o.timeoutMs);
    child.stdin.write(p.input);
    this.#drain();
  }

  #spawn(): ChildProcessWithoutNullStreams {
    if (this.#child !== undefined) return this.#child;
    const child = spawn("git", [`--git-dir=${this.#o.gitDir}`, ...this.#o.args], {
      env: this.#o.env,
      stdio: ["pipe", "pipe", "pipe"],
      windowsHide: true,
    });
    this.#child = child;
    this.#buf = Buffer.alloc(0);
    this.#stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      if (this.#child !== child) return;
      this.#buf = this.#buf.length === 0 ? d : Buffer.concat([this.#buf, d]);
      this.#drain();
    });
    child.stderr.on("data", (d: Buffer) => {
      if (this.#child === child && this.#stderr.length < 4096) this.#stderr += d.toString("utf8");
    });
    // A write to a command that already died: the exit below reports it.
    child.stdin.on("error", () => undefined);
    child.on("error", (err: NodeJS.ErrnoException) => {
      if (this.#child !== child) return;
      this.#fail(
        new GwsyncError(
          "GWSYNC_STORE_FAILED",
          err.code === "ENOENT"
            ? "the git command is not installed (gwsync's Git support runs git; install it, e.g. apt-get install git)"
            : `git ${this.#o.args[0]} failed: ${err.message}`,
          { cause: err, retryable: err.code !== "ENOENT" },
        ),
      );
    });
    child.on("close", (code, signal) => {
      if (this.#child !== child) return;
      const why = maskUrl(this.#stderr).trim() || `exit ${code ?? signal}`;
      this.#fail(new GwsyncError("GWSYNC_STORE_FAILED", `git ${this.#o.args[0]}: ${why}`));
    });
    return child;
  }

  #drain(): void {
    const p = this.#current;
    if (p === undefined || this.#buf.length === 0) return;
    let reply: { value: unknown; consumed: number } | undefined;
    try {
      reply = p.parse(this.#buf);
    } catch (err) {
      this.#fail(err as Error);
      return;
    }
    if (reply === undefined) return;
    this.#buf = this.#buf.subarray(reply.consumed);
    clearTimeout(this.#timer);
    this.#current = undefined;
    p.resolve(reply.value);
    this.#next();
  }

  /** End the command and fail the request in flight and every queued one. */
  #fail(err: Error): void {
    clearTimeout(this.#timer);
    const child = this.#child;
    this.#child = undefined;
    if (child !== undefined && child.exitCode === null) {
      child.stdin.end();
      child.kill();
    }
    const failed = [...(this.#current ? [this.#current] : []), ...this.#queue.splice(0)];
    this.#current = undefined;
    for (const p of failed) p.reject(err);
  }
}

/** A parser of `n` newline-terminated lines. */
export function lineParser(n: number): ReplyParser<string[]> {
  return (buf) => {
    const lines: string[] = [];
    let at = 0;
    while (lines.length < n) {
      const nl = buf.indexOf(10, at);
      if (nl < 0) return undefined;
      lines.push(buf.subarray(at, nl).toString("utf8"));
      at = nl + 1;
    }
    return { value: lines, consumed: at };
  };
}

/** One object as `git cat-file --batch` answers: undefined when the repository does not hold it. */
export interface BatchObject {
  id: string;
  type: string;
  data: Buffer;
}

/** The reply of `git cat-file --batch` to one name: `<id> <type> <size>\n<data>\n`, or `<name> missing\n`. */
export const catFileParser: ReplyParser<BatchObject | undefined> = (buf) => {
  const nl = buf.indexOf(10);
  if (nl < 0) return undefined;
  const header = buf.subarray(0, nl).toString("utf8");
  const parts = header.split(" ");
  if (parts.length === 2 && (parts[1] === "missing" || parts[1] === "ambiguous")) {
    return { value: undefined, consumed: nl + 1 };
  }
  const [id, type, sizeText] = parts;
  const size = Number(sizeText);
  if (id === undefined || type === undefined || !Number.isSafeInteger(size)) {
    throw new GwsyncError("GWSYNC_STORE_FAILED", `git cat-file --batch answered ${JSON.stringify(header)}`);
  }
  const end = nl + 1 + size;
  if (buf.length < end + 1) return undefined;
  return { value: { id, type, data: Buffer.from(buf.subarray(nl + 1, end)) }, consumed: end + 1 };
};
