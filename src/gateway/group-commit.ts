/**
 * Group commit: callers wait until a flush that started after their call has completed, and one flush
 * serves everyone waiting. Lets the gateway ack runtime-state events only once they are on disk
 * without paying one fsync per event (B4: tens of thousands of revocations per second).
 */
export class GroupCommit {
  readonly #flush: () => void;
  readonly #delayMs: number;
  #waiting: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(flush: () => void, delayMs = 5) {
    this.#flush = flush;
    this.#delayMs = delayMs;
  }

  durable(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#timer ??= setTimeout(() => this.#run(), this.#delayMs);
    });
  }

  #run(): void {
    this.#timer = undefined;
    const batch = this.#waiting;
    this.#waiting = [];
    try {
      this.#flush();
      for (const w of batch) w.resolve();
    } catch (err) {
      for (const w of batch) w.reject(err);
    }
  }
}
