import mysql from "mysql2/promise";
import { GwsyncError } from "../../errors.js";
import type { ConnectionSettings } from "../connection.js";
import { type OpenTransaction, openTransaction, type Row, type SqlConn, type SqlDriver } from "../sql/driver.js";
import type { ConnectionLeaderLock } from "../leader-lock.js";
import { mysqlLeaderLock } from "./mysql-leader-lock.js";
import { MYSQL_MIGRATIONS } from "./mysql-schema.js";

/** How long a node waits for another node's migration (GET_LOCK), in seconds. */
const MIGRATION_WAIT_S = 120;
/** Deadlock, lock wait timeout: the transaction may be run again. */
const RETRYABLE = new Set([1213, 1205]);
const NETWORK = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "PROTOCOL_CONNECTION_LOST",
]);

type Queryable = Pick<mysql.Pool, "query"> | Pick<mysql.PoolConnection, "query">;

function upperRows(rows: unknown): Row[] {
  if (!Array.isArray(rows)) return [];
  return rows.map((r: Record<string, unknown>) => {
    const o: Row = {};
    for (const k in r) o[k.toUpperCase()] = r[k];
    return o;
  });
}

function connOf(q: Queryable): SqlConn {
  return {
    query: async (sql, params = []) => upperRows((await q.query(sql, params as unknown[]))[0]),
    run: async (sql, params = []) => {
      const [res] = await q.query(sql, params as unknown[]);
      return (res as mysql.ResultSetHeader).affectedRows ?? 0;
    },
  };
}

function errnoOf(err: unknown): number | undefined {
  const n = (err as { errno?: unknown } | null)?.errno;
  return typeof n === "number" ? n : undefined;
}

function codeOf(err: unknown): string {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === "string" ? c : "";
}

/**
 * MySQL 8 and MariaDB 10.6+ through mysql2: a pool whose connections run READ COMMITTED (so a save reads
 * what the previous writer of its API committed, as on PostgreSQL), `FOR UPDATE SKIP LOCKED` claims.
 * No LISTEN/NOTIFY: dispatchers find other nodes' rows by polling.
 */
export class MysqlDriver implements SqlDriver {
  readonly engine = "mysql" as const;
  readonly location: string;
  readonly latestVersion = MYSQL_MIGRATIONS.length;
  readonly insertBody =
    "INSERT INTO GWSYNC_ARTIFACT_BODIES (SHA256, BODY) VALUES (?, ?) ON DUPLICATE KEY UPDATE SHA256 = SHA256";
  /** INSERT ... ON DUPLICATE KEY UPDATE takes an exclusive lock on an existing row (and creates a missing one). */
  readonly lockApiRow =
    "INSERT INTO GWSYNC_API_STATE (API_ID, REVISION) VALUES (?, 0) ON DUPLICATE KEY UPDATE REVISION = REVISION";
  readonly #pool: mysql.Pool;
  readonly #pooled: SqlConn;
  readonly #database: string;
  /** What a connection of its own (a leader lock's) is opened with. */
  readonly #connection: mysql.ConnectionOptions;
  readonly #locks = new Set<ConnectionLeaderLock>();

  constructor(s: ConnectionSettings) {
    this.location = s.location;
    this.#database = s.database;
    this.#connection = {
      host: s.host,
      port: s.port,
      database: s.database,
      ...(s.user !== undefined ? { user: s.user } : {}),
      ...(s.password !== undefined ? { password: s.password } : {}),
      ...(s.ssl ? { ssl: {} } : {}),
      connectTimeout: s.pool.maxWaitMs,
      charset: "utf8mb4_bin",
      supportBigNumbers: true,
      bigNumberStrings: false,
      dateStrings: true,
    };
    this.#pool = mysql.createPool({
      ...this.#connection,
      connectionLimit: s.pool.max,
      maxIdle: Math.max(s.pool.minIdle, 1),
    });
    // Every connection reads committed data (MySQL's default, REPEATABLE READ, would pin a save's reads
    // to a snapshot taken before the lock it waited for).
    this.#pool.on("connection", (conn) => {
      conn.query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED");
    });
    this.#pooled = connOf(this.#pool);
  }

  query(sql: string, params?: readonly unknown[]): Promise<Row[]> {
    return this.#pooled.query(sql, params);
  }

  run(sql: string, params?: readonly unknown[]): Promise<number> {
    return this.#pooled.run(sql, params);
  }

  async begin(): Promise<OpenTransaction> {
    const conn = await this.#pool.getConnection();
    return openTransaction(
      connOf(conn),
      (sql) => conn.query(sql),
      (broken) => (broken ? conn.destroy() : conn.release()),
      "START TRANSACTION",
    );
  }

  upsert(
    table: string,
    cols: readonly string[],
    values: readonly string[],
    _keys: readonly string[],
    update: readonly string[],
  ): string {
    return `INSERT INTO ${table} (${cols.join(", ")}) VALUES (${values.join(", ")})
      ON DUPLICATE KEY UPDATE ${update.map((c) => `${c} = VALUES(${c})`).join(", ")}`;
  }

  async migrate(): Promise<void> {
    const conn = await this.#pool.getConnection();
    const c = connOf(conn);
    const lock = `gwsync_migrate:${this.#database}`.slice(0, 64);
    let locked = false;
    try {
      const got = await c.query("SELECT GET_LOCK(?, ?) AS L", [lock, MIGRATION_WAIT_S]);
      if (Number(got[0]?.L) !== 1) {
        throw new GwsyncError(
          "GWSYNC_STORE_FAILED",
          `store ${this.location}: another node held the migration lock for ${MIGRATION_WAIT_S} s; try again`,
          { retryable: true },
        );
      }
      locked = true;
      await c.run(
        "CREATE TABLE IF NOT EXISTS GWSYNC_SCHEMA (VERSION int NOT NULL PRIMARY KEY, APPLIED_AT bigint NOT NULL) ENGINE=InnoDB",
      );
      const found = Number(
        (await c.query("SELECT COALESCE(MAX(VERSION), 0) AS V FROM GWSYNC_SCHEMA"))[0]?.V ?? 0,
      );
      if (found > this.latestVersion) {
        throw new GwsyncError(
          "GWSYNC_STORE_FAILED",
          `store ${this.location} has schema version ${found}, newer than this gwsync's ${this.latestVersion}: upgrade gwsync`,
          { retryable: false, details: { found, expected: this.latestVersion } },
        );
      }
      for (let v = found; v < this.latestVersion; v++) {
        await MYSQL_MIGRATIONS[v]?.(c);
        await c.run("INSERT INTO GWSYNC_SCHEMA (VERSION, APPLIED_AT) VALUES (?, ?)", [v + 1, Date.now()]);
      }
    } finally {
      if (locked) await c.query("SELECT RELEASE_LOCK(?) AS L", [lock]).catch(() => undefined);
      conn.release();
    }
  }

  async schemaVersion(): Promise<number> {
    const exists = await this.query(
      "SELECT 1 AS HIT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'GWSYNC_SCHEMA'",
    );
    if (exists.length === 0) return 0;
    return Number((await this.query("SELECT COALESCE(MAX(VERSION), 0) AS V FROM GWSYNC_SCHEMA"))[0]?.V ?? 0);
  }

  isRetryable(err: unknown): boolean {
    return RETRYABLE.has(errnoOf(err) ?? 0);
  }

  isDuplicate(err: unknown): boolean {
    return errnoOf(err) === 1062;
  }

  toStoreError(err: unknown, operation: string): unknown {
    if (err instanceof GwsyncError) return err;
    if (!(err instanceof Error)) return err;
    const errno = errnoOf(err);
    const code = codeOf(err);
    const details = { location: this.location, operation, code, errno };
    // ER_RECORD_FILE_FULL (1114), ER_DISK_FULL (1021), out of disk space (3 = EE_WRITE with ENOSPC)
    if (errno === 1114 || errno === 1021) {
      return new GwsyncError(
        "GWSYNC_STORE_FULL",
        `store ${this.location} is full (${code}) during ${operation}: free disk space on the database server; nothing was written`,
        { cause: err, details },
      );
    }
    const denied = errno === 1045 || errno === 1044 || errno === 1142;
    const hint = denied
      ? "the database refused the login or the statement: check username, password and grants"
      : errno === 1049
        ? "the database does not exist: create it (CREATE DATABASE) or fix the URL"
        : NETWORK.has(code)
          ? "the database cannot be reached: check that it runs and the URL's host and port"
          : "see the database's log";
    return new GwsyncError(
      "GWSYNC_STORE_FAILED",
      `store ${this.location} failed during ${operation} (${code || "error"}: ${err.message}): ${hint}`,
      { cause: err, retryable: !(denied || errno === 1049), details },
    );
  }

  async announceOutbox(_conn: SqlConn): Promise<void> {
    // MySQL has no commit notifications: the dispatchers of other nodes poll.
  }

  listenOutbox(_listener: () => void): () => void {
    return () => undefined;
  }

  leaderLock(name: string): ConnectionLeaderLock {
    const lock = mysqlLeaderLock(name, this.#database, this.#connection);
    this.#locks.add(lock);
    return lock;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#locks].map((l) => l.release().catch(() => undefined)));
    this.#locks.clear();
    await this.#pool.end();
  }
}
