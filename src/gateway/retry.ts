import { setTimeout as sleep } from "node:timers/promises";
import pRetry, { AbortError } from "p-retry";
import type { GwsyncConfig } from "../config/types.js";
import { isGwsyncError } from "../errors.js";
import type { BusyGate, GateTicket } from "./busy-gate.js";

/** WSO2 4.x caps the wait between attempts at one hour (APIUtil.executeHTTPRequestWithRetries). */
export const MAX_RETRY_DELAY_MS = 60 * 60 * 1000;
/** A Retry-After wait is stretched by up to this fraction at random, so clients told the same spread out. */
export const RETRY_AFTER_JITTER = 0.2;

export interface RetryPolicy {
  /** Retries after the first attempt (WSO2 max_retry_count). */
  retries: number;
  /** First wait (WSO2 deployment_retry_duration). */
  minTimeoutMs: number;
  /** Growth of the wait after each failure (WSO2 retry_progression_factor). */
  factor: number;
  maxTimeoutMs: number;
}

export function retryPolicyOf(gateway: GwsyncConfig["gateway"]): RetryPolicy {
  return {
    retries: gateway.maxRetryCount,
    minTimeoutMs: gateway.deploymentRetryDurationMs,
    factor: gateway.retryProgressionFactor,
    maxTimeoutMs: Math.min(gateway.maxRetryDelayMs, MAX_RETRY_DELAY_MS),
  };
}

/**
 * An HTTP `Retry-After` value in milliseconds from `now` (RFC 9110 §10.2.3: delta-seconds, or an
 * HTTP-date), clamped to 0..MAX_RETRY_DELAY_MS; undefined when absent or malformed (the answer is then
 * an ordinary failure, retried with the policy's backoff).
 */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  if (/^[0-9]+$/.test(v)) {
    // "99999999999999999999" is a number too: clamp it instead of overflowing a timer.
    return Math.min(Number(v) * 1000, MAX_RETRY_DELAY_MS);
  }
  // An HTTP-date names a day of the week and GMT (IMF-fixdate and the obsolete forms); Date.parse
  // alone would also take "1" or "2026" as dates.
  if (!/[A-Za-z]{3}/.test(v)) return undefined;
  const at = Date.parse(v);
  if (!Number.isFinite(at)) return undefined;
  return Math.min(Math.max(0, at - now), MAX_RETRY_DELAY_MS);
}

/** The Retry-After a busy control plane asked for (details.retryAfterMs of a fetch error), if any. */
export function retryAfterOf(err: unknown): number | undefined {
  if (!isGwsyncError(err)) return undefined;
  const ms = err.details?.retryAfterMs;
  return typeof ms === "number" && Number.isFinite(ms) && ms >= 0 ? ms : undefined;
}

/**
 * Runs `fn` with exponential backoff and jitter (p-retry's randomize: each wait × a random 1–2, still
 * capped). Errors that say a retry cannot help (GwsyncError.retryable === false) end it at once.
 *
 * A busy control plane (503/429 with Retry-After: the error's details.retryAfterMs) is not a failure:
 * the call waits as long as it was told (at most `maxTimeoutMs`, stretched by up to 20 % at random)
 * and tries again without spending a retry. Those waits add up to at most MAX_RETRY_DELAY_MS per call;
 * past that, a busy answer counts as a failure like any other. With `gate`, the wait is the gate's:
 * every call sharing it waits for the latest moment it was told, and then they go one at a time until
 * one is served.
 */
export function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  options: {
    signal?: AbortSignal;
    onRetry?: (err: Error, attempt: number, retriesLeft: number) => void;
    /** A busy answer is being waited out (waitMs), before the same attempt runs again. */
    onBusy?: (waitMs: number, attempt: number) => void;
    random?: () => number;
    /**
     * Shared by the calls of one gateway: a busy answer to one makes the others wait for the same
     * moment, and then one goes first (BusyGate). Without it each call waits out its own answers.
     */
    gate?: BusyGate;
  } = {},
): Promise<T> {
  const random = options.random ?? Math.random;
  const gate = options.gate;
  let busyWaitedMs = 0;
  return pRetry(
    async (attempt) => {
      for (;;) {
        let ticket: GateTicket | undefined;
        try {
          ticket = gate ? await gate.enter(options.signal) : undefined;
        } catch (abort) {
          throw new AbortError(abort as Error);
        }
        try {
          const value = await fn(attempt);
          ticket?.served();
          return value;
        } catch (err) {
          if (isGwsyncError(err) && !err.retryable) {
            ticket?.failed();
            throw new AbortError(err);
          }
          const told = retryAfterOf(err);
          if (told === undefined) {
            ticket?.failed();
            throw err;
          }
          const wait = Math.round(
            Math.min(told * (1 + random() * RETRY_AFTER_JITTER), policy.maxTimeoutMs, MAX_RETRY_DELAY_MS),
          );
          ticket?.refused(wait);
          if (busyWaitedMs + wait > MAX_RETRY_DELAY_MS) throw err;
          busyWaitedMs += wait;
          options.onBusy?.(wait, attempt);
          // With a gate, its next enter() waits (for this answer's moment and behind the probe).
          if (ticket) continue;
          try {
            await sleep(wait, undefined, options.signal ? { signal: options.signal } : {});
          } catch (abort) {
            throw new AbortError(abort as Error);
          }
        }
      }
    },
    {
      retries: policy.retries,
      factor: policy.factor,
      minTimeout: policy.minTimeoutMs,
      maxTimeout: policy.maxTimeoutMs,
      randomize: true,
      signal: options.signal,
      onFailedAttempt: (ctx) => options.onRetry?.(ctx.error, ctx.attemptNumber, ctx.retriesLeft),
    },
  );
}
