/**
 * GWSYNC_BENCH_SCALE=0.1 runs every benchmark at a tenth of its size (smoke run); default 1.
 * GWSYNC_BENCH_SCALE_B6=0.1 (any id) overrides the scale for one benchmark.
 */
export function benchScale(id?: string, env: NodeJS.ProcessEnv = process.env): number {
  const name =
    id && env[`GWSYNC_BENCH_SCALE_${id}`] !== undefined ? `GWSYNC_BENCH_SCALE_${id}` : "GWSYNC_BENCH_SCALE";
  const raw = env[name];
  if (raw === undefined || raw === "") return 1;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) {
    throw new Error(`${name} must be a positive number (e.g. 0.1), got ${JSON.stringify(raw)}`);
  }
  return n;
}

/** `full` scaled for benchmark `id`, never below `min`. */
export function scaled(id: string, full: number, min = 10): number {
  return Math.max(min, Math.round(full * benchScale(id)));
}
