import type { EventEmitter } from "node:events";

/**
 * Resolves when `check()` is true, re-checking on every `event` the emitters fire (no sleeping);
 * rejects with `what` after `timeoutMs`. A bounded wait: every integration wait goes through here.
 */
export function waitFor(
  emitters: EventEmitter | EventEmitter[],
  event: string | string[],
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  const list = Array.isArray(emitters) ? emitters : [emitters];
  const names = Array.isArray(event) ? event : [event];
  return new Promise<void>((resolve, reject) => {
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      for (const e of list) for (const n of names) e.removeListener(n, onEvent);
      if (err) reject(err);
      else resolve();
    };
    const onEvent = () => {
      Promise.resolve(check()).then((ok) => ok && finish(), finish);
    };
    const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
    for (const e of list) for (const n of names) e.on(n, onEvent);
    onEvent();
  });
}

/** Counts emissions of `event` (optionally filtered) so a test can await "N events happened". */
export function counter(emitter: EventEmitter, event: string, filter: (...args: unknown[]) => boolean = () => true) {
  let n = 0;
  const on = (...args: unknown[]) => {
    if (filter(...args)) n++;
  };
  emitter.on(event, on);
  return {
    get count() {
      return n;
    },
    stop() {
      emitter.removeListener(event, on);
    },
  };
}

/** Every gateway event after which its deployed set may have changed (deliveries, bulk load, catch-up). */
export const CHANGED = ["handled", "applied", "startup"];
