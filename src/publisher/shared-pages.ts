/** How long a served page is kept for identical requests (its key holds the store's head: never stale). */
export const SHARED_PAGE_TTL_MS = 5_000;
/** Pages kept at most (the oldest go first): a storm asks for few distinct pages. */
export const SHARED_PAGE_MAX_ENTRIES = 64;
/** A page larger than this is served but not kept (bounds the cache at about 64 × 4 MiB). */
export const SHARED_PAGE_MAX_BYTES = 4 * 1024 * 1024;

/**
 * Serialized replies (text, or the bytes sent as they are) shared between identical requests: while one is being read, requests for the same
 * key wait for that read (single-flight) instead of reading again; once read, it is kept for a short
 * while for the next ones. The key must name everything the reply depends on (for a changelog page:
 * the store's head, `since`, the labels), so a kept reply is the one a fresh read would give.
 */
export class SharedPages<Body extends string | Buffer = string> {
  readonly #inFlight = new Map<string, Promise<Body>>();
  readonly #kept = new Map<string, { body: Body; until: number }>();
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #onServed: ((source: "read" | "shared") => void) | undefined;

  constructor(
    o: {
      ttlMs?: number;
      maxEntries?: number;
      now?: () => number;
      onServed?: (source: "read" | "shared") => void;
    } = {},
  ) {
    this.#ttlMs = o.ttlMs ?? SHARED_PAGE_TTL_MS;
    this.#maxEntries = o.maxEntries ?? SHARED_PAGE_MAX_ENTRIES;
    this.#now = o.now ?? Date.now;
    this.#onServed = o.onServed;
  }

  /** The reply for `key`: kept, being read, or read now by `read`. A failed read is not kept. */
  get(key: string, read: () => Promise<Body>): Promise<Body> {
    const kept = this.#kept.get(key);
    if (kept !== undefined) {
      if (kept.until > this.#now()) {
        this.#onServed?.("shared");
        return Promise.resolve(kept.body);
      }
      this.#kept.delete(key);
    }
    const running = this.#inFlight.get(key);
    if (running !== undefined) {
      this.#onServed?.("shared");
      return running;
    }
    this.#onServed?.("read");
    const p = read().then(
      (body) => {
        this.#inFlight.delete(key);
        this.#keep(key, body);
        return body;
      },
      (err: unknown) => {
        this.#inFlight.delete(key);
        throw err;
      },
    );
    this.#inFlight.set(key, p);
    return p;
  }

  #keep(key: string, body: Body): void {
    if (body.length > SHARED_PAGE_MAX_BYTES) return;
    const now = this.#now();
    // Expired ones first, then the oldest (a Map iterates in insertion order).
    for (const [k, v] of this.#kept) if (v.until <= now) this.#kept.delete(k);
    while (this.#kept.size >= this.#maxEntries) {
      const oldest = this.#kept.keys().next().value;
      if (oldest === undefined) break;
      this.#kept.delete(oldest);
    }
    this.#kept.set(key, { body, until: now + this.#ttlMs });
  }

  /** Pages kept now (tests). */
  get size(): number {
    return this.#kept.size;
  }
}
