import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { GwsyncConfig } from "../config/types.js";
import { GwsyncError } from "../errors.js";
import type { Logger } from "../log.js";
import { connectionSettings, networkEngineOf } from "./connection.js";
import { GitArtifactStore } from "./git/git-store.js";
import { openDriver } from "./check-database.js";
import { SqlArtifactStore, type SqlStoreOptions } from "./sql/sql-store.js";
import { SqliteArtifactStore } from "./sqlite/sqlite-store.js";
import type { ArtifactStore } from "./types.js";

const TYPE_KEY = "database.sync_runtime_artifacts_db.type";
const URL_KEY = "database.sync_runtime_artifacts_db.url";
/** Engines WSO2 documents for this database that gwsync does not implement. */
const UNSUPPORTED_TYPES = new Set(["h2", "oracle", "mssql", "db2"]);
/** WSO2 configures databases by JDBC URL; accept the SQLite driver's form too. */
const JDBC_SQLITE_PREFIX = "jdbc:sqlite:";

export interface OpenStoreOptions {
  readonly?: boolean;
  busyTimeoutMs?: number;
  /** This region's name, reported as the origin of local changes. */
  region?: string;
  /** Where a store logs what it repairs or cannot do (the Git store's recovery and pushes). */
  logger?: Logger;
  /** Tests only (networked engines): see SqlStoreOptions.beforeCommit. */
  beforeCommit?: SqlStoreOptions["beforeCommit"];
}

/** Turn `url` into a SQLite file name: a path, `jdbc:sqlite:<path>`, or `:memory:`. */
export function sqliteFileOf(url: string): string {
  const file = (url.startsWith(JDBC_SQLITE_PREFIX) ? url.slice(JDBC_SQLITE_PREFIX.length) : url).trim();
  if (file === "") {
    throw new GwsyncError(
      "GWSYNC_CONFIG_INVALID",
      `config key ${URL_KEY} must be the SQLite file path (e.g. "./data/artifacts.db"), got ${JSON.stringify(url)}`,
    );
  }
  return file;
}

function makeFolder(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (cause) {
    throw new GwsyncError(
      "GWSYNC_STORE_FAILED",
      `cannot create the store folder ${dir} (${(cause as NodeJS.ErrnoException).code ?? "error"}): fix ${URL_KEY} or the folder's permissions`,
      { cause, retryable: false },
    );
  }
}

/**
 * Open the store `[database.sync_runtime_artifacts_db]` describes. SQLite opens at once; PostgreSQL and
 * MySQL/MariaDB connect and migrate on first use (a failure there is reported by that call, by
 * `health()` and so by /readyz, and the next call tries again).
 */
export function openStore(db: GwsyncConfig["database"], options: OpenStoreOptions = {}): ArtifactStore {
  const type = db.type.trim().toLowerCase();
  if (db.git !== undefined) return openGitStore(db, type, options);
  if (type === "sqlite") {
    const file = sqliteFileOf(db.url);
    // A fresh publisher creates its data folder; a readonly reader must not create anything.
    if (!options.readonly && file !== ":memory:") makeFolder(dirname(file));
    return SqliteArtifactStore.open(file, options);
  }
  if (networkEngineOf(type) !== undefined) return openNetworkStore(db, options);
  if (UNSUPPORTED_TYPES.has(type)) {
    throw new GwsyncError(
      "GWSYNC_CONFIG_INVALID",
      `config key ${TYPE_KEY} = "${db.type}" is not supported: use "postgre", "mysql" or "sqlite" (the embedded store)`,
    );
  }
  throw new GwsyncError(
    "GWSYNC_CONFIG_INVALID",
    `config key ${TYPE_KEY} must be "sqlite", "postgre" (PostgreSQL) or "mysql" (MySQL, MariaDB), got ${JSON.stringify(db.type)}`,
  );
}

/**
 * The Git store: its repository, and the SQLite file of its changelog and outbox. The repository is
 * opened (created, repaired after a crash) at the first write or health check.
 */
function openGitStore(db: GwsyncConfig["database"], type: string, options: OpenStoreOptions): GitArtifactStore {
  const git = db.git!;
  if (type !== "sqlite") {
    throw new GwsyncError(
      "GWSYNC_CONFIG_INVALID",
      `config key ${TYPE_KEY} = "${db.type}": the Git store (artifact_saver = "GitSaver") keeps its changelog in SQLite; set type = "sqlite"`,
    );
  }
  const file = sqliteFileOf(db.url);
  if (file === ":memory:") {
    throw new GwsyncError("GWSYNC_CONFIG_INVALID", `config key ${URL_KEY}: the Git store needs a SQLite file, not :memory:`);
  }
  if (!options.readonly) makeFolder(dirname(file));
  return new GitArtifactStore({
    file,
    git,
    readonly: options.readonly ?? false,
    ...(options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs }),
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
}

/** A PostgreSQL or MySQL/MariaDB store; nothing connects until its first call. */
export function openNetworkStore(
  db: GwsyncConfig["database"],
  options: OpenStoreOptions = {},
): SqlArtifactStore {
  const settings = connectionSettings(db);
  return new SqlArtifactStore(openDriver(settings), {
    readonly: options.readonly ?? false,
    ...(options.region !== undefined ? { region: options.region } : {}),
    ...(options.beforeCommit !== undefined ? { beforeCommit: options.beforeCommit } : {}),
  });
}
