import { GwsyncError } from "../errors.js";

const TYPE_KEY = "database.sync_runtime_artifacts_db.type";
const URL_KEY = "database.sync_runtime_artifacts_db.url";

/** The networked engines gwsync stores artifacts in, by what `type` says. */
export type NetworkEngine = "postgresql" | "mysql";

/**
 * WSO2's `type` values (deployment.toml: "postgre" for PostgreSQL, "mysql" for MySQL and MariaDB),
 * and the spellings people also write.
 */
const ENGINE_OF_TYPE: Readonly<Record<string, NetworkEngine>> = {
  postgre: "postgresql",
  postgres: "postgresql",
  postgresql: "postgresql",
  mysql: "mysql",
  mariadb: "mysql",
};

/** URL schemes each engine accepts, with and without WSO2's `jdbc:` prefix. */
const SCHEMES: Readonly<Record<NetworkEngine, readonly string[]>> = {
  postgresql: ["postgresql:", "postgres:"],
  mysql: ["mysql:", "mariadb:"],
};
const DEFAULT_PORT: Readonly<Record<NetworkEngine, number>> = { postgresql: 5432, mysql: 3306 };

/**
 * WSO2's `[database.<name>.pool_options]` (Tomcat JDBC pool attribute names, as WSO2 documents them)
 * that have a counterpart in gwsync's drivers. Others (validationQuery, testOnBorrow,
 * defaultAutoCommit...) are accepted and have no effect: the drivers check connections themselves.
 */
export interface PoolOptions {
  /** maxActive: most connections open at once. */
  max: number;
  /** minIdle: connections kept open when idle (PostgreSQL). */
  minIdle: number;
  /** maxWait: how long to wait for a connection, in ms. */
  maxWaitMs: number;
}

export const DEFAULT_POOL: PoolOptions = { max: 10, minIdle: 0, maxWaitMs: 30_000 };

/** Where and how to connect, whatever the URL's form. */
export interface ConnectionSettings {
  engine: NetworkEngine;
  host: string;
  port: number;
  database: string;
  user: string | undefined;
  password: string | undefined;
  /** TLS asked for by the URL (sslmode=require, ssl=true, useSSL=true, sslMode=REQUIRED). */
  ssl: boolean;
  /** PostgreSQL: currentSchema=... (JDBC), the schema the tables live in. */
  schema: string | undefined;
  pool: PoolOptions;
  /** URL parameters gwsync does not map (JDBC driver tuning): named by `config check`. */
  ignoredParams: string[];
  /** The URL without its password (logs, status, /readyz). */
  location: string;
}

/** The networked engine `type` names, or undefined for SQLite and types gwsync does not implement. */
export function networkEngineOf(type: string): NetworkEngine | undefined {
  return ENGINE_OF_TYPE[type.trim().toLowerCase()];
}

function invalid(message: string): GwsyncError {
  return new GwsyncError("GWSYNC_CONFIG_INVALID", message);
}

function positiveInt(value: unknown, key: string): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
    throw invalid(
      `config key database.sync_runtime_artifacts_db.pool_options.${key} must be a non-negative integer, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/** WSO2's pool options that gwsync maps; the rest are left to the drivers. */
export function poolOptionsOf(raw: Record<string, unknown> | undefined): PoolOptions {
  const max = positiveInt(raw?.maxActive, "maxActive") ?? DEFAULT_POOL.max;
  return {
    max: Math.max(2, max),
    minIdle: Math.min(max, positiveInt(raw?.minIdle, "minIdle") ?? DEFAULT_POOL.minIdle),
    maxWaitMs: positiveInt(raw?.maxWait, "maxWait") ?? DEFAULT_POOL.maxWaitMs,
  };
}

const TRUE = new Set(["true", "1", "yes"]);

/** TLS from the URL parameters each driver family documents. */
function sslOf(engine: NetworkEngine, params: URLSearchParams): boolean {
  if (engine === "postgresql") {
    const mode = params.get("sslmode")?.toLowerCase();
    if (mode !== undefined) return ["require", "verify-ca", "verify-full"].includes(mode);
    return TRUE.has(params.get("ssl")?.toLowerCase() ?? "");
  }
  const mode = params.get("sslMode")?.toUpperCase();
  if (mode !== undefined) return ["REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY"].includes(mode);
  return (
    TRUE.has(params.get("useSSL")?.toLowerCase() ?? "") ||
    TRUE.has(params.get("requireSSL")?.toLowerCase() ?? "")
  );
}

const MAPPED_PARAMS = new Set([
  "sslmode",
  "ssl",
  "sslMode",
  "useSSL",
  "requireSSL",
  "currentSchema",
  "user",
  "password",
]);

/**
 * Read a database URL as WSO2 writes it (`jdbc:postgresql://host:5432/db`,
 * `jdbc:mysql://host:3306/db?useSSL=false`) or as the drivers do (`postgres://user:pass@host/db`,
 * `mysql://...`). `username`/`password` from the section win over the URL's.
 */
export function connectionSettings(db: {
  type: string;
  url: string;
  username?: string;
  password?: string;
  poolOptions?: Record<string, unknown>;
}): ConnectionSettings {
  const engine = networkEngineOf(db.type);
  if (engine === undefined) {
    throw invalid(
      `config key ${TYPE_KEY} = ${JSON.stringify(db.type)} is not a networked engine (postgre, mysql)`,
    );
  }
  const text = db.url.trim();
  const bare = text.toLowerCase().startsWith("jdbc:") ? text.slice("jdbc:".length) : text;
  let url: URL;
  try {
    url = new URL(bare);
  } catch {
    throw invalid(
      `config key ${URL_KEY} must be a ${engine === "postgresql" ? "jdbc:postgresql://host:5432/database" : "jdbc:mysql://host:3306/database"} URL, got ${JSON.stringify(db.url)}`,
    );
  }
  if (!SCHEMES[engine].includes(url.protocol.toLowerCase())) {
    throw invalid(
      `config key ${URL_KEY} is a ${url.protocol.replace(/:$/, "")} URL, but ${TYPE_KEY} = "${db.type}" needs ${SCHEMES[engine].map((s) => `jdbc:${s}//`).join(" or ")}`,
    );
  }
  const database = decodeURIComponent(url.pathname.replace(/^\//, ""));
  if (url.hostname === "" || database === "" || database.includes("/")) {
    throw invalid(
      `config key ${URL_KEY} must name a host and a database (…//host:port/database), got ${JSON.stringify(db.url)}`,
    );
  }
  const params = url.searchParams;
  const user =
    db.username ??
    (url.username !== "" ? decodeURIComponent(url.username) : (params.get("user") ?? undefined));
  const password =
    db.password ??
    (url.password !== "" ? decodeURIComponent(url.password) : (params.get("password") ?? undefined));
  const port = url.port === "" ? DEFAULT_PORT[engine] : Number(url.port);
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const schema = engine === "postgresql" ? (params.get("currentSchema") ?? undefined) : undefined;
  const scheme = engine === "postgresql" ? "postgresql" : "mysql";
  const who = user === undefined ? "" : `${encodeURIComponent(user)}@`;
  return {
    engine,
    host,
    port,
    database,
    user,
    password,
    ssl: sslOf(engine, params),
    schema,
    pool: poolOptionsOf(db.poolOptions),
    ignoredParams: [...params.keys()].filter((k) => !MAPPED_PARAMS.has(k)),
    location: `${scheme}://${who}${url.host}/${encodeURIComponent(database)}${schema ? `?currentSchema=${schema}` : ""}`,
  };
}
