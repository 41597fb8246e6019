import type Database from "better-sqlite3";
import { GwsyncError } from "../../errors.js";
import { apiFilesOf } from "../api-files.js";

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

/**
 * Which API owns each file a label's gateways write (`api/<name>_v<version>.xml`, `sequences/...`): a
 * gateway refuses a file another API owns, so the publisher refuses to publish one (409) instead of
 * letting two APIs fight over it (docs/production.md, "One file, one API").
 */
const GWSYNC_API_FILES = `
CREATE TABLE IF NOT EXISTS GWSYNC_API_FILES (
  GATEWAY_LABEL TEXT NOT NULL,
  REL_PATH TEXT NOT NULL,
  API_ID TEXT NOT NULL,
  PRIMARY KEY (GATEWAY_LABEL, REL_PATH)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS GWSYNC_IDX_API_FILES_API ON GWSYNC_API_FILES (API_ID, GATEWAY_LABEL);
`;

/**
 * History, rollback and diff (`gwsync history|rollback|diff`): every artifact a revision published is
 * kept once, by its sha256 (a rollback to earlier bytes stores nothing new), and the changelog, which
 * already holds one row per revision and label, names the bytes by SHA256. SOURCE_COMMIT is the commit a
 * GitOps source published the revision from. Filled with the artifacts the store holds today, so the
 * current revision of every API can be diffed against the next one.
 */
const GWSYNC_REVISIONS = `
CREATE TABLE IF NOT EXISTS GWSYNC_ARTIFACT_BODIES (
  SHA256 TEXT NOT NULL PRIMARY KEY,
  BODY BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS GWSYNC_IDX_CHANGELOG_API ON GWSYNC_CHANGELOG (API_ID, REVISION);
INSERT OR IGNORE INTO GWSYNC_ARTIFACT_BODIES (SHA256, BODY)
  SELECT s.SHA256, a.ARTIFACT FROM GWSYNC_LABEL_STATE s
  JOIN AM_GW_API_ARTIFACTS a ON a.GATEWAY_LABEL = s.GATEWAY_LABEL AND a.API_ID = s.API_ID
  WHERE a.ARTIFACT IS NOT NULL;
`;

/**
 * What each gateway reports it serves and refused, per API (src/publisher/gateway-reports.ts), and where
 * its report stream stands. Reports only: the fleet and rollout views compare them with the store.
 */
const GWSYNC_GATEWAY_REPORTS = `
CREATE TABLE IF NOT EXISTS GWSYNC_GATEWAY_APIS (
  NODE_ID TEXT NOT NULL,
  API_ID TEXT NOT NULL,
  REVISION INTEGER,
  SHA256 TEXT,
  REFUSED_REVISION INTEGER,
  REFUSED_CODE TEXT,
  REFUSED_MESSAGE TEXT,
  REFUSED_AT INTEGER,
  REPORTED_AT INTEGER NOT NULL,
  PRIMARY KEY (NODE_ID, API_ID)
) WITHOUT ROWID;
-- The refusals (a few rows among millions): the status page lists them on every refresh.
CREATE INDEX IF NOT EXISTS GWSYNC_IDX_GATEWAY_APIS_REFUSED ON GWSYNC_GATEWAY_APIS (REFUSED_AT)
  WHERE REFUSED_CODE IS NOT NULL;
-- The rollout of one API reads its rows on every label.
CREATE INDEX IF NOT EXISTS GWSYNC_IDX_LABEL_STATE_API ON GWSYNC_LABEL_STATE (API_ID);

CREATE TABLE IF NOT EXISTS GWSYNC_GATEWAY_REPORTS (
  NODE_ID TEXT NOT NULL PRIMARY KEY,
  BOOT TEXT NOT NULL,
  SEQ INTEGER NOT NULL,
  COMPLETE INTEGER NOT NULL,
  SERVED INTEGER NOT NULL,
  REFUSED INTEGER NOT NULL,
  UPDATED_AT INTEGER NOT NULL
);
`;

/** Replication agreements (src/replication/): one JSON document per (id, role), opaque to the store. */
const GWSYNC_REPLICATION = `
CREATE TABLE IF NOT EXISTS GWSYNC_REPLICATION_AGREEMENTS (
  AGREEMENT_ID TEXT NOT NULL,
  ROLE TEXT NOT NULL CHECK (ROLE IN ('consumer', 'supplier')),
  DOCUMENT TEXT NOT NULL,
  UPDATED_AT INTEGER NOT NULL,
  PRIMARY KEY (AGREEMENT_ID, ROLE)
) WITHOUT ROWID;
`;

/** Migrations by target version: MIGRATIONS[n - 1] brings a store from user_version n-1 to n. */
const MIGRATIONS: readonly string[] = [
  WSO2_TABLES + GWSYNC_TABLES,
  GWSYNC_GATEWAYS,
  GWSYNC_API_FILES,
  GWSYNC_REVISIONS,
  GWSYNC_GATEWAY_REPORTS,
  GWSYNC_REPLICATION,
  // No index on GWSYNC_GATEWAY_APIS (API_ID): 200 gateways' full snapshots each dirtied a page of it per
  // row (18,000 rows/s against 160,000 without it, bench B11). One API's rows are read by primary key,
  // once per gateway (NODE_ID IN the report cursors: src/store/gateway-report-rows.ts).
  "DROP INDEX IF EXISTS GWSYNC_IDX_GATEWAY_APIS_API;",
];

/** Work a migration does beyond its SQL, by target version (filling a new table from existing rows). */
const BACKFILLS: Readonly<Record<number, (db: Database.Database) => void>> = {
  3: backfillApiFiles,
  4: addSourceCommit,
};

/** GWSYNC_CHANGELOG.SOURCE_COMMIT, added once (SQLite has no ADD COLUMN IF NOT EXISTS). */
function addSourceCommit(db: Database.Database): void {
  const columns = db.prepare("PRAGMA table_info(GWSYNC_CHANGELOG)").all() as { name: string }[];
  if (!columns.some((c) => c.name === "SOURCE_COMMIT")) {
    db.exec("ALTER TABLE GWSYNC_CHANGELOG ADD COLUMN SOURCE_COMMIT TEXT");
  }
}

/** Published artifacts read per page while filling GWSYNC_API_FILES (memory stays flat). */
const BACKFILL_PAGE = 500;

/**
 * The files of every published artifact. A store may already hold two APIs owning one file on a label
 * (made before the check): the one met first keeps it, the other is refused at its next publish.
 */
function backfillApiFiles(db: Database.Database): void {
  const insert = db.prepare(
    "INSERT OR IGNORE INTO GWSYNC_API_FILES (GATEWAY_LABEL, REL_PATH, API_ID) VALUES (?, ?, ?)",
  );
  const page = db.prepare<[string, string, string, number], { LABEL: string; API_ID: string; BODY: Buffer }>(
    `SELECT GATEWAY_LABEL AS LABEL, API_ID, ARTIFACT AS BODY FROM AM_GW_API_ARTIFACTS
     WHERE GATEWAY_INSTRUCTION = 'Publish' AND (GATEWAY_LABEL > ? OR (GATEWAY_LABEL = ? AND API_ID > ?))
     ORDER BY GATEWAY_LABEL, API_ID LIMIT ?`,
  );
  let after = { label: "", apiId: "" };
  for (;;) {
    const rows = page.all(after.label, after.label, after.apiId, BACKFILL_PAGE);
    for (const row of rows) {
      for (const relPath of apiFilesOf(row.BODY.toString("utf8"))) insert.run(row.LABEL, relPath, row.API_ID);
    }
    const last = rows.at(-1);
    if (last === undefined || rows.length < BACKFILL_PAGE) break;
    after = { label: last.LABEL, apiId: last.API_ID };
  }
}

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
    for (let v = found; v < SCHEMA_VERSION; v++) {
      db.exec(MIGRATIONS[v] ?? "");
      BACKFILLS[v + 1]?.(db);
    }
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
