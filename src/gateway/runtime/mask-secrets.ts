import { isSecretKey, looksLikeSecretValue } from "../../security/secret-values.js";

export const MASK = "****";
/** Configs are shallow in practice; anything deeper than this is masked whole rather than walked. */
const MAX_DEPTH = 16;

/**
 * A copy of a JSON value with credentials masked (HTTP snapshots never serve them): fields named as
 * secrets (`client_secret`, `access_token`, `apiKey`, ...) and values that are credentials whatever
 * their field (JWTs, private keys, Authorization values, URLs with a password): src/security/secret-values.ts.
 */
export function maskSecrets(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return looksLikeSecretValue(value) ? MASK : value;
  if (typeof value !== "object" || value === null) return value;
  // Fail closed: what is too deep to walk is not shown at all.
  if (depth > MAX_DEPTH) return MASK;
  if (Array.isArray(value)) return value.map((item) => maskSecrets(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    if (key === "__proto__") continue;
    out[key] = isSecretKey(key) && field !== null && field !== "" ? MASK : maskSecrets(field, depth + 1);
  }
  return out;
}
