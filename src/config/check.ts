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

/** `gwsync config check --json`: the same facts as the text, as data. */
export interface ConfigCheckReport {
  ok: boolean;
  role: Role | null;
  problems: { key: string; message: string; env?: string }[];
  warnings: string[];
  /** The effective configuration, secrets masked; absent when invalid. */
  config?: unknown;
  /** WSO2 keys and sections gwsync does not read. */
  ignored: string[];
}

export function configCheckReport(result: LoadConfigResult | ConfigError, role?: Role): ConfigCheckReport {
  const warnings = result.warnings.map(maskUrl);
  const ignored = result.debug.map(maskUrl);
  if (result instanceof ConfigError) {
    return {
      ok: false,
      role: role ?? null,
      problems: result.problems.map((p) => ({
        key: p.key,
        message: maskUrl(p.message),
        ...(p.env === undefined ? {} : { env: p.env }),
      })),
      warnings,
      ignored,
    };
  }
  return {
    ok: true,
    role: role ?? null,
    problems: [],
    warnings,
    config: maskSecrets(result.config),
    ignored,
  };
}

/**
 * What `gwsync config check` prints: the verdict, every problem, the warnings, the effective
 * configuration as JSON with secrets masked, and the ignored WSO2 keys.
 */
export function renderConfigCheck(result: LoadConfigResult | ConfigError, role?: Role): string {
  const report = configCheckReport(result, role);
  const forRole = role === undefined ? "" : ` for role ${role}`;
  const out: string[] = [];
  if (!report.ok) {
    const n = report.problems.length;
    out.push(`gwsync config check: INVALID${forRole} (${n === 1 ? "1 problem" : `${n} problems`})`);
    out.push(
      ...bullets(
        "problems",
        report.problems.map((p) => p.message),
      ),
    );
    out.push(...bullets("warnings", report.warnings));
    out.push(...bullets("ignored (debug)", report.ignored));
  } else {
    out.push(`gwsync config check: OK${forRole}`);
    out.push(...bullets("warnings", report.warnings));
    out.push("effective configuration (secrets masked):");
    out.push(JSON.stringify(report.config, null, 2));
    out.push(...bullets("ignored (debug)", report.ignored));
  }
  return `${out.join("\n")}\n`;
}
