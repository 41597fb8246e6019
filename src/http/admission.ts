import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

/**
 * The Retry-After a refused request is told, in whole seconds (RFC 9110 §10.2.3 allows no fraction):
 * drawn at random from this range, so clients refused together come back spread over it instead of
 * all at once.
 */
export const RETRY_AFTER_MIN_SEC = 1;
export const RETRY_AFTER_MAX_SEC = 5;

export interface AdmissionOptions {
  /** Requests whose path starts with this prefix are admitted or refused; others pass untouched. */
  prefix: string;
  /** At most this many admitted requests in flight at once; more are answered 503 at once. */
  maxInFlight: number;
  /** A request was admitted / refused (the metric gwsync_data_api_requests_total{outcome}). */
  onOutcome?: (outcome: "admitted" | "refused") => void;
  random?: () => number;
}

export interface Admission {
  /** Requests admitted and not yet answered (or abandoned). */
  readonly inFlight: number;
}

/** A jittered Retry-After in whole seconds, within RETRY_AFTER_MIN_SEC..RETRY_AFTER_MAX_SEC. */
export function retryAfterSeconds(random: () => number = Math.random): number {
  const span = RETRY_AFTER_MAX_SEC - RETRY_AFTER_MIN_SEC + 1;
  return RETRY_AFTER_MIN_SEC + Math.min(span - 1, Math.floor(random() * span));
}

/**
 * Admission control: a bounded number of requests under `prefix` in flight, counted from the moment a
 * request is authenticated until its response is sent or its connection closes. Beyond the bound the
 * request is answered at once with 503 Service Unavailable and a jittered `Retry-After` (RFC 9110
 * §15.6.4: "the server is currently unable to handle the request due to a temporary overload"),
 * instead of joining an unbounded queue of handlers, serializations and socket writes. Paths outside
 * the prefix (publishes, the REST API, probes, metrics) are never refused by it, so a publish still
 * answers while every gateway reconnects at once.
 *
 * Register it after the authentication hook: an unauthenticated request is refused 401 first and never
 * takes a slot.
 */
export function admitUnder(app: FastifyInstance, o: AdmissionOptions): Admission {
  const random = o.random ?? Math.random;
  const state = { inFlight: 0 };
  app.addHook("onRequest", async (req: FastifyRequest, reply: FastifyReply) => {
    if (!req.url.startsWith(o.prefix)) return;
    if (state.inFlight >= o.maxInFlight) {
      o.onOutcome?.("refused");
      reply.header("retry-after", String(retryAfterSeconds(random)));
      return reply.code(503).send({
        code: "GWSYNC_BUSY",
        message: `the data API is serving ${o.maxInFlight} requests (data_api_max_in_flight); retry after the Retry-After delay`,
      });
    }
    state.inFlight++;
    o.onOutcome?.("admitted");
    // "close" fires once per response, whether it was sent in full or the client went away first.
    let released = false;
    reply.raw.once("close", () => {
      if (released) return;
      released = true;
      state.inFlight--;
    });
  });
  return {
    get inFlight() {
      return state.inFlight;
    },
  };
}
