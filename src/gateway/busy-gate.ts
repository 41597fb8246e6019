import { setTimeout as sleep } from "node:timers/promises";

/**
 * One gateway's view of a busy control plane, shared by all its data-API requests (issue 20).
 *
 * Without it every request waited out its own Retry-After and came back on its own: a gateway with 64
 * deliveries in flight sent 64 requests per round to a control plane that had just said it was full,
 * and 200 such gateways after a broker restart drew 70,439 refusals in 150 s (test/faults/
 * reconnect-storm.test.ts in CI on 2afc314). With the gate, once one request is told "busy" the
 * gateway's other requests wait for the same moment, then one of them goes first (the probe); the
 * rest follow only when it was served. A failure that is not "busy" lets the next waiter probe;
 * p-retry's back-off for it is unchanged.
 */
export class BusyGate {
  #until = 0;
  #busy = false;
  /** Settles when the request now probing finishes, whatever its outcome. */
  #probe: Promise<void> | undefined;
  #endProbe: (() => void) | undefined;
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** The control plane said busy and someone is waiting for it (tests, metrics). */
  get busy(): boolean {
    return this.#busy;
  }

  /**
   * Waits until this gateway may send a request: at once unless the control plane said busy; then
   * until the moment it named, and behind the probe. Returns a ticket that must be settled with
   * `served`, `refused` or `failed` exactly once.
   */
  async enter(signal?: AbortSignal): Promise<GateTicket> {
    for (;;) {
      signal?.throwIfAborted();
      if (!this.#busy) return this.#ticket(false);
      const wait = this.#until - this.#now();
      if (wait > 0) {
        await sleep(wait, undefined, signal ? { signal } : {});
        continue;
      }
      if (this.#probe === undefined) {
        this.#probe = new Promise<void>((resolve) => {
          this.#endProbe = resolve;
        });
        return this.#ticket(true);
      }
      const probe = this.#probe;
      if (signal) {
        await new Promise<void>((resolve, reject) => {
          const onAbort = () => reject(signal.reason);
          signal.addEventListener("abort", onAbort, { once: true });
          void probe.then(() => {
            signal.removeEventListener("abort", onAbort);
            resolve();
          });
        });
      } else await probe;
    }
  }

  #ticket(probe: boolean): GateTicket {
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
      if (probe) {
        const end = this.#endProbe;
        this.#probe = undefined;
        this.#endProbe = undefined;
        end?.();
      }
    };
    return {
      served: () =>
        settle(() => {
          this.#busy = false;
        }),
      refused: (waitMs: number) =>
        settle(() => {
          this.#busy = true;
          this.#until = Math.max(this.#until, this.#now() + waitMs);
        }),
      failed: () => settle(() => undefined),
    };
  }
}

/** One request's pass through a BusyGate. */
export interface GateTicket {
  /** Answered (the control plane is not busy any more). */
  served(): void;
  /** Answered busy with this wait. */
  refused(waitMs: number): void;
  /** Failed otherwise (network, 5xx without Retry-After, a bad artifact): says nothing of busy. */
  failed(): void;
}
