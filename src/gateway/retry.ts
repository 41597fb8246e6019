import pRetry, { AbortError } from "p-retry";
import type { GwsyncConfig } from "../config/types.js";
import { isGwsyncError } from "../errors.js";

/** WSO2 4.x caps the wait between attempts at one hour (APIUtil.executeHTTPRequestWithRetries). */
export const MAX_RETRY_DELAY_MS = 60 * 60 * 1000;

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
 * Runs `fn` with exponential backoff and jitter (p-retry's randomize: each wait × a random 1–2, still
 * capped). Errors that say a retry cannot help (GwsyncError.retryable === false) end it at once.
 */
export function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  options: {
    signal?: AbortSignal;
    onRetry?: (err: Error, attempt: number, retriesLeft: number) => void;
  } = {},
): Promise<T> {
  return pRetry(
    async (attempt) => {
      try {
        return await fn(attempt);
      } catch (err) {
        if (isGwsyncError(err) && !err.retryable) throw new AbortError(err);
        throw err;
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
