import type { EventEmitter } from "node:events";
import type { FastifyRequest } from "fastify";
import { z } from "zod";
import { GwsyncError } from "../errors.js";
import type { ArtifactStore } from "../store/types.js";
import { type Rollout, rolloutGatewaySchema, rolloutView } from "./fleet-view.js";

/**
 * `gwsync publish --wait` and the REST `?wait=`: after a publish or a remove, wait until every live
 * gateway of the labels serves what the store now says (the new revision, or nothing), or say which
 * did not and why. Re-checked on each gateway report and heartbeat (a gateway that stops or goes
 * missing no longer holds the wait), and on a slow timer for gateways that fall silent.
 */

export const DEFAULT_WAIT_MS = 30_000;
/** The longest wait a request may ask for (an HTTP request held open that long). */
export const MAX_WAIT_MS = 10 * 60_000;
/** Silence is noticed by the clock, not by an event: look this often as well. */
const RECHECK_MS = 1000;

export const waitResultSchema = z.object({
  /** Every live gateway of the labels serves what the store says. */
  complete: z.boolean(),
  /** The wait ended because some gateway refused it (no use waiting longer), not by the timeout. */
  refused: z.boolean(),
  timedOut: z.boolean(),
  waitedMs: z.number(),
  /** Live gateways of the labels that were checked. */
  gateways: z.number(),
  /** The gateways that do not serve it (pending, refused, offline-but-counted), with why. */
  notDone: z.array(rolloutGatewaySchema),
});

export type WaitResult = z.infer<typeof waitResultSchema>;

/** "30s", "500ms", "2m", "45" (seconds). */
export function parseWait(text: string | undefined, what = "wait"): number {
  if (text === undefined || text === "" || text === "true") return DEFAULT_WAIT_MS;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) {
    throw new GwsyncError("GWSYNC_USAGE", `${what}: "${text}" is not a duration (30s, 500ms, 2m, or seconds)`);
  }
  const n = Number(m[1]);
  const ms = m[2] === "ms" ? n : m[2] === "m" ? n * 60_000 : n * 1000;
  if (!Number.isFinite(ms) || ms < 0 || ms > MAX_WAIT_MS) {
    throw new GwsyncError("GWSYNC_USAGE", `${what}: ${text} is beyond the longest wait, ${MAX_WAIT_MS / 60_000} minutes`);
  }
  return Math.round(ms);
}

/** Judge a rollout against the labels of the request: done, refused somewhere, or still going. */
export function judgeRollout(r: Rollout, labels: readonly string[]): Omit<WaitResult, "waitedMs" | "timedOut"> {
  const wanted = new Set(labels);
  const relevant = r.gateways.filter(
    (g) => g.labels.some((l) => wanted.has(l)) && (g.state === "ready" || g.state === "stale" || g.state === "starting"),
  );
  const notDone = relevant.filter((g) => g.status !== "deployed" && g.status !== "removed");
  return {
    complete: notDone.length === 0,
    refused: notDone.some((g) => g.status === "refused"),
    gateways: relevant.length,
    notDone,
  };
}

export async function waitForRollout(o: {
  store: ArtifactStore;
  /** Emits "report" and "heartbeat" when a gateway said something (the publisher's events). */
  events: EventEmitter;
  apiId: string;
  labels: readonly string[];
  timeoutMs: number;
  signal?: AbortSignal;
}): Promise<WaitResult> {
  const started = Date.now();
  return new Promise<WaitResult>((resolve, reject) => {
    let checking = false;
    let again = false;
    let finished = false;
    const finish = (r: Omit<WaitResult, "waitedMs">) => {
      if (finished) return;
      finished = true;
      clearInterval(tick);
      clearTimeout(deadline);
      o.events.off("report", check);
      o.events.off("heartbeat", check);
      o.signal?.removeEventListener("abort", check);
      resolve({ ...r, waitedMs: Date.now() - started });
    };
    const last = async (timedOut: boolean) => {
      const r = await rolloutView(o.store, o.apiId);
      const j = r === undefined ? { complete: true, refused: false, gateways: 0, notDone: [] } : judgeRollout(r, o.labels);
      finish({ ...j, timedOut: timedOut && !j.complete });
    };
    function check(): void {
      if (finished) return;
      if (checking) {
        again = true;
        return;
      }
      checking = true;
      void (async () => {
        try {
          do {
            again = false;
            if (o.signal?.aborted) return await last(true);
            const r = await rolloutView(o.store, o.apiId);
            const j = r === undefined ? undefined : judgeRollout(r, o.labels);
            if (j === undefined || j.complete || j.refused) return finish({ ...(j ?? { complete: true, refused: false, gateways: 0, notDone: [] }), timedOut: false });
          } while (again && !finished);
        } catch (err) {
          finished = true;
          clearInterval(tick);
          clearTimeout(deadline);
          reject(err);
        } finally {
          checking = false;
        }
      })();
    }
    const tick = setInterval(check, RECHECK_MS);
    const deadline = setTimeout(() => {
      void last(true).catch(reject);
    }, o.timeoutMs);
    o.events.on("report", check);
    o.events.on("heartbeat", check);
    o.signal?.addEventListener("abort", check);
    check();
  });
}

/**
 * Runs a wait inside an HTTP request: the socket's idle timeout stretched to the wait for this request,
 * and the wait ended early (aborted) when the client hangs up.
 */
export async function waitFor<T>(
  req: FastifyRequest,
  wait: (signal: AbortSignal) => Promise<T>,
  timeoutMs: number,
): Promise<T> {
  const socket = req.raw.socket;
  const idle = socket.timeout;
  socket.setTimeout(timeoutMs + 30_000);
  const gone = new AbortController();
  const onClose = () => gone.abort();
  // The socket's close, not the request's (which follows its body).
  socket.once("close", onClose);
  try {
    return await wait(gone.signal);
  } finally {
    socket.off("close", onClose);
    if (idle !== undefined) socket.setTimeout(idle);
  }
}
