import type { GitCli } from "../../git/git-cli.js";
import type { Logger } from "../../log.js";
import { maskUrl } from "../../security/secrets.js";

/** The longest wait between two pushes that failed. */
const MAX_RETRY_MS = 5 * 60 * 1000;

export interface RemotePushOptions {
  /** A repository handle whose environment carries the remote's credentials. */
  git: GitCli;
  url: string;
  branch: string;
  retryMs: number;
  logger: Logger;
  /** The commit the store recorded last: what the remote should get (never an unrecorded commit). */
  head: () => string | undefined;
  /** After each push the remote took, and each that failed. */
  onPushed?: (commit: string) => void;
  onFailed?: (reason: string) => void;
}

/** What `health()` and `gwsync status` say about the remote. */
export interface RemoteStatus {
  url: string;
  /** The last commit the remote accepted from this process. */
  pushed: string | undefined;
  /** Whether the remote is behind the store's head. */
  behind: boolean;
  lastError: string | undefined;
}

/**
 * Pushes the Git store's branch to its remote after each commit, in the background: a save never waits
 * for the network, and a remote that is down only delays the copy (retried with a doubling wait from
 * `push_retry_ms` up to 5 minutes). It pushes the commit the store recorded, by id, so a commit whose
 * SQLite transaction did not commit never leaves the host. It never forces: a remote branch with
 * commits the store does not know is reported and left alone.
 */
export class RemotePush {
  readonly #o: RemotePushOptions;
  #pushed: string | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #timer: NodeJS.Timeout | undefined;
  #failures = 0;
  #lastError: string | undefined;
  #closed = false;

  constructor(o: RemotePushOptions) {
    this.#o = o;
  }

  /** Push the head when the remote does not have it (now, or after the pending retry wait). */
  wake(): void {
    if (this.#closed) return;
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    if (this.#timer !== undefined) return;
    this.#running = this.#run().finally(() => {
      this.#running = undefined;
      if (this.#again) {
        this.#again = false;
        this.wake();
      }
    });
  }

  status(): RemoteStatus {
    const head = this.#o.head();
    return {
      url: maskUrl(this.#o.url),
      pushed: this.#pushed,
      behind: head !== undefined && head !== this.#pushed,
      lastError: this.#lastError,
    };
  }

  /** Stop; with `graceMs`, first wait that long at most for a push in flight or one more attempt. */
  async close(graceMs = 0): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (graceMs > 0 && !this.#closed) {
      if (this.#running === undefined && this.status().behind) this.wake();
      const running = this.#running;
      if (running !== undefined) {
        let t: NodeJS.Timeout | undefined;
        await Promise.race([running, new Promise<void>((r) => (t = setTimeout(r, graceMs)))]);
        clearTimeout(t);
      }
    }
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  async #run(): Promise<void> {
    for (;;) {
      const head = this.#o.head();
      if (head === undefined || head === this.#pushed || this.#closed) return;
      const r = await this.#o.git
        .exec(["push", "--porcelain", "--quiet", this.#o.url, `${head}:refs/heads/${this.#o.branch}`])
        .catch((err: Error) => ({ code: -1, stdout: Buffer.alloc(0), stderr: err.message }));
      if (r.code === 0) {
        if (this.#lastError !== undefined)
          this.#o.logger.info({ commit: head }, "git store: the remote has the branch again");
        this.#pushed = head;
        this.#failures = 0;
        this.#lastError = undefined;
        this.#o.onPushed?.(head);
        continue;
      }
      const out = `${r.stdout.toString("utf8")}\n${r.stderr}`;
      const diverged = /non-fast-forward|fetch first|\[rejected\]/.test(out);
      const reason = diverged
        ? `the remote branch ${this.#o.branch} has commits this store does not know (gwsync never forces a push): make the remote's branch an ancestor of ${head} again`
        : maskUrl(r.stderr || `git push exited ${r.code}`).slice(0, 500);
      if (reason !== this.#lastError) {
        this.#o.logger.warn(
          { remote: maskUrl(this.#o.url), commit: head, reason },
          "git store: push to the remote failed",
        );
      }
      this.#lastError = reason;
      this.#failures++;
      this.#o.onFailed?.(reason);
      const wait = Math.min(MAX_RETRY_MS, this.#o.retryMs * 2 ** Math.min(20, this.#failures - 1));
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.wake();
      }, wait);
      this.#timer.unref();
      return;
    }
  }
}
