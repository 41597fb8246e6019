/**
 * The store engines the contract tests run against, as factories: each makes a fresh, uniquely named
 * database (or file) that several stores — several publisher nodes — can open, and drops it after.
 * A new engine joins the contract tests by adding a factory here (the Git store did).
 *
 * PostgreSQL and MariaDB are the machine's own (docs/architecture.md#test-machine); their admin URLs
 * can be changed with GWSYNC_TEST_PG_URL and GWSYNC_TEST_MYSQL_URL.
 */
import { randomBytes } from "node:crypto";
import path from "node:path";
import mysql from "mysql2/promise";
import pg from "pg";
import type { GwsyncConfig } from "../../src/config/types.js";
import { mysqlLockName } from "../../src/store/mysql/mysql-leader-lock.js";
import { pgLockKey } from "../../src/store/postgres/pg-leader-lock.js";
import { openStore, type OpenStoreOptions } from "../../src/store/open-store.js";
import type { ArtifactStore } from "../../src/store/types.js";
import { tempDir } from "./temp-dir.js";

export const PG_ADMIN_URL = process.env.GWSYNC_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const MYSQL_ADMIN_URL = process.env.GWSYNC_TEST_MYSQL_URL ?? "mysql://root@127.0.0.1:3306/";

export interface TestDatabase {
  /** The `[database.sync_runtime_artifacts_db]` a process would be configured with. */
  readonly config: GwsyncConfig["database"];
  /** Open one more store (one more node) on this database; closed by drop(). */
  open(options?: OpenStoreOptions): ArtifactStore;
  /** Close every store opened here and drop the database. */
  drop(): Promise<void>;
}

export interface EngineFactory {
  readonly name: "sqlite" | "postgresql" | "mysql" | "git";
  /**
   * Whether several processes may write one database at once (publisher nodes). SQLite has one
   * writer process by design: its claims live in that process.
   */
  readonly multiNode: boolean;
  create(): Promise<TestDatabase>;
}

function uniqueName(): string {
  return `gwsync_t_${process.pid}_${randomBytes(4).toString("hex")}`;
}

function tracking(config: GwsyncConfig["database"], dropDb: () => Promise<void>): TestDatabase {
  const stores: ArtifactStore[] = [];
  return {
    config,
    open(options = {}) {
      const s = openStore(config, options);
      stores.push(s);
      return s;
    },
    async drop() {
      for (const s of stores.splice(0)) await s.close().catch(() => undefined);
      await dropDb();
    },
  };
}

export const sqliteEngine: EngineFactory = {
  name: "sqlite",
  multiNode: false,
  async create() {
    const dir = tempDir("gwsync-contract-");
    return tracking({ type: "sqlite", url: path.join(dir, "artifacts.db") }, async () => undefined);
  },
};

/** The Git store: a fresh bare repository (created by the store) and its SQLite changelog file. */
export const gitEngine: EngineFactory = {
  name: "git",
  multiNode: false,
  async create() {
    const dir = tempDir("gwsync-contract-git-");
    return tracking(gitStoreDatabase(dir), async () => undefined);
  },
};

/** The `[database…]` of a Git store kept in `dir` (artifacts.db and artifacts.git). */
export function gitStoreDatabase(dir: string, remoteUrl?: string): GwsyncConfig["database"] {
  return {
    type: "sqlite",
    url: path.join(dir, "artifacts.db"),
    git: {
      repository: path.join(dir, "artifacts.git"),
      branch: "main",
      ...(remoteUrl === undefined ? {} : { remoteUrl }),
      pushRetryMs: 50,
      authorName: "gwsync",
      authorEmail: "gwsync@localhost",
    },
  };
}

/** Run `fn` on an admin connection to the PostgreSQL server. */
async function pgAdmin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export const postgresEngine: EngineFactory = {
  name: "postgresql",
  multiNode: true,
  async create() {
    const name = uniqueName();
    await pgAdmin((c) => c.query(`CREATE DATABASE ${name}`));
    const admin = new URL(PG_ADMIN_URL);
    const user = decodeURIComponent(admin.username || "postgres");
    // WSO2's form, as an operator writes it in deployment.toml.
    const config: GwsyncConfig["database"] = {
      type: "postgre",
      url: `jdbc:postgresql://${admin.host}/${name}`,
      username: user,
      ...(admin.password ? { password: decodeURIComponent(admin.password) } : {}),
    };
    return tracking(config, () =>
      pgAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
    );
  },
};

async function mysqlAdmin<T>(fn: (c: mysql.Connection) => Promise<T>): Promise<T> {
  const c = await mysql.createConnection(MYSQL_ADMIN_URL);
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export const mysqlEngine: EngineFactory = {
  name: "mysql",
  multiNode: true,
  async create() {
    const name = uniqueName();
    await mysqlAdmin((c) => c.query(`CREATE DATABASE ${name}`));
    const admin = new URL(MYSQL_ADMIN_URL);
    const config: GwsyncConfig["database"] = {
      type: "mysql",
      url: `jdbc:mysql://${admin.host}/${name}?useSSL=false`,
      username: decodeURIComponent(admin.username || "root"),
      ...(admin.password ? { password: decodeURIComponent(admin.password) } : {}),
    };
    return tracking(config, () =>
      mysqlAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${name}`)).then(() => undefined),
    );
  },
};

/** Every engine the contract tests cover. */
export const ENGINES: readonly EngineFactory[] = [sqliteEngine, gitEngine, postgresEngine, mysqlEngine];

/** The database name a test database's JDBC URL names. */
export function databaseName(db: TestDatabase): string {
  return new URL(db.config.url.replace(/^jdbc:/, "")).pathname.replace(/^\//, "");
}

/**
 * End the server session holding the leader lock `name` (src/store/leader-lock.ts) from an admin
 * connection, as the database sees a holder whose connection died; the number of sessions ended.
 */
export async function endLockSession(
  engine: EngineFactory["name"],
  db: TestDatabase,
  name: string,
): Promise<number> {
  if (engine === "postgresql") {
    const c = new pg.Client({ connectionString: PG_ADMIN_URL });
    await c.connect();
    try {
      const key = BigInt(pgLockKey(name));
      // A bigint advisory key shows in pg_locks as classid (high 32 bits) and objid (low 32 bits), objsubid 1.
      const hi = Number(BigInt.asUintN(64, key) >> 32n);
      const lo = Number(BigInt.asUintN(64, key) & 0xffffffffn);
      const r = await c.query(
        `SELECT pg_terminate_backend(l.pid) AS t FROM pg_locks l JOIN pg_database d ON d.oid = l.database
         WHERE l.locktype = 'advisory' AND l.granted AND d.datname = $1 AND l.classid = $2 AND l.objid = $3 AND l.objsubid = 1`,
        [databaseName(db), hi, lo],
      );
      return r.rowCount ?? 0;
    } finally {
      await c.end();
    }
  }
  const c = await mysql.createConnection(MYSQL_ADMIN_URL);
  try {
    const [rows] = await c.query("SELECT IS_USED_LOCK(?) AS id", [mysqlLockName(databaseName(db), name)]);
    const id = (rows as { id: number | null }[])[0]?.id;
    if (id === null || id === undefined) return 0;
    await c.query(`KILL ${Number(id)}`);
    return 1;
  } finally {
    await c.end();
  }
}
