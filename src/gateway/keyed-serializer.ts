/**
 * Runs jobs one at a time per key (an API id), in arrival order, while different keys run in
 * parallel. A newer job for a key aborts the signal of the job running for it, so a long retry of an
 * older event (running or still waiting) gives way to the newer one (docs/architecture.md#configuration: a newer event for the same API resets it).
 */
export class KeyedSerializer {
  readonly #tails = new Map<string, Promise<unknown>>();
  /** The newest job of each key; enqueuing a newer one aborts it, whether running or waiting. */
  readonly #latest = new Map<string, AbortController>();

  /**
   * With `supersede` (default) the job aborts the key's previous one; without, it waits its turn and
   * leaves the others alone (catch-up and startup work must not cancel an event that fetched newer data).
   */
  run<T>(
    key: string,
    job: (signal: AbortSignal) => Promise<T>,
    options: { supersede?: boolean } = {},
  ): Promise<T> {
    const supersede = options.supersede ?? true;
    if (supersede) this.#latest.get(key)?.abort(new Error("superseded by a newer event for the same API"));
    const controller = new AbortController();
    if (supersede) this.#latest.set(key, controller);
    const prev = this.#tails.get(key) ?? Promise.resolve();
    const next = prev
      .catch(() => undefined)
      .then(() => job(controller.signal))
      .finally(() => {
        if (this.#latest.get(key) === controller) this.#latest.delete(key);
        if (this.#tails.get(key) === next) this.#tails.delete(key);
      });
    this.#tails.set(key, next);
    return next;
  }

  /** Abort every running job (shutdown). */
  abortAll(): void {
    for (const c of this.#latest.values()) c.abort(new Error("shutting down"));
  }

  get size(): number {
    return this.#tails.size;
  }
}
