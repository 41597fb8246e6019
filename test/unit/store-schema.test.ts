import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, test } from "node:test";
import Database from "better-sqlite3";
import { isGwsyncError } from "../../src/errors.js";
import { SCHEMA_VERSION } from "../../src/store/sqlite/schema.js";
import { SqliteArtifactStore } from "../../src/store/sqlite/sqlite-store.js";
import { tempDir } from "../harness/temp-dir.js";

const SQL_DIR = new URL("../fixtures/wso2/sql/", import.meta.url);

/** Column names of each CREATE TABLE in a WSO2 DDL file, in declaration order. */
function ddlColumns(file: string): Map<string, string[]> {
  const sql = fs.readFileSync(new URL(file, SQL_DIR), "utf8");
  const tables = new Map<string, string[]>();
  for (const m of sql.matchAll(/CREATE TABLE IF NOT EXISTS (\w+)\s*\(([\s\S]*?)\n\)/g)) {
    const columns = m[2]!
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line !== "" && !/^(PRIMARY|FOREIGN|UNIQUE|CONSTRAINT)\b/i.test(line))
      .map((line) => line.split(/\s+/)[0]!.toUpperCase());
    tables.set(m[1]!.toUpperCase(), columns);
  }
  return tables;
}

interface ColumnInfo {
  name: string;
  type: string;
  notnull: number;
  pk: number;
}

const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const fn of cleanup.splice(0)) fn();
});

function freshFile(): string {
  const dir = tempDir("gwsync-schema-");
  return path.join(dir, "artifacts.db");
}

function inspect(file: string): Database.Database {
  SqliteArtifactStore.open(file).closeSync();
  const db = new Database(file, { readonly: true });
  cleanup.push(() => db.close());
  return db;
}

function columnsOf(db: Database.Database, table: string): ColumnInfo[] {
  return db.prepare(`PRAGMA table_info(${table})`).all() as ColumnInfo[];
}

describe("schema", () => {
  test("AM_GW_API_ARTIFACTS has exactly WSO2 3.2.0's columns and primary key (GATEWAY_LABEL, API_ID)", () => {
    const wso2 = ddlColumns("am_gw_tables_apim-3.2.0_h2.sql");
    const db = inspect(freshFile());
    const cols = columnsOf(db, "AM_GW_API_ARTIFACTS");
    assert.deepEqual(
      cols.map((c) => c.name),
      wso2.get("AM_GW_API_ARTIFACTS"),
    );
    const pk = cols.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk);
    assert.deepEqual(
      pk.map((c) => c.name),
      ["GATEWAY_LABEL", "API_ID"],
    );
    assert.equal(cols.find((c) => c.name === "ARTIFACT")?.type.toUpperCase(), "BLOB");
    const fks = db.prepare("PRAGMA foreign_key_list(AM_GW_API_ARTIFACTS)").all() as Array<
      Record<string, string>
    >;
    assert.deepEqual(
      fks.map((f) => [f.table, f.from, f.to, f.on_update, f.on_delete]),
      [["AM_GW_PUBLISHED_API_DETAILS", "API_ID", "API_ID", "CASCADE", "NO ACTION"]],
    );
  });

  test("AM_GW_PUBLISHED_API_DETAILS has WSO2 3.2.0's columns plus 4.x's API_TYPE, in WSO2's order", () => {
    const v320 = ddlColumns("am_gw_tables_apim-3.2.0_h2.sql").get("AM_GW_PUBLISHED_API_DETAILS");
    const v4 = ddlColumns("am_gw_tables_apim-4.x-master_h2.sql").get("AM_GW_PUBLISHED_API_DETAILS");
    assert.deepEqual(v4, [...(v320 ?? []), "API_TYPE"], "fixture sanity: 4.x only adds API_TYPE");
    const cols = columnsOf(inspect(freshFile()), "AM_GW_PUBLISHED_API_DETAILS");
    assert.deepEqual(
      cols.map((c) => c.name),
      v4,
    );
    assert.deepEqual(
      cols.filter((c) => c.pk > 0).map((c) => c.name),
      ["API_ID"],
    );
  });

  test("the 3.2.0 column lists agree across WSO2's H2, MySQL and PostgreSQL scripts", () => {
    const h2 = ddlColumns("am_gw_tables_apim-3.2.0_h2.sql");
    for (const other of ["am_gw_tables_apim-3.2.0_mysql.sql", "am_gw_tables_apim-3.2.0_postgresql.sql"]) {
      const t = ddlColumns(other);
      for (const table of ["AM_GW_PUBLISHED_API_DETAILS", "AM_GW_API_ARTIFACTS"]) {
        assert.deepEqual(t.get(table), h2.get(table), `${other} ${table}`);
      }
    }
  });

  test("gwsync's own facts live in GWSYNC_* tables with the changelog and outbox columns", () => {
    const db = inspect(freshFile());
    const tables = (
      db
        .prepare(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .all() as {
        name: string;
      }[]
    ).map((t) => t.name);
    assert.deepEqual(tables, [
      "AM_GW_API_ARTIFACTS",
      "AM_GW_PUBLISHED_API_DETAILS",
      "GWSYNC_API_FILES",
      "GWSYNC_API_STATE",
      "GWSYNC_ARTIFACT_BODIES",
      "GWSYNC_CHANGELOG",
      "GWSYNC_GATEWAYS",
      "GWSYNC_GATEWAY_APIS",
      "GWSYNC_GATEWAY_REPORTS",
      "GWSYNC_LABEL_STATE",
      "GWSYNC_OUTBOX",
      "GWSYNC_REPLICATION_AGREEMENTS",
    ]);
    assert.deepEqual(
      columnsOf(db, "GWSYNC_CHANGELOG").map((c) => c.name),
      [
        "SEQ",
        "API_ID",
        "GATEWAY_LABEL",
        "GATEWAY_INSTRUCTION",
        "REVISION",
        "SHA256",
        "ORIGIN_REGION",
        "ORIGIN_SEQ",
        "CREATED_AT",
        "SOURCE_COMMIT",
      ],
    );
    assert.deepEqual(
      columnsOf(db, "GWSYNC_OUTBOX").map((c) => c.name),
      ["ID", "TOPIC", "MESSAGE_ID", "BODY", "HEADERS", "CREATED_AT", "ATTEMPTS"],
    );
    const indexes = db.prepare("PRAGMA index_list(GWSYNC_CHANGELOG)").all() as {
      name: string;
      unique: number;
    }[];
    const byName = new Map(indexes.map((i) => [i.name, i.unique]));
    assert.equal(byName.get("GWSYNC_IDX_CHANGELOG_LABEL_SEQ"), 0);
    assert.equal(byName.get("GWSYNC_UQ_CHANGELOG_ORIGIN"), 1);
    assert.equal(byName.get("GWSYNC_IDX_CHANGELOG_API"), 0, "history reads an API's rows by API and revision");
    const uq = db.prepare("PRAGMA index_info(GWSYNC_UQ_CHANGELOG_ORIGIN)").all() as { name: string }[];
    assert.deepEqual(
      uq.map((c) => c.name),
      ["ORIGIN_REGION", "ORIGIN_SEQ", "GATEWAY_LABEL"],
    );
  });

  test("the store runs in WAL mode and records its schema version in user_version", () => {
    const db = inspect(freshFile());
    assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
    assert.equal(db.pragma("user_version", { simple: true }), SCHEMA_VERSION);
  });

  test("a store written by a newer gwsync is refused, not migrated down", () => {
    const file = freshFile();
    SqliteArtifactStore.open(file).closeSync();
    const raw = new Database(file);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    for (const readonly of [false, true]) {
      assert.throws(
        () => SqliteArtifactStore.open(file, { readonly }),
        (err: unknown) =>
          isGwsyncError(err, "GWSYNC_STORE_FAILED") &&
          /newer/.test(err.message) &&
          /upgrade gwsync/.test(err.message),
      );
    }
  });

  test("a readonly open of a file that is not a gwsync store, or does not exist, says so", () => {
    const file = freshFile();
    new Database(file).close();
    assert.throws(
      () => SqliteArtifactStore.open(file, { readonly: true }),
      (err: unknown) => isGwsyncError(err, "GWSYNC_STORE_FAILED") && /not a gwsync store/.test(err.message),
    );
    assert.throws(
      () => SqliteArtifactStore.open(`${file}.missing`, { readonly: true }),
      (err: unknown) => isGwsyncError(err, "GWSYNC_STORE_FAILED") && err.message.includes(`${file}.missing`),
    );
    assert.equal(fs.existsSync(`${file}.missing`), false, "a readonly open creates nothing");
  });

  test("a file that is not SQLite at all is a clear GWSYNC_STORE_FAILED", () => {
    const file = freshFile();
    fs.writeFileSync(file, "this is not a database, just some text that is long enough".repeat(100));
    assert.throws(
      () => SqliteArtifactStore.open(file),
      (err: unknown) => isGwsyncError(err, "GWSYNC_STORE_FAILED") && /SQLITE_NOTADB/.test(err.message),
    );
  });
});
