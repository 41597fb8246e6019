import type { GwsyncConfig } from "../config/types.js";
import { isGwsyncError } from "../errors.js";
import { type ConnectionSettings, connectionSettings, networkEngineOf } from "./connection.js";
import { MysqlDriver } from "./mysql/mysql-driver.js";
import { PgDriver } from "./postgres/pg-driver.js";
import type { SqlDriver } from "./sql/driver.js";

/** The driver of a networked engine (nothing connects until its first statement). */
export function openDriver(settings: ConnectionSettings): SqlDriver {
  return settings.engine === "postgresql" ? new PgDriver(settings) : new MysqlDriver(settings);
}

/** What `gwsync config check` reports about a PostgreSQL or MySQL database. */
export interface DatabaseCheck {
  engine: string;
  location: string;
  ok: boolean;
  latencyMs: number;
  /** The gwsync schema version found (0: none yet; the first publisher creates it). */
  schemaVersion: number;
  expectedVersion: number;
  detail: string;
  /** URL parameters gwsync does not map. */
  ignoredParams: string[];
}

/**
 * Connect to the configured database and read its gwsync schema version, changing nothing. Undefined
 * for SQLite (a file: the publisher creates it). Never throws: a failure is the report's detail.
 */
export async function checkDatabase(db: GwsyncConfig["database"]): Promise<DatabaseCheck | undefined> {
  if (networkEngineOf(db.type) === undefined) return undefined;
  const settings = connectionSettings(db);
  const driver = openDriver(settings);
  const base = {
    engine: settings.engine,
    location: settings.location,
    expectedVersion: driver.latestVersion,
    ignoredParams: settings.ignoredParams,
  };
  const t0 = performance.now();
  try {
    const found = await driver.schemaVersion();
    const latencyMs = performance.now() - t0;
    const detail =
      found === 0
        ? "connected; no gwsync schema yet (the first publisher creates it)"
        : found === driver.latestVersion
          ? `connected; gwsync schema version ${found}`
          : found < driver.latestVersion
            ? `connected; gwsync schema version ${found} (a publisher of this version migrates it to ${driver.latestVersion})`
            : `connected; gwsync schema version ${found} is newer than this gwsync's ${driver.latestVersion}: upgrade gwsync`;
    return { ...base, ok: found <= driver.latestVersion, latencyMs, schemaVersion: found, detail };
  } catch (err) {
    const mapped = isGwsyncError(err) ? err : driver.toStoreError(err, "config check");
    return {
      ...base,
      ok: false,
      latencyMs: performance.now() - t0,
      schemaVersion: 0,
      detail: (mapped as Error).message,
    };
  } finally {
    await driver.close().catch(() => undefined);
  }
}
