import fs from "node:fs";
import path from "node:path";
import { fsErrorCode, GwsyncError } from "../../errors.js";
import { ensureDir, STATE_FILE_MODE, writeStateFile } from "./state-io.js";

/** Upper bound on how long an applied entry waits in memory before it is written and fsync'd. */
export const DEFAULT_JOURNAL_FLUSH_INTERVAL_MS = 50;

/** After a failed background flush (disk full), wait this long before trying again. */
export const JOURNAL_RETRY_DELAY_MS = 1000;

export interface JournalOptions {
  flushIntervalMs?: number;
  /** Where a failed background flush is reported (the lines stay queued and are retried). */
  onError?: (err: GwsyncError) => void;
}

/**
 * An append-only file of JSON lines, written in batches: one write and one fsync per batch keeps the
 * hot path at a string push (tens of thousands of events a second on one core).
 */
export class Journal {
  readonly file: string;
  readonly #flushIntervalMs: number;
  readonly #onError: ((err: GwsyncError) => void) | undefined;
  #fd: number | undefined;
  #pending: string[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** A failed write may have left half a line: start the next write on a fresh line. */
  #needsNewline = false;
  #lines = 0;

  constructor(file: string, options: JournalOptions = {}) {
    this.file = file;
    this.#flushIntervalMs = options.flushIntervalMs ?? DEFAULT_JOURNAL_FLUSH_INTERVAL_MS;
    this.#onError = options.onError;
  }

  /** Reads every line written so far (a torn last line after a crash comes back as text to skip). */
  readLines(): string[] {
    let text: string;
    try {
      text = fs.readFileSync(this.file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw new GwsyncError(fsErrorCode(err), `cannot read journal ${this.file}: check its rights`, {
        cause: err,
      });
    }
    const lines = text.split("\n");
    if (lines[lines.length - 1] === "") lines.pop();
    this.#lines = lines.length;
    return lines;
  }

  /** Lines in the file, written or queued, since the last rewrite. */
  lineCount(): number {
    return this.#lines;
  }

  append(line: string): void {
    this.#pending.push(line);
    this.#lines++;
    if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.#backgroundFlush(), this.#flushIntervalMs);
      this.#timer.unref();
    }
  }

  /**
   * Writes and fsyncs every queued line; throws a GwsyncError (retryable) when the disk refuses. The
   * background timer stays armed (it finds nothing queued, or what was appended since): the gateway
   * flushes once per group of deliveries (~15 in B4), and a new setTimeout per group was ~55 ms of the
   * 1.5 s a gateway's profile spent in the pipeline over B4's 15,000 revocations (issue 19).
   */
  flush(): void {
    if (this.#pending.length === 0) return;
    const text = (this.#needsNewline ? "\n" : "") + this.#pending.join("\n") + "\n";
    try {
      const fd = this.#open();
      fs.writeSync(fd, text);
      fs.fsyncSync(fd);
    } catch (err) {
      this.#needsNewline = true;
      throw new GwsyncError(
        fsErrorCode(err),
        `cannot write journal ${this.file}: check free space and rights`,
        {
          cause: err,
        },
      );
    }
    this.#needsNewline = false;
    this.#pending = [];
  }

  /** Replaces the whole file atomically with `lines` (compaction); queued lines are dropped with it. */
  rewrite(lines: string[]): void {
    this.#clearTimer();
    this.#closeFd();
    ensureDir(path.dirname(this.file));
    writeStateFile(this.file, lines.length === 0 ? "" : lines.join("\n") + "\n");
    this.#pending = [];
    this.#needsNewline = false;
    this.#lines = lines.length;
  }

  close(): void {
    try {
      this.flush();
    } finally {
      this.#clearTimer();
      this.#closeFd();
    }
  }

  #open(): number {
    if (this.#fd === undefined) {
      ensureDir(path.dirname(this.file));
      this.#fd = fs.openSync(this.file, "a", STATE_FILE_MODE);
    }
    return this.#fd;
  }

  #closeFd(): void {
    if (this.#fd !== undefined) {
      fs.closeSync(this.#fd);
      this.#fd = undefined;
    }
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #backgroundFlush(): void {
    this.#timer = undefined;
    if (this.#pending.length === 0) return;
    try {
      this.flush();
    } catch (err) {
      this.#onError?.(err as GwsyncError);
      // Keep the lines and try again later; an explicit flush() retries at once.
      if (this.#timer === undefined && this.#pending.length > 0) {
        this.#timer = setTimeout(() => this.#backgroundFlush(), JOURNAL_RETRY_DELAY_MS);
        this.#timer.unref();
      }
    }
  }
}
