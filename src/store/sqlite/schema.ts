import type Database from "better-sqlite3";
import { GwsyncError } from "../../errors.js";

/**
 * WSO2's two tables keep APIM 3.2.0's names and columns (docs/wso2-formats.md §2.1), plus 4.x's API_TYPE on
 * the details table, so existing scripts and people recognise them. SQLite has no ON UPDATE clause:
 * the store sets TIME_STAMP on every write. Everything gwsync adds lives in GWSYNC_* tables.
 */
const WSO2_TABLES = `
CREATE TABLE IF NOT EXISTS AM_GW_PUBLISHED_API_DETAILS (
  API_ID varchar(255) NOT NULL,
  TENANT_DOMAIN varchar(255),
  API_PROVIDER varchar(255),
  API_NAME varchar(255),
  API_VERSION varchar(255),
  API_TYPE varchar(50),
  PRIMARY KEY (API_ID)
);

CREATE TABLE IF NOT EXISTS AM_GW_API_ARTIFACTS (
  API_ID varchar(255) NOT NULL,
  ARTIFACT blob,
  GATEWAY_INSTRUCTION varchar(20),
  GATEWAY_LABEL varchar(255),
  TIME_STAMP TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (GATEWAY_LABEL, API_ID),
  FOREIGN KEY (API_ID) REFERENCES AM_GW_PUBLISHED_API_DETAILS(API_ID) ON UPDATE CASCADE ON DELETE NO ACTION
);

-- WSO2's GET_API_ID looks an API up by name, version and tenant.
CREATE INDEX IF NOT EXISTS GWSYNC_IDX_API_NAME_VERSION
  ON AM_GW_PUBLISHED_API_DETAILS (API_NAME, API_VERSION, TENANT_DOMAIN);
`;

/**
 * GWSYNC_API_STATE: the per-API revision counter (one publish to two labels is one revision).
 * GWSYNC_LABEL_STATE: gwsync's facts about each AM_GW_API_ARTIFACTS row. The instruction is copied here
 * so that metadata listings never touch AM_GW_API_ARTIFACTS, whose columns after the ARTIFACT blob can
 * only be reached by walking the blob's overflow pages.
 */
const GWSYNC_TABLES = `
CREATE TABLE IF NOT EXISTS GWSYNC_API_STATE (
  API_ID TEXT NOT NULL PRIMARY KEY,
  REVISION INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS GWSYNC_LABEL_STATE (
  GATEWAY_LABEL TEXT NOT NULL,
  API_ID TEXT NOT NULL,
  GATEWAY_INSTRUCTION TEXT NOT NULL CHECK (GATEWAY_INSTRUCTION IN ('Publish', 'Remove')),
  REVISION INTEGER NOT NULL,
  SHA256 TEXT NOT NULL,
  SEQ INTEGER NOT NULL,
  UPDATED_AT INTEGER NOT NULL,
  PRIMARY KEY (GATEWAY_LABEL, API_ID)
) WITHOUT ROWID;

-- ORIGIN_REGION and ORIGIN_SEQ are NULL for local changes (NULLs never collide in a UNIQUE index).
CREATE TABLE IF NOT EXISTS GWSYNC_CHANGELOG (
  SEQ INTEGER PRIMARY KEY AUTOINCREMENT,
  API_ID TEXT NOT NULL,
  GATEWAY_LABEL TEXT NOT NULL,
  GATEWAY_INSTRUCTION TEXT NOT NULL CHECK (GATEWAY_INSTRUCTION IN ('Publish', 'Remove')),
  REVISION INTEGER NOT NULL,
  SHA256 TEXT NOT NULL,
  ORIGIN_REGION TEXT,
  ORIGIN_SEQ INTEGER,
  CREATED_AT INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS GWSYNC_IDX_CHANGELOG_LABEL_SEQ ON GWSYNC_CHANGELOG (GATEWAY_LABEL, SEQ);
CREATE UNIQUE INDEX IF NOT EXISTS GWSYNC_UQ_CHANGELOG_ORIGIN
  ON GWSYNC_CHANGELOG (ORIGIN_REGION, ORIGIN_SEQ, GATEWAY_LABEL);

CREATE TABLE IF NOT EXISTS GWSYNC_OUTBOX (
  ID INTEGER PRIMARY KEY AUTOINCREMENT,
  TOPIC TEXT NOT NULL,
  MESSAGE_ID TEXT NOT NULL,
  BODY BLOB NOT NULL,
  HEADERS TEXT NOT NULL,
  CREATED_AT INTEGER NOT NULL,
  ATTEMPTS INTEGER NOT NULL DEFAULT 0
);
`;

/** Gateways seen through their AMQP heartbeats (`gwsync status`): the latest beat of each node. */
const GWSYNC_GATEWAYS = `
CREATE TABLE IF NOT EXISTS GWSYNC_GATEWAYS (
  NODE_ID TEXT NOT NULL PRIMARY KEY,
  REGION TEXT NOT NULL,
  LABELS TEXT NOT NULL,
  APPLIED_SEQ INTEGER NOT NULL,
  DEPLOYED INTEGER NOT NULL,
  VERSION TEXT NOT NULL,
  STATUS TEXT NOT NULL,
  INTERVAL_MS INTEGER NOT NULL,
  LAST_SEEN INTEGER NOT NULL
);
`;

/** Migrations by target version: MIGRATIONS[n - 1] brings a store from user_version n-1 to n. */
const MIGRATIONS: readonly string[] = [WSO2_TABLES + GWSYNC_TABLES, GWSYNC_GATEWAYS];

/** The schema version this code writes and reads, kept in `PRAGMA user_version`. */
export const SCHEMA_VERSION = MIGRATIONS.length;

function userVersion(db: Database.Database): number {
  return db.pragma("user_version", { simple: true }) as number;
}

function newerSchemaError(file: string, found: number): GwsyncError {
  return new GwsyncError(
    "GWSYNC_STORE_FAILED",
    `store ${file} has schema version ${found}, newer than this gwsync's ${SCHEMA_VERSION}: upgrade gwsync`,
    { retryable: false, details: { file, found, expected: SCHEMA_VERSION } },
  );
}

/** Bring a writable store up to SCHEMA_VERSION in one transaction (all migrations or none). */
export function migrate(db: Database.Database, file: string): void {
  const run = db.transaction(() => {
    const found = userVersion(db);
    if (found > SCHEMA_VERSION) throw newerSchemaError(file, found);
    for (let v = found; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v] ?? "");
    if (found !== SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
  });
  run.immediate();
}

/** A readonly store cannot migrate: refuse a file that is not exactly this schema version. */
export function checkSchema(db: Database.Database, file: string): void {
  const found = userVersion(db);
  if (found === SCHEMA_VERSION) return;
  if (found > SCHEMA_VERSION) throw newerSchemaError(file, found);
  throw new GwsyncError(
    "GWSYNC_STORE_FAILED",
    found === 0
      ? `${file} is not a gwsync store (no schema): start the publisher on it first`
      : `store ${file} has schema version ${found}, older than ${SCHEMA_VERSION}: start the publisher once to migrate it`,
    { retryable: false, details: { file, found, expected: SCHEMA_VERSION } },
  );
}
