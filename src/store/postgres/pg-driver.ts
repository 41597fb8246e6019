import pg from "pg";
import { GwsyncError } from "../../errors.js";
import type { ConnectionSettings } from "../connection.js";
import { type OpenTransaction, openTransaction, type Row, type SqlConn, type SqlDriver } from "../sql/driver.js";
import type { ConnectionLeaderLock } from "../leader-lock.js";
import { pgLeaderLock } from "./pg-leader-lock.js";
import { PG_MIGRATIONS } from "./pg-schema.js";

/** The channel a commit that wrote outbox rows notifies (LISTEN/NOTIFY is per database). */
const OUTBOX_CHANNEL = "gwsync_outbox";
/** pg_advisory_xact_lock key that makes one node at a time migrate (any constant; "gwsync" in ASCII). */
const MIGRATION_LOCK = 0x67777379;
/** How long the outbox listener waits before connecting again after losing its connection. */
const LISTEN_RETRY_MS = 1_000;

/** SQLSTATEs a transaction may be run again after: serialization failure, deadlock, lock not available. */
const RETRYABLE = new Set(["40001", "40P01", "55P03"]);
/** Network errors: the database may come back. */
const NETWORK = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
]);

/** `?` placeholders to PostgreSQL's `$n` (gwsync's SQL has no `?` inside literals). */
const converted = new Map<string, string>();
function dollar(sql: string): string {
  let out = converted.get(sql);
  if (out === undefined) {
    let n = 0;
    out = sql.replace(/\?/g, () => `$${++n}`);
    if (converted.size < 1_000) converted.set(sql, out);
  }
  return out;
}

function upperRows(rows: Record<string, unknown>[]): Row[] {
  return rows.map((r) => {
    const o: Row = {};
    for (const k in r) o[k.toUpperCase()] = r[k];
    return o;
  });
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

function connOf(client: pg.PoolClient | pg.Pool): SqlConn {
  return {
    query: async (sql, params = []) => upperRows((await client.query(dollar(sql), params as unknown[])).rows),
    run: async (sql, params = []) => (await client.query(dollar(sql), params as unknown[])).rowCount ?? 0,
  };
}

/** PostgreSQL through node-postgres (`pg`): a pool, READ COMMITTED transactions, LISTEN/NOTIFY. */
export class PgDriver implements SqlDriver {
  readonly engine = "postgresql" as const;
  readonly location: string;
  readonly latestVersion = PG_MIGRATIONS.length;
  readonly insertBody =
    "INSERT INTO GWSYNC_ARTIFACT_BODIES (SHA256, BODY) VALUES (?, ?) ON CONFLICT (SHA256) DO NOTHING";
  readonly lockApiRow =
    "INSERT INTO GWSYNC_API_STATE (API_ID, REVISION) VALUES (?, 0) ON CONFLICT (API_ID) DO NOTHING";
  readonly #pool: pg.Pool;
  readonly #config: pg.ClientConfig;
  readonly #pooled: SqlConn;
  readonly #listeners = new Set<() => void>();
  #listener: pg.Client | undefined;
  #listenTimer: NodeJS.Timeout | undefined;
  readonly #locks = new Set<ConnectionLeaderLock>();
  #closed = false;

  constructor(s: ConnectionSettings) {
    this.location = s.location;
    this.#config = {
      host: s.host,
      port: s.port,
      database: s.database,
      ...(s.user !== undefined ? { user: s.user } : {}),
      ...(s.password !== undefined ? { password: s.password } : {}),
      ...(s.ssl ? { ssl: true } : {}),
      ...(s.schema !== undefined ? { options: `-c search_path=${s.schema}` } : {}),
      application_name: "gwsync",
      connectionTimeoutMillis: s.pool.maxWaitMs,
    };
    this.#pool = new pg.Pool({ ...this.#config, max: s.pool.max, min: s.pool.minIdle });
    // An idle connection that breaks is dropped from the pool; the next checkout opens another.
    this.#pool.on("error", () => undefined);
    this.#pooled = connOf(this.#pool);
  }

  query(sql: string, params?: readonly unknown[]): Promise<Row[]> {
    return this.#pooled.query(sql, params);
  }

  run(sql: string, params?: readonly unknown[]): Promise<number> {
    return this.#pooled.run(sql, params);
  }

  async begin(): Promise<OpenTransaction> {
    const client = await this.#pool.connect();
    return openTransaction(
      connOf(client),
      (sql) => client.query(sql),
      (broken) => client.release(broken),
      "BEGIN ISOLATION LEVEL READ COMMITTED",
    );
  }

  upsert(
    table: string,
    cols: readonly string[],
    values: readonly string[],
    keys: readonly string[],
    update: readonly string[],
  ): string {
    return `INSERT INTO ${table} (${cols.join(", ")}) VALUES (${values.join(", ")})
      ON CONFLICT (${keys.join(", ")}) DO UPDATE SET ${update.map((c) => `${c} = EXCLUDED.${c}`).join(", ")}`;
  }

  /** All migrations a database lacks, in one transaction under an advisory lock: once, whatever the number of nodes starting. */
  async migrate(): Promise<void> {
    const client = await this.#pool.connect();
    try {
      await client.query("BEGIN");
      await client.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
      await client.query(
        "CREATE TABLE IF NOT EXISTS GWSYNC_SCHEMA (VERSION integer NOT NULL PRIMARY KEY, APPLIED_AT bigint NOT NULL)",
      );
      const found = Number(
        (await client.query("SELECT COALESCE(MAX(VERSION), 0) AS v FROM GWSYNC_SCHEMA")).rows[0].v,
      );
      if (found > this.latestVersion) throw this.#newerSchema(found);
      for (let v = found; v < this.latestVersion; v++) {
        await client.query(PG_MIGRATIONS[v] ?? "");
        await client.query("INSERT INTO GWSYNC_SCHEMA (VERSION, APPLIED_AT) VALUES ($1, $2)", [
          v + 1,
          Date.now(),
        ]);
      }
      await client.query("COMMIT");
      client.release();
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      client.release(true);
      throw err;
    }
  }

  async schemaVersion(): Promise<number> {
    const exists = await this.query("SELECT to_regclass('gwsync_schema') IS NOT NULL AS E");
    if (exists[0]?.E !== true) return 0;
    return Number((await this.query("SELECT COALESCE(MAX(VERSION), 0) AS V FROM GWSYNC_SCHEMA"))[0]?.V ?? 0);
  }

  #newerSchema(found: number): GwsyncError {
    return new GwsyncError(
      "GWSYNC_STORE_FAILED",
      `store ${this.location} has schema version ${found}, newer than this gwsync's ${this.latestVersion}: upgrade gwsync`,
      { retryable: false, details: { found, expected: this.latestVersion } },
    );
  }

  isRetryable(err: unknown): boolean {
    return RETRYABLE.has(codeOf(err) ?? "");
  }

  isDuplicate(err: unknown): boolean {
    return codeOf(err) === "23505";
  }

  toStoreError(err: unknown, operation: string): unknown {
    if (err instanceof GwsyncError) return err;
    if (!(err instanceof Error)) return err;
    const code = codeOf(err) ?? "";
    const details = { location: this.location, operation, code };
    if (code === "53100" || code === "54000") {
      return new GwsyncError(
        "GWSYNC_STORE_FULL",
        `store ${this.location} is full (${code}) during ${operation}: free disk space on the database server; nothing was written`,
        { cause: err, details },
      );
    }
    const hint =
      code === "28P01" || code === "28000"
        ? "the database refused the login: check username and password"
        : code === "3D000"
          ? "the database does not exist: create it (CREATE DATABASE) or fix the URL"
          : code === "42501"
            ? "the user lacks a privilege on gwsync's tables: grant it"
            : NETWORK.has(code) || /timeout|terminat|Connection/i.test(err.message)
              ? "the database cannot be reached: check that it runs and the URL's host and port"
              : "see the database's log";
    return new GwsyncError(
      "GWSYNC_STORE_FAILED",
      `store ${this.location} failed during ${operation} (${code || "error"}: ${err.message}): ${hint}`,
      { cause: err, retryable: !(code.startsWith("28") || code === "3D000" || code === "42501"), details },
    );
  }

  async announceOutbox(conn: SqlConn): Promise<void> {
    // Delivered to every listener on this database when (and only if) the transaction commits.
    await conn.query(`SELECT pg_notify('${OUTBOX_CHANNEL}', '') AS N`);
  }

  listenOutbox(listener: () => void): () => void {
    this.#listeners.add(listener);
    if (this.#listener === undefined && this.#listenTimer === undefined) this.#connectListener();
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#stopListener();
    };
  }

  /** One connection of its own LISTENs; lost, it reconnects and wakes everyone (commits may have been missed). */
  #connectListener(): void {
    if (this.#closed || this.#listeners.size === 0) return;
    const client = new pg.Client(this.#config);
    this.#listener = client;
    const retry = () => {
      if (this.#listener !== client) return;
      this.#listener = undefined;
      client.end().catch(() => undefined);
      if (this.#closed || this.#listeners.size === 0) return;
      this.#listenTimer = setTimeout(() => {
        this.#listenTimer = undefined;
        this.#connectListener();
      }, LISTEN_RETRY_MS);
      this.#listenTimer.unref();
    };
    client.on("error", retry);
    client.on("end", retry);
    client.on("notification", () => {
      for (const l of this.#listeners) l();
    });
    client
      .connect()
      .then(() => client.query(`LISTEN ${OUTBOX_CHANNEL}`))
      .then(() => {
        for (const l of this.#listeners) l();
      })
      .catch(retry);
  }

  #stopListener(): void {
    if (this.#listenTimer !== undefined) clearTimeout(this.#listenTimer);
    this.#listenTimer = undefined;
    const client = this.#listener;
    this.#listener = undefined;
    client?.end().catch(() => undefined);
  }

  leaderLock(name: string): ConnectionLeaderLock {
    const lock = pgLeaderLock(name, this.#config);
    this.#locks.add(lock);
    return lock;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    this.#stopListener();
    await Promise.all([...this.#locks].map((l) => l.release().catch(() => undefined)));
    this.#locks.clear();
    await this.#pool.end();
  }
}
