/** How many recent event ids a gateway remembers: hours of traffic at WSO2's usual rates. */
export const DEFAULT_DEDUP_CAPACITY = 100_000;

/**
 * Remembers the last `capacity` event ids (a ring buffer plus a Set): at-least-once delivery means
 * redeliveries are expected, and WSO2 4.x drops duplicates by eventId too (InMemoryAPIDeployer).
 */
export class EventDeduplicator {
  readonly #capacity: number;
  readonly #ids = new Set<string>();
  readonly #ring: (string | undefined)[];
  #next = 0;

  constructor(capacity: number = DEFAULT_DEDUP_CAPACITY) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError("dedup capacity must be a positive integer");
    this.#capacity = capacity;
    this.#ring = new Array<string | undefined>(capacity);
  }

  /** True when the id was seen among the last `capacity` ids; otherwise records it and returns false. */
  seen(eventId: string): boolean {
    if (this.#ids.has(eventId)) return true;
    const evicted = this.#ring[this.#next];
    if (evicted !== undefined) this.#ids.delete(evicted);
    this.#ring[this.#next] = eventId;
    this.#ids.add(eventId);
    this.#next = (this.#next + 1) % this.#capacity;
    return false;
  }

  /** Forget an id (its effect was not made durable: a redelivery must apply it again). */
  forget(eventId: string): void {
    // Its ring slot stays; evicting it later deletes nothing that is still wanted.
    this.#ids.delete(eventId);
  }

  has(eventId: string): boolean {
    return this.#ids.has(eventId);
  }

  size(): number {
    return this.#ids.size;
  }
}
