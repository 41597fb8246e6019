/**
 * Group commit: callers wait until a flush that started after their call has completed, and one flush
 * serves everyone waiting. Lets the gateway ack runtime-state events only once they are on disk
 * without paying one fsync per event (B4: tens of thousands of revocations per second).
 *
 * By default the flush runs on the next turn of the event loop (setImmediate): every delivery that one
 * socket read brought is applied by then, so they share the fsync, and no time is spent waiting for
 * more. A fixed 5 ms wait used to idle the gateway between prefetch windows: with 64 messages in
 * flight and acks only after the fsync, it capped a gateway at ~3,300 events/s (BENCHMARKS.md, B4).
 */
export class GroupCommit {
  readonly #flush: () => void;
  readonly #delayMs: number;
  #waiting: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  #timer: NodeJS.Timeout | NodeJS.Immediate | undefined;

  constructor(flush: () => void, delayMs = 0) {
    this.#flush = flush;
    this.#delayMs = delayMs;
  }

  durable(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#timer ??=
        this.#delayMs > 0 ? setTimeout(() => this.#run(), this.#delayMs) : setImmediate(() => this.#run());
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
