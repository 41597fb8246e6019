import Database from "better-sqlite3";
import type { GwsyncConfig } from "../config/types.js";
import { GwsyncError } from "../errors.js";
import { openDriver } from "./check-database.js";
import { connectionSettings } from "./connection.js";
import { sha256Hex } from "./save-input.js";
import type { SqlConn } from "./sql/driver.js";
import { SCHEMA_VERSION } from "./sqlite/schema.js";

/** Rows per INSERT while copying. */
const BATCH = 200;

/** What `gwsync store migrate` copied, table by table. */
export interface MigrateReport {
  from: string;
  to: string;
  rows: Record<string, number>;
  /** The changelog sequence the destination continues from (the source's highest ever given). */
  lastSeq: number;
}

interface TableCopy {
  table: string;
  /** SELECT on the SQLite source, in the order rows are written. */
  select: string;
  columns: readonly string[];
  /** Map one source row to the destination's values, in `columns` order. */
  values: (r: Record<string, unknown>) => unknown[];
}

const pick =
  (...cols: string[]) =>
  (r: Record<string, unknown>) =>
    cols.map((c) => r[c] ?? null);

/** Parents before children (foreign keys); the outbox keeps its order, with new ids. */
const TABLES: readonly TableCopy[] = [
  {
    table: "AM_GW_PUBLISHED_API_DETAILS",
    select: "SELECT * FROM AM_GW_PUBLISHED_API_DETAILS ORDER BY API_ID",
    columns: ["API_ID", "TENANT_DOMAIN", "API_PROVIDER", "API_NAME", "API_VERSION", "API_TYPE"],
    values: pick("API_ID", "TENANT_DOMAIN", "API_PROVIDER", "API_NAME", "API_VERSION", "API_TYPE"),
  },
  {
    table: "AM_GW_API_ARTIFACTS",
    select: "SELECT * FROM AM_GW_API_ARTIFACTS ORDER BY GATEWAY_LABEL, API_ID",
    columns: ["API_ID", "ARTIFACT", "GATEWAY_INSTRUCTION", "GATEWAY_LABEL", "TIME_STAMP"],
    values: pick("API_ID", "ARTIFACT", "GATEWAY_INSTRUCTION", "GATEWAY_LABEL", "TIME_STAMP"),
  },
  {
    table: "GWSYNC_API_STATE",
    select: "SELECT * FROM GWSYNC_API_STATE ORDER BY API_ID",
    columns: ["API_ID", "REVISION"],
    values: pick("API_ID", "REVISION"),
  },
  {
    table: "GWSYNC_LABEL_STATE",
    select: "SELECT * FROM GWSYNC_LABEL_STATE ORDER BY GATEWAY_LABEL, API_ID",
    columns: ["GATEWAY_LABEL", "API_ID", "GATEWAY_INSTRUCTION", "REVISION", "SHA256", "SEQ", "UPDATED_AT"],
    values: pick("GATEWAY_LABEL", "API_ID", "GATEWAY_INSTRUCTION", "REVISION", "SHA256", "SEQ", "UPDATED_AT"),
  },
  {
    table: "GWSYNC_CHANGELOG",
    select: "SELECT * FROM GWSYNC_CHANGELOG ORDER BY SEQ",
    columns: [
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
    values: pick(
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
    ),
  },
  {
    table: "GWSYNC_ARTIFACT_BODIES",
    select: "SELECT * FROM GWSYNC_ARTIFACT_BODIES ORDER BY SHA256",
    columns: ["SHA256", "BODY"],
    values: pick("SHA256", "BODY"),
  },
  {
    table: "GWSYNC_OUTBOX",
    select: "SELECT * FROM GWSYNC_OUTBOX ORDER BY ID",
    columns: ["TOPIC", "MESSAGE_ID", "BODY", "HEADERS", "CREATED_AT", "ATTEMPTS"],
    values: pick("TOPIC", "MESSAGE_ID", "BODY", "HEADERS", "CREATED_AT", "ATTEMPTS"),
  },
  {
    table: "GWSYNC_GATEWAYS",
    select: "SELECT * FROM GWSYNC_GATEWAYS ORDER BY NODE_ID",
    columns: [
      "NODE_ID",
      "REGION",
      "LABELS",
      "APPLIED_SEQ",
      "DEPLOYED",
      "VERSION",
      "STATUS",
      "INTERVAL_MS",
      "LAST_SEEN",
    ],
    values: pick(
      "NODE_ID",
      "REGION",
      "LABELS",
      "APPLIED_SEQ",
      "DEPLOYED",
      "VERSION",
      "STATUS",
      "INTERVAL_MS",
      "LAST_SEEN",
    ),
  },
  {
    table: "GWSYNC_API_FILES",
    select: "SELECT * FROM GWSYNC_API_FILES ORDER BY GATEWAY_LABEL, REL_PATH",
    columns: ["GATEWAY_LABEL", "PATH_KEY", "REL_PATH", "API_ID"],
    values: (r) => [r.GATEWAY_LABEL, sha256Hex(String(r.REL_PATH)), r.REL_PATH, r.API_ID],
  },
];

/** Tables that must be empty in the destination: migrate never merges two stores. */
const MUST_BE_EMPTY = ["GWSYNC_CHANGELOG", "GWSYNC_LABEL_STATE", "GWSYNC_OUTBOX", "AM_GW_API_ARTIFACTS"];

function usage(message: string): GwsyncError {
  return new GwsyncError("GWSYNC_USAGE", message);
}

/** `sqlite:<path>` or `jdbc:sqlite:<path>` → the path. */
export function sqlitePathOf(spec: string): string | undefined {
  const m = /^(?:jdbc:)?sqlite:(.+)$/.exec(spec.trim());
  return m?.[1];
}

/**
 * Copy a region's SQLite store into an empty PostgreSQL or MySQL/MariaDB database, keeping every
 * sequence number, revision, origin and pending outbox row, in one destination transaction (all or
 * nothing). The destination's changelog continues from the source's highest sequence number ever
 * given, so gateways and relays keep their cursors. Stop the publisher first: the source is read as
 * it is when the copy starts.
 */
export async function migrateStore(fromSqlite: string, to: GwsyncConfig["database"]): Promise<MigrateReport> {
  let src: Database.Database;
  try {
    src = new Database(fromSqlite, { readonly: true, fileMustExist: true });
  } catch (cause) {
    throw new GwsyncError(
      "GWSYNC_STORE_FAILED",
      `cannot open ${fromSqlite} readonly: ${(cause as Error).message}`,
      {
        cause,
        retryable: false,
      },
    );
  }
  const settings = connectionSettings(to);
  const driver = openDriver(settings);
  try {
    const version = src.pragma("user_version", { simple: true }) as number;
    if (version !== SCHEMA_VERSION) {
      throw usage(
        version === 0
          ? `${fromSqlite} is not a gwsync store`
          : `${fromSqlite} has schema version ${version}; this gwsync copies version ${SCHEMA_VERSION}: start this gwsync's publisher on it once first`,
      );
    }
    // One snapshot of the source for the whole copy.
    src.exec("BEGIN");
    try {
      await driver.migrate();
    } catch (err) {
      throw driver.toStoreError(err, "store migrate");
    }
    const tx = await driver.begin();
    try {
      for (const table of MUST_BE_EMPTY) {
        const n = Number((await tx.conn.query(`SELECT COUNT(*) AS N FROM ${table}`))[0]?.N ?? 0);
        if (n > 0) {
          throw usage(
            `${settings.location} already holds ${n} rows in ${table}: migrate into an empty database (nothing was copied)`,
          );
        }
      }
      // What a fresh schema put there (the counter row) gives way to the source's.
      const rows: Record<string, number> = {};
      for (const t of TABLES) rows[t.table] = await copyTable(src, tx.conn, t);
      const maxSeq = Number(
        (src.prepare("SELECT COALESCE(MAX(SEQ), 0) AS N FROM GWSYNC_CHANGELOG").get() as { N: number }).N,
      );
      const given = src
        .prepare("SELECT seq FROM sqlite_sequence WHERE name = 'GWSYNC_CHANGELOG'")
        .pluck()
        .get() as number | undefined;
      const lastSeq = Math.max(maxSeq, Number(given ?? 0));
      await tx.conn.run("UPDATE GWSYNC_SEQUENCE SET LAST_SEQ = ? WHERE NAME = 'changelog'", [lastSeq]);
      await tx.commit();
      return { from: fromSqlite, to: settings.location, rows, lastSeq };
    } catch (err) {
      await tx.rollback().catch(() => undefined);
      throw err instanceof GwsyncError ? err : driver.toStoreError(err, "store migrate");
    }
  } finally {
    if (src.inTransaction) src.exec("ROLLBACK");
    src.close();
    await driver.close().catch(() => undefined);
  }
}

async function copyTable(src: Database.Database, dst: SqlConn, t: TableCopy): Promise<number> {
  const marks = `(${t.columns.map(() => "?").join(", ")})`;
  let batch: unknown[][] = [];
  let n = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    await dst.run(
      `INSERT INTO ${t.table} (${t.columns.join(", ")}) VALUES ${batch.map(() => marks).join(", ")}`,
      batch.flat(),
    );
    n += batch.length;
    batch = [];
  };
  for (const row of src.prepare(t.select).iterate() as Iterable<Record<string, unknown>>) {
    batch.push(t.values(row));
    if (batch.length >= BATCH) await flush();
  }
  await flush();
  return n;
}
