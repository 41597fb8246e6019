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
  /**
   * The next flush, and the one promise every caller until it starts waits on (one per round, not one
   * per caller: B4 makes ~15 callers per round, issue 19).
   */
  #round: { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } | undefined;

  constructor(flush: () => void, delayMs = 0) {
    this.#flush = flush;
    this.#delayMs = delayMs;
  }

  durable(): Promise<void> {
    if (this.#round !== undefined) return this.#round.promise;
    let resolve!: () => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.#round = { promise, resolve, reject };
    if (this.#delayMs > 0) setTimeout(() => this.#run(), this.#delayMs);
    else setImmediate(() => this.#run());
    return promise;
  }

  #run(): void {
    const round = this.#round;
    this.#round = undefined;
    if (round === undefined) return;
    try {
      this.#flush();
      round.resolve();
    } catch (err) {
      round.reject(err);
    }
  }
}

/**
 * Asynchronous group commit over keys, in rounds: `run(key)` resolves once a flush that started after
 * the call has handled `key`. Keys that arrive while a flush runs wait for the next round, which
 * starts one turn of the event loop after the running one ends: under load every flush serves a whole
 * round of callers (the bulk deploy's fsyncs, issue 19: ext4 joins concurrent fsyncs into shared
 * journal commits). `quiet()` resolves when no flush is running: callers whose blocking file-system
 * calls would wait behind the round's journal commits (creating, renaming) make them in the turn
 * between two rounds. `flush` returns, for each key in order, undefined (done) or the error of that
 * key; a flush that throws fails every key of its round.
 */
export class AsyncGroupCommit<K> {
  readonly #flush: (keys: K[]) => Promise<readonly unknown[]>;
  #waiting = new Map<K, { resolve: () => void; reject: (e: unknown) => void }[]>();
  #quiet: (() => void)[] = [];
  #running = false;
  #flushing = false;

  constructor(flush: (keys: K[]) => Promise<readonly unknown[]>) {
    this.#flush = flush;
  }

  run(key: K): Promise<void> {
    return new Promise((resolve, reject) => {
      const list = this.#waiting.get(key);
      if (list) list.push({ resolve, reject });
      else this.#waiting.set(key, [{ resolve, reject }]);
      if (!this.#running) {
        this.#running = true;
        // Next turn: every caller of this turn joins the first round.
        setImmediate(() => void this.#loop());
      }
    });
  }

  /** True while a flush runs. */
  get flushing(): boolean {
    return this.#flushing;
  }

  /** Resolves at once when no flush is running, else when the running one has ended. */
  quiet(): Promise<void> {
    if (!this.#flushing) return Promise.resolve();
    return new Promise((resolve) => this.#quiet.push(resolve));
  }

  async #loop(): Promise<void> {
    while (this.#waiting.size > 0) {
      const round = this.#waiting;
      this.#waiting = new Map();
      const keys = [...round.keys()];
      let results: readonly unknown[];
      this.#flushing = true;
      try {
        results = await this.#flush(keys);
      } catch (err) {
        results = keys.map(() => err ?? new Error("group commit failed"));
      }
      this.#flushing = false;
      keys.forEach((key, i) => {
        const err = results[i];
        for (const w of round.get(key) ?? []) err === undefined ? w.resolve() : w.reject(err);
      });
      const quiet = this.#quiet;
      this.#quiet = [];
      for (const q of quiet) q();
      // One turn for what the round released (renames, the next temps) before the next round's fsyncs.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    this.#running = false;
  }
}
