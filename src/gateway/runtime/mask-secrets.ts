/** Key names whose values are credentials: shown as MASK in HTTP snapshots, never served. */
const SECRET_KEY = /secret|password|passwd|credential|private|token_?key|api_?key/i;
export const MASK = "****";
/** Configs are shallow in practice; the bound stops a hostile one from recursing forever. */
const MAX_DEPTH = 16;

/** A copy of a JSON value with credential-looking fields masked. */
export function maskSecrets(value: unknown, depth = 0): unknown {
  if (depth > MAX_DEPTH || typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) return value.map((item) => maskSecrets(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    if (key === "__proto__") continue;
    out[key] = SECRET_KEY.test(key) && field !== null && field !== "" ? MASK : maskSecrets(field, depth + 1);
  }
  return out;
}
