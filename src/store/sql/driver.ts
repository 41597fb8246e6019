import type { NetworkEngine } from "../connection.js";
import type { LeaderLock } from "../leader-lock.js";

/** A row with its column names in upper case, whatever case the engine reports them in. */
export type Row = Record<string, unknown>;

/** One connection, inside a transaction or not. SQL uses `?` placeholders on every engine. */
export interface SqlConn {
  query(sql: string, params?: readonly unknown[]): Promise<Row[]>;
  /** A statement that returns no rows; resolves to the number of rows it changed. */
  run(sql: string, params?: readonly unknown[]): Promise<number>;
}

/** A transaction held open across calls (an outbox claim holds its rows' locks this way). */
export interface OpenTransaction {
  conn: SqlConn;
  commit(): Promise<void>;
  rollback(): Promise<void>;
}

/**
 * A transaction on one pooled connection: `beginSql`, then COMMIT or ROLLBACK once. The connection goes
 * back to its pool when the transaction ends, or is given back broken (the pool drops it) when a
 * statement of the transaction's own bookkeeping failed: its state is unknown.
 */
export async function openTransaction(
  conn: SqlConn,
  statement: (sql: string) => Promise<unknown>,
  release: (broken: boolean) => void,
  beginSql: string,
): Promise<OpenTransaction> {
  let done = false;
  const finish = (broken: boolean) => {
    if (done) return;
    done = true;
    release(broken);
  };
  const end = async (sql: string) => {
    try {
      await statement(sql);
      finish(false);
    } catch (err) {
      finish(true);
      throw err;
    }
  };
  try {
    await statement(beginSql);
  } catch (err) {
    finish(true);
    throw err;
  }
  return {
    conn,
    commit: () => end("COMMIT"),
    rollback: async () => {
      if (!done) await end("ROLLBACK");
    },
  };
}

/**
 * What an engine gives the shared SQL store (sql-store.ts): connections, transactions at READ
 * COMMITTED, its dialect's few differing statements, its migrations and its error codes. Everything
 * else — the save algorithm, the changelog's commit order, claims — is written once.
 */
export interface SqlDriver {
  readonly engine: NetworkEngine;
  /** The URL without its password. */
  readonly location: string;
  /** A statement on any pooled connection (autocommit). */
  query(sql: string, params?: readonly unknown[]): Promise<Row[]>;
  /** A statement that returns no rows on any pooled connection (autocommit); the number of rows changed. */
  run(sql: string, params?: readonly unknown[]): Promise<number>;
  /** Begin a READ COMMITTED transaction on a connection of its own. */
  begin(): Promise<OpenTransaction>;
  /**
   * `INSERT INTO table (cols) VALUES (values) <on conflict of keys, set update columns from the new row>`.
   * `values` are SQL expressions, usually `?`.
   */
  upsert(
    table: string,
    cols: readonly string[],
    values: readonly string[],
    keys: readonly string[],
    update: readonly string[],
  ): string;
  /** INSERT INTO GWSYNC_ARTIFACT_BODIES (SHA256, BODY) VALUES (?, ?), doing nothing when the sha256 is there. */
  readonly insertBody: string;
  /** A statement that creates the API's revision row if missing and locks it for the transaction. */
  readonly lockApiRow: string;
  /** Bring the schema to the newest version (versioned migrations, each applied once across nodes). */
  migrate(): Promise<void>;
  /** The schema version the database holds (0: none). */
  schemaVersion(): Promise<number>;
  /** The newest schema version this code knows. */
  readonly latestVersion: number;
  /** A deadlock, serialization failure or lock wait timeout: the transaction may be run again. */
  isRetryable(err: unknown): boolean;
  /** A duplicate key (unique constraint) error. */
  isDuplicate(err: unknown): boolean;
  /** Turn a driver error into a coded GwsyncError naming the operation (others pass through). */
  toStoreError(err: unknown, operation: string): unknown;
  /** Inside a transaction that wrote outbox rows: tell other nodes when it commits (may do nothing). */
  announceOutbox(conn: SqlConn): Promise<void>;
  /** Listen for other nodes' outbox commits; returns the function that stops listening. */
  listenOutbox(listener: () => void): () => void;
  /** A leader lock on a connection of its own (src/store/leader-lock.ts); released by close(). */
  leaderLock(name: string): LeaderLock;
  close(): Promise<void>;
}
