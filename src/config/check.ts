import { maskSecrets, maskUrl } from "../security/secrets.js";
import { ConfigError } from "./config-error.js";
import type { LoadConfigResult } from "./load-config.js";
import { relayDestinations } from "./relay-destinations.js";
import type { BrokerEndpoint, GwsyncConfig, Role } from "./types.js";

function bullets(title: string, lines: readonly string[]): string[] {
  return lines.length === 0 ? [] : [`${title} (${lines.length}):`, ...lines.map((l) => `  - ${maskUrl(l)}`)];
}

/** A broker as the check shows it: never its password, whatever the key it came from. */
export function describeBroker(e: BrokerEndpoint): string {
  const user = e.username === "" ? "" : `${encodeURIComponent(e.username)}:***@`;
  const vhost = e.vhost === "/" ? "" : `/${encodeURIComponent(e.vhost)}`;
  return `${e.protocol}://${user}${e.hostname}:${e.port}${vhost}`;
}

/** Where a relay of this configuration will forward: each other region's factory and brokers. */
export interface RelayReport {
  region: string;
  jndiDir: string;
  destinations: { region: string; factory: string; brokers: string[] }[];
}

function relayReport(config: GwsyncConfig): RelayReport {
  const { region, jndiDir } = config.gwsync;
  return {
    region,
    jndiDir,
    destinations: relayDestinations(jndiDir, region).map((d) => ({
      region: d.region,
      factory: d.factory,
      brokers: d.brokers.map(describeBroker),
    })),
  };
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
  /** Role relay: where it will forward. */
  relay?: RelayReport;
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
    // The role check already read jndi_dir, so this cannot fail on a valid relay configuration.
    ...(role === "relay" ? { relay: relayReport(result.config) } : {}),
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
    if (report.relay) {
      const r = report.relay;
      out.push(`relays region ${r.region} to (${r.jndiDir}):`);
      for (const d of r.destinations) out.push(`  ${d.region}  ${d.factory}  ${d.brokers.join(", ")}`);
    }
    out.push("effective configuration (secrets masked):");
    out.push(JSON.stringify(report.config, null, 2));
    out.push(...bullets("ignored (debug)", report.ignored));
  }
  return `${out.join("\n")}\n`;
}
