import type { SqlConn } from "../sql/driver.js";

/**
 * MySQL/MariaDB schema, by version. WSO2's two tables keep APIM 3.2.0's names and columns
 * (test/fixtures/wso2/sql/am_gw_tables_apim-3.2.0_mysql.sql, from carbon-apimgt's
 * features/apimgt/org.wso2.carbon.apimgt.core.feature/src/main/resources/sql/mysql.sql), plus 4.x's
 * API_TYPE, added where WSO2 made the table without it. Keys compare byte for byte (utf8mb4_bin) as on
 * SQLite: labels "Default" and "default" are two labels. MySQL 8 has no ADD COLUMN / CREATE INDEX IF
 * NOT EXISTS, so those steps look in information_schema first.
 */
const TABLE = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";

const V1_TABLES = [
  `CREATE TABLE IF NOT EXISTS AM_GW_PUBLISHED_API_DETAILS (
  API_ID varchar(255) NOT NULL,
  TENANT_DOMAIN varchar(255),
  API_PROVIDER varchar(255),
  API_NAME varchar(255),
  API_VERSION varchar(255),
  API_TYPE varchar(50),
  PRIMARY KEY (API_ID),
  KEY GWSYNC_IDX_API_NAME_VERSION (API_NAME, API_VERSION, TENANT_DOMAIN)
) ${TABLE}`,
  `CREATE TABLE IF NOT EXISTS AM_GW_API_ARTIFACTS (
  API_ID varchar(255) NOT NULL,
  ARTIFACT LONGBLOB,
  GATEWAY_INSTRUCTION varchar(20),
  GATEWAY_LABEL varchar(255),
  TIME_STAMP TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (GATEWAY_LABEL, API_ID),
  FOREIGN KEY (API_ID) REFERENCES AM_GW_PUBLISHED_API_DETAILS(API_ID) ON UPDATE CASCADE ON DELETE NO ACTION
) ${TABLE}`,
  `CREATE TABLE IF NOT EXISTS GWSYNC_API_STATE (
  API_ID varchar(255) NOT NULL PRIMARY KEY,
  REVISION bigint NOT NULL
) ${TABLE}`,
  `CREATE TABLE IF NOT EXISTS GWSYNC_LABEL_STATE (
  GATEWAY_LABEL varchar(255) NOT NULL,
  API_ID varchar(255) NOT NULL,
  GATEWAY_INSTRUCTION varchar(20) NOT NULL CHECK (GATEWAY_INSTRUCTION IN ('Publish', 'Remove')),
  REVISION bigint NOT NULL,
  SHA256 char(64) NOT NULL,
  SEQ bigint NOT NULL,
  UPDATED_AT bigint NOT NULL,
  PRIMARY KEY (GATEWAY_LABEL, API_ID)
) ${TABLE}`,
  `CREATE TABLE IF NOT EXISTS GWSYNC_SEQUENCE (
  NAME varchar(64) NOT NULL PRIMARY KEY,
  LAST_SEQ bigint NOT NULL
) ${TABLE}`,
  `INSERT IGNORE INTO GWSYNC_SEQUENCE (NAME, LAST_SEQ) VALUES ('changelog', 0)`,
  `CREATE TABLE IF NOT EXISTS GWSYNC_CHANGELOG (
  SEQ bigint NOT NULL PRIMARY KEY,
  API_ID varchar(255) NOT NULL,
  GATEWAY_LABEL varchar(255) NOT NULL,
  GATEWAY_INSTRUCTION varchar(20) NOT NULL CHECK (GATEWAY_INSTRUCTION IN ('Publish', 'Remove')),
  REVISION bigint NOT NULL,
  SHA256 char(64) NOT NULL,
  ORIGIN_REGION varchar(255),
  ORIGIN_SEQ bigint,
  CREATED_AT bigint NOT NULL,
  SOURCE_COMMIT varchar(64),
  KEY GWSYNC_IDX_CHANGELOG_LABEL_SEQ (GATEWAY_LABEL, SEQ),
  KEY GWSYNC_IDX_CHANGELOG_API (API_ID, REVISION),
  UNIQUE KEY GWSYNC_UQ_CHANGELOG_ORIGIN (ORIGIN_REGION, ORIGIN_SEQ, GATEWAY_LABEL)
) ${TABLE}`,
  `CREATE TABLE IF NOT EXISTS GWSYNC_ARTIFACT_BODIES (
  SHA256 char(64) NOT NULL PRIMARY KEY,
  BODY LONGBLOB NOT NULL
) ${TABLE}`,
  `CREATE TABLE IF NOT EXISTS GWSYNC_OUTBOX (
  ID bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,
  TOPIC varchar(255) NOT NULL,
  MESSAGE_ID varchar(255) NOT NULL,
  BODY LONGBLOB NOT NULL,
  HEADERS mediumtext NOT NULL,
  CREATED_AT bigint NOT NULL,
  ATTEMPTS int NOT NULL DEFAULT 0
) ${TABLE}`,
  `CREATE TABLE IF NOT EXISTS GWSYNC_GATEWAYS (
  NODE_ID varchar(255) NOT NULL PRIMARY KEY,
  REGION varchar(255) NOT NULL,
  LABELS text NOT NULL,
  APPLIED_SEQ bigint NOT NULL,
  DEPLOYED bigint NOT NULL,
  VERSION varchar(255) NOT NULL,
  STATUS varchar(32) NOT NULL,
  INTERVAL_MS bigint NOT NULL,
  LAST_SEEN bigint NOT NULL
) ${TABLE}`,
  `CREATE TABLE IF NOT EXISTS GWSYNC_API_FILES (
  GATEWAY_LABEL varchar(255) NOT NULL,
  PATH_KEY char(64) NOT NULL,
  REL_PATH varchar(1024) NOT NULL,
  API_ID varchar(255) NOT NULL,
  PRIMARY KEY (GATEWAY_LABEL, PATH_KEY),
  KEY GWSYNC_IDX_API_FILES_API (API_ID, GATEWAY_LABEL)
) ${TABLE}`,
];

/** WSO2's own 3.2.0 details table lacks API_TYPE and gwsync's lookup index: add them where missing. */
async function adoptWso2Tables(c: SqlConn): Promise<void> {
  const has = async (sql: string, params: unknown[]) => (await c.query(sql, params)).length > 0;
  if (
    !(await has(
      "SELECT 1 AS HIT FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?",
      ["AM_GW_PUBLISHED_API_DETAILS", "API_TYPE"],
    ))
  ) {
    await c.run("ALTER TABLE AM_GW_PUBLISHED_API_DETAILS ADD COLUMN API_TYPE varchar(50)");
  }
  if (
    !(await has(
      "SELECT 1 AS HIT FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME = ?",
      ["AM_GW_PUBLISHED_API_DETAILS", "GWSYNC_IDX_API_NAME_VERSION"],
    ))
  ) {
    await c.run(
      "CREATE INDEX GWSYNC_IDX_API_NAME_VERSION ON AM_GW_PUBLISHED_API_DETAILS (API_NAME, API_VERSION, TENANT_DOMAIN)",
    );
  }
}

/**
 * MYSQL_MIGRATIONS[n - 1] brings a database from version n-1 to n. MySQL commits DDL at once, so each
 * step is written to be run again safely (IF NOT EXISTS, look before altering) should a node die
 * halfway; GET_LOCK makes one node at a time run them.
 */
export const MYSQL_MIGRATIONS: readonly ((c: SqlConn) => Promise<void>)[] = [
  async (c) => {
    for (const sql of V1_TABLES) await c.run(sql);
    await adoptWso2Tables(c);
  },
  // What each gateway reports it serves and refused (the fleet view), and where its report stream stands.
  async (c) => {
    await c.run(`CREATE TABLE IF NOT EXISTS GWSYNC_GATEWAY_APIS (
      NODE_ID varchar(255) NOT NULL,
      API_ID varchar(255) NOT NULL,
      REVISION bigint,
      SHA256 char(64),
      REFUSED_REVISION bigint,
      REFUSED_CODE varchar(64),
      REFUSED_MESSAGE text,
      REFUSED_AT bigint,
      REPORTED_AT bigint NOT NULL,
      PRIMARY KEY (NODE_ID, API_ID),
      KEY GWSYNC_IDX_GATEWAY_APIS_API (API_ID),
      KEY GWSYNC_IDX_GATEWAY_APIS_REFUSED (REFUSED_AT)
    ) ${TABLE}`);
    await c.run(`CREATE TABLE IF NOT EXISTS GWSYNC_GATEWAY_REPORTS (
      NODE_ID varchar(255) NOT NULL PRIMARY KEY,
      BOOT varchar(255) NOT NULL,
      SEQ bigint NOT NULL,
      COMPLETE smallint NOT NULL,
      SERVED bigint NOT NULL,
      REFUSED bigint NOT NULL,
      UPDATED_AT bigint NOT NULL
    ) ${TABLE}`);
    await c.run(`CREATE TABLE IF NOT EXISTS GWSYNC_REPLICATION_AGREEMENTS (
      AGREEMENT_ID varchar(255) NOT NULL,
      ROLE varchar(16) NOT NULL,
      DOCUMENT mediumtext NOT NULL,
      UPDATED_AT bigint NOT NULL,
      PRIMARY KEY (AGREEMENT_ID, ROLE),
      CHECK (ROLE IN ('consumer', 'supplier'))
    ) ${TABLE}`);
  },
];
