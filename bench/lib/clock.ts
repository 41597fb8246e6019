/**
 * Wall-clock milliseconds with sub-millisecond resolution. Every bench process (parent and children)
 * stamps events with this, so latencies across processes on one machine can be subtracted; the
 * residual offset between two processes is measured by `measureClockOffset` (children.ts).
 */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Elapsed milliseconds since a `process.hrtime.bigint()` mark (same-process intervals). */
export function sinceMs(mark: bigint): number {
  return Number(process.hrtime.bigint() - mark) / 1e6;
}
