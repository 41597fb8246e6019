import type { BenchChild, ChildMessage } from "./children.js";

/**
 * Collects per-event reports from several children and resolves when `expected` of them reported a
 * key, with the latest report time on the parent's clock (= "done on all of them").
 */
export class Arrivals {
  readonly #seen = new Map<string, { count: number; lastT: number }>();
  readonly #waiters = new Map<string, (lastT: number) => void>();
  readonly #expected: number;
  readonly #offs: (() => void)[] = [];

  constructor(children: BenchChild[], type: string, key: (m: ChildMessage) => string | undefined) {
    this.#expected = children.length;
    for (const c of children) {
      this.#offs.push(
        c.onMessage((m) => {
          if (m.type !== type) return;
          const k = key(m);
          if (k === undefined) return;
          const e = this.#seen.get(k) ?? { count: 0, lastT: 0 };
          e.count++;
          e.lastT = Math.max(e.lastT, c.toParentClock(m.t as number));
          this.#seen.set(k, e);
          if (e.count === this.#expected) {
            this.#seen.delete(k);
            const w = this.#waiters.get(k);
            if (w) {
              this.#waiters.delete(k);
              w(e.lastT);
            } else this.#seen.set(k, e);
          }
        }),
      );
    }
  }

  /** The parent-clock time when the last child reported `key`. */
  wait(key: string, timeoutMs: number): Promise<number> {
    const e = this.#seen.get(key);
    if (e && e.count >= this.#expected) {
      this.#seen.delete(key);
      return Promise.resolve(e.lastT);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(key);
        const got = this.#seen.get(key)?.count ?? 0;
        reject(
          new Error(`only ${got} of ${this.#expected} processes reported ${key} within ${timeoutMs} ms`),
        );
      }, timeoutMs);
      this.#waiters.set(key, (t) => {
        clearTimeout(timer);
        resolve(t);
      });
    });
  }

  close(): void {
    for (const off of this.#offs) off();
  }
}
