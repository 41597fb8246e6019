import { parse as parseToml } from "smol-toml";
import type { LoadContext } from "./load-context.js";
import { nearest } from "./suggest.js";
import { deletePath, setPath, type TomlTable } from "./toml-doc.js";

/**
 * 12-factor overrides. Each variable writes into the TOML document before validation, so a bad value
 * is reported like a file value, naming the variable. An empty variable counts as unset.
 * Lists (labels, broker URLs) are comma-separated.
 */
export const ENV_KEYS: Readonly<Record<string, string>> = {
  GWSYNC_NODE_ID: "gwsync.node_id",
  GWSYNC_REGION: "gwsync.region",
  GWSYNC_DATA_DIR: "gwsync.data_dir",
  GWSYNC_HTTP_PORT: "gwsync.http_port",
  GWSYNC_HTTP_HOST: "gwsync.http_host",
  GWSYNC_GATEWAY_LABELS: "apim.sync_runtime_artifacts.gateway.gateway_labels",
  GWSYNC_DATA_RETRIEVAL_MODE: "apim.sync_runtime_artifacts.gateway.data_retrieval_mode",
  GWSYNC_DEPLOYMENT_DIR: "apim.sync_runtime_artifacts.gateway.deployment_dir",
  GWSYNC_SERVICE_URL: "apim.event_hub.service_url",
  GWSYNC_BROKER_URLS: "apim.event_hub.event_listening_endpoints",
  GWSYNC_EVENT_HUB_USERNAME: "apim.event_hub.username",
  GWSYNC_EVENT_HUB_PASSWORD: "apim.event_hub.password",
  GWSYNC_EVENT_HUB_PASSWORD_FILE: "apim.event_hub.password_file",
  GWSYNC_HTTP_USERNAME: "gwsync.http.username",
  GWSYNC_HTTP_PASSWORD: "gwsync.http.password",
  GWSYNC_HTTP_PASSWORD_FILE: "gwsync.http.password_file",
  GWSYNC_DATABASE_URL: "database.sync_runtime_artifacts_db.url",
  GWSYNC_DATABASE_USERNAME: "database.sync_runtime_artifacts_db.username",
  GWSYNC_DATABASE_PASSWORD: "database.sync_runtime_artifacts_db.password",
  GWSYNC_DATABASE_PASSWORD_FILE: "database.sync_runtime_artifacts_db.password_file",
  GWSYNC_GIT_STORE_REMOTE_URL: "gwsync.git_store.remote_url",
  GWSYNC_GIT_STORE_USERNAME: "gwsync.git_store.username",
  GWSYNC_GIT_STORE_PASSWORD: "gwsync.git_store.password",
  GWSYNC_GIT_STORE_PASSWORD_FILE: "gwsync.git_store.password_file",
};

/** GWSYNC_CFG__apim__event_hub__username=x sets apim.event_hub.username (double underscore = dot). */
export const GENERIC_PREFIX = "GWSYNC_CFG__";
/**
 * GWSYNC_* variables read elsewhere, so not reported as unknown: log.ts's, and the CLI's configuration
 * file and publisher URL (src/cli/common.ts, src/cli/target.ts).
 */
export const OTHER_KNOWN_ENV: ReadonlySet<string> = new Set([
  "GWSYNC_LOG_LEVEL",
  "GWSYNC_LOG_FORMAT",
  "GWSYNC_CONFIG",
  "GWSYNC_URL",
]);
const SEGMENT = /^[A-Za-z0-9_-]+$/;

/** A generic value that looks like a TOML list is read as one; anything else stays text. */
function genericValue(raw: string): unknown {
  if (!raw.trimStart().startsWith("[")) return raw;
  try {
    return parseToml(`v = ${raw}`).v;
  } catch {
    return raw;
  }
}

/** A value from the environment replaces its sibling password/password_file from the file. */
function dropSibling(doc: TomlTable, path: string): void {
  const segments = path.split(".");
  const last = segments.at(-1);
  const sibling = last === "password" ? "password_file" : last === "password_file" ? "password" : undefined;
  if (sibling !== undefined) deletePath(doc, [...segments.slice(0, -1), sibling]);
}

function apply(doc: TomlTable, ctx: LoadContext, variable: string, path: string, value: unknown): void {
  dropSibling(doc, path);
  const blocked = setPath(doc, path.split("."), value);
  if (blocked !== undefined) {
    ctx.problems.push({
      key: path,
      env: variable,
      message: `${variable} cannot set ${path}: ${blocked} is not a table in the configuration file`,
    });
    return;
  }
  ctx.setOrigin(path, { env: variable });
}

export function applyEnvOverrides(doc: TomlTable, env: NodeJS.ProcessEnv, ctx: LoadContext): void {
  const names = Object.keys(env).filter(
    (n) => n.startsWith("GWSYNC_") && env[n] !== undefined && env[n] !== "",
  );
  for (const variable of names.filter((n) => n.startsWith(GENERIC_PREFIX)).sort()) {
    const segments = variable.slice(GENERIC_PREFIX.length).split("__");
    if (!segments.every((s) => SEGMENT.test(s))) {
      ctx.problems.push({
        key: variable,
        env: variable,
        message: `${variable} must name a key as ${GENERIC_PREFIX}section__key (letters, digits, "_" and "-" between "__")`,
      });
      continue;
    }
    apply(doc, ctx, variable, segments.join("."), genericValue(env[variable]!));
  }
  for (const pair of [
    ["GWSYNC_EVENT_HUB_PASSWORD", "GWSYNC_EVENT_HUB_PASSWORD_FILE"],
    ["GWSYNC_HTTP_PASSWORD", "GWSYNC_HTTP_PASSWORD_FILE"],
  ] as const) {
    if (names.includes(pair[0]) && names.includes(pair[1])) {
      ctx.problems.push({
        key: ENV_KEYS[pair[0]]!,
        env: pair[0],
        message: `${pair[0]} and ${pair[1]} are both set; keep one`,
      });
    }
  }
  for (const variable of names) {
    const path = ENV_KEYS[variable];
    if (path !== undefined) apply(doc, ctx, variable, path, env[variable]);
    else if (!variable.startsWith(GENERIC_PREFIX) && !OTHER_KNOWN_ENV.has(variable)) {
      const near = nearest(variable, [...Object.keys(ENV_KEYS), ...OTHER_KNOWN_ENV]);
      if (near === undefined)
        ctx.debug.push(`environment variable ${variable} is not one gwsync reads; ignored`);
      else
        ctx.suspect(
          variable,
          `is not an environment variable gwsync reads (did you mean ${near}?); it is ignored`,
        );
    }
  }
}
