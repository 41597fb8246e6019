import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

/**
 * The Retry-After a refused request is told, in whole seconds (RFC 9110 §10.2.3 allows no fraction):
 * drawn at random from this range, so clients refused together come back spread over it instead of
 * all at once.
 */
export const RETRY_AFTER_MIN_SEC = 1;
export const RETRY_AFTER_MAX_SEC = 5;
/**
 * At most this many requests wait for a slot at once; more are refused at once. A waiting request is
 * an accepted socket and its parsed headers (a few KB): 10,000 of them bound the queue at tens of MB,
 * and cover every gateway of the largest fleet measured (B8, B9) fetching one announced artifact at once.
 */
export const MAX_QUEUED = 10_000;

export interface AdmissionOptions {
  /** Requests whose path starts with this prefix are admitted or refused; others pass untouched. */
  prefix: string;
  /** At most this many admitted requests in flight at once; more wait for a slot (FIFO). */
  maxInFlight: number;
  /**
   * How long a request beyond `maxInFlight` waits for a slot before it is answered 503 with
   * Retry-After; 0 refuses at once. A burst (every gateway of a label fetching one announced artifact)
   * is served in order within it; only a backlog that cannot drain in this time is turned away.
   */
  maxWaitMs: number;
  /** Requests allowed to wait at once (default MAX_QUEUED); more are refused at once. */
  maxQueued?: number;
  /** A request was admitted (at once or after waiting) / refused (gwsync_data_api_requests_total{outcome}). */
  onOutcome?: (outcome: "admitted" | "refused") => void;
  random?: () => number;
}

export interface Admission {
  /** Requests admitted and not yet answered (or abandoned). */
  readonly inFlight: number;
  /** Requests waiting for a slot. */
  readonly waiting: number;
}

/** A jittered Retry-After in whole seconds, within RETRY_AFTER_MIN_SEC..RETRY_AFTER_MAX_SEC. */
export function retryAfterSeconds(random: () => number = Math.random): number {
  const span = RETRY_AFTER_MAX_SEC - RETRY_AFTER_MIN_SEC + 1;
  return RETRY_AFTER_MIN_SEC + Math.min(span - 1, Math.floor(random() * span));
}

interface Waiter {
  /** true: a slot was handed over; false: the wait ended without one (timed out, client gone). */
  settle: (granted: boolean) => void;
  timer: NodeJS.Timeout;
}

/**
 * Admission control: a bounded number of requests under `prefix` in flight, counted from the moment a
 * request is authenticated until its response is sent or its connection closes. Beyond the bound a
 * request waits in a FIFO queue for a slot, at most `maxWaitMs` and with at most `maxQueued` waiting;
 * past either it is answered 503 Service Unavailable with a jittered `Retry-After` (RFC 9110 §15.6.4:
 * "the server is currently unable to handle the request due to a temporary overload"), instead of
 * joining an unbounded queue of handlers, serializations and socket writes. A freed slot goes straight
 * to the oldest waiter. Paths outside the prefix (publishes, the REST API, probes, metrics) are never
 * held or refused by it, so a publish still answers while every gateway reconnects at once.
 *
 * Why a short queue rather than refusing at once: every gateway of a label fetches an announced
 * artifact at the same moment. Refusing all but `maxInFlight` of them sent the rest away for 1–5 s
 * (B8 at 100 gateways: p50 138 → 565 ms), while serving them in turn takes milliseconds each.
 *
 * Register it after the authentication hook: an unauthenticated request is refused 401 first and never
 * takes a slot or a place in the queue.
 */
export function admitUnder(app: FastifyInstance, o: AdmissionOptions): Admission {
  const random = o.random ?? Math.random;
  const maxQueued = o.maxQueued ?? MAX_QUEUED;
  const state = { inFlight: 0 };
  const queue: Waiter[] = [];

  const dequeue = (w: Waiter): boolean => {
    const at = queue.indexOf(w);
    if (at < 0) return false;
    queue.splice(at, 1);
    clearTimeout(w.timer);
    return true;
  };
  /** A slot is given back: to the oldest waiter if there is one (in flight unchanged), else freed. */
  const release = () => {
    const next = queue.shift();
    if (next) {
      clearTimeout(next.timer);
      next.settle(true);
    } else {
      state.inFlight--;
    }
  };
  const refuse = (reply: FastifyReply) => {
    o.onOutcome?.("refused");
    reply.header("retry-after", String(retryAfterSeconds(random)));
    return reply.code(503).send({
      code: "GWSYNC_BUSY",
      message: `the data API is serving ${o.maxInFlight} requests (data_api_max_in_flight) and could not take this one within ${o.maxWaitMs} ms (data_api_max_wait_ms); retry after the Retry-After delay`,
    });
  };

  // Callback style, not async: a request admitted at once (the usual case) costs no promise and no
  // extra turn of microtasks (issue 19, B13); only one that waits for a slot goes through a promise.
  app.addHook("onRequest", (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
    if (!req.url.startsWith(o.prefix)) return done();
    let holding = false;
    let closed = false;
    let waiter: Waiter | undefined;
    // "close" fires once per response, whether it was sent in full or the client went away first: the
    // slot goes back then, or a client that gave up while waiting leaves the queue.
    reply.raw.once("close", () => {
      closed = true;
      if (holding) {
        holding = false;
        release();
      } else if (waiter && dequeue(waiter)) {
        waiter.settle(false);
      }
    });
    if (state.inFlight < o.maxInFlight) {
      state.inFlight++;
      holding = true;
      o.onOutcome?.("admitted");
      return done();
    }
    if (o.maxWaitMs <= 0 || queue.length >= maxQueued) {
      refuse(reply);
      return;
    }
    const w: Waiter = {
      // Settled from another response's "close" or a timer: the request goes on a microtask later, as
      // after an await, not inside the caller.
      settle: (granted) =>
        queueMicrotask(() => {
          if (closed) {
            // Gone while waiting, or in the instant its slot was handed over: give that slot on, answer nothing.
            if (granted) release();
            reply.hijack();
            return done();
          }
          if (!granted) {
            refuse(reply);
            return;
          }
          holding = true;
          o.onOutcome?.("admitted");
          done();
        }),
      timer: setTimeout(() => {
        if (dequeue(w)) w.settle(false);
      }, o.maxWaitMs),
    };
    waiter = w;
    queue.push(w);
  });
  return {
    get inFlight() {
      return state.inFlight;
    },
    get waiting() {
      return queue.length;
    },
  };
}
