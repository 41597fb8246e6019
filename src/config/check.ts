import { maskUrl } from "../log.js";
import { ConfigError } from "./config-error.js";
import type { LoadConfigResult } from "./load-config.js";
import { SECRET_KEY } from "./schema.js";
import type { Role } from "./types.js";

const MASK = "***";

/** A copy with every secret-named value replaced and credentials in URLs masked. */
export function maskSecrets(value: unknown, key = ""): unknown {
  if (SECRET_KEY.test(key) && value !== undefined && value !== null && typeof value !== "object") return MASK;
  if (typeof value === "string") return maskUrl(value);
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v));
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskSecrets(v, k)]));
  }
  return value;
}

function bullets(title: string, lines: readonly string[]): string[] {
  return lines.length === 0 ? [] : [`${title} (${lines.length}):`, ...lines.map((l) => `  - ${maskUrl(l)}`)];
}

/**
 * What `gwsync config check` prints: the verdict, every problem, the warnings, the effective
 * configuration as JSON with secrets masked, and the ignored WSO2 keys.
 */
export function renderConfigCheck(result: LoadConfigResult | ConfigError, role?: Role): string {
  const forRole = role === undefined ? "" : ` for role ${role}`;
  const out: string[] = [];
  if (result instanceof ConfigError) {
    const n = result.problems.length;
    out.push(`gwsync config check: INVALID${forRole} (${n === 1 ? "1 problem" : `${n} problems`})`);
    out.push(
      ...bullets(
        "problems",
        result.problems.map((p) => p.message),
      ),
    );
    out.push(...bullets("warnings", result.warnings));
    out.push(...bullets("ignored (debug)", result.debug));
  } else {
    out.push(`gwsync config check: OK${forRole}`);
    out.push(...bullets("warnings", result.warnings));
    out.push("effective configuration (secrets masked):");
    out.push(JSON.stringify(maskSecrets(result.config), null, 2));
    out.push(...bullets("ignored (debug)", result.debug));
  }
  return `${out.join("\n")}\n`;
}
