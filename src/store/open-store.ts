import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { GwsyncConfig } from "../config/types.js";
import { GwsyncError } from "../errors.js";
import { SqliteArtifactStore } from "./sqlite/sqlite-store.js";
import type { ArtifactStore } from "./types.js";

const TYPE_KEY = "database.sync_runtime_artifacts_db.type";
const URL_KEY = "database.sync_runtime_artifacts_db.url";
/** Engines WSO2 documents for this database; gwsync will implement ArtifactStore for them later. */
const PLANNED_TYPES = new Set(["mysql", "postgresql", "postgres", "h2", "oracle", "mssql"]);
/** WSO2 configures databases by JDBC URL; accept the SQLite driver's form too. */
const JDBC_SQLITE_PREFIX = "jdbc:sqlite:";

export interface OpenStoreOptions {
  readonly?: boolean;
  busyTimeoutMs?: number;
  /** This region's name, reported as the origin of local changes. */
  region?: string;
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

/** Open the store `[database.sync_runtime_artifacts_db]` describes. */
export function openStore(db: GwsyncConfig["database"], options: OpenStoreOptions = {}): ArtifactStore {
  const type = db.type.trim().toLowerCase();
  if (type === "sqlite") {
    const file = sqliteFileOf(db.url);
    // A fresh publisher creates its data folder; a readonly reader must not create anything.
    if (!options.readonly && file !== ":memory:") makeFolder(dirname(file));
    return SqliteArtifactStore.open(file, options);
  }
  if (PLANNED_TYPES.has(type)) {
    throw new GwsyncError(
      "GWSYNC_CONFIG_INVALID",
      `config key ${TYPE_KEY} = "${db.type}" is not supported yet, use "sqlite" (the embedded store)`,
    );
  }
  throw new GwsyncError(
    "GWSYNC_CONFIG_INVALID",
    `config key ${TYPE_KEY} must be "sqlite" (mysql, postgresql and h2 are planned), got ${JSON.stringify(db.type)}`,
  );
}
