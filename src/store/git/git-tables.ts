import type Database from "better-sqlite3";

/**
 * The Git store's own tables, in the SQLite file that holds its changelog and outbox (the SQLite
 * store's schema stays as it is; these are created beside it by the Git store):
 * - GWSYNC_GIT_STATE: the branch and the commit the store's rows describe (HEAD), written in the same
 *   SQLite transaction as the changelog rows of that commit. A branch ahead of HEAD after a crash holds
 *   a commit whose transaction never committed (an orphan); a branch that does not reach HEAD was
 *   rewritten behind the store's back.
 * - GWSYNC_GIT_CHANGES: for each changelog row (SEQ), the commit that holds it and the file it wrote
 *   (Publish) or deleted (Remove): the changelog sequence maps to commits.
 * - GWSYNC_GIT_PATHS: the file each (label, API) has in the branch's head now (published APIs only).
 */
const TABLES = `
CREATE TABLE IF NOT EXISTS GWSYNC_GIT_STATE (
  ID INTEGER NOT NULL PRIMARY KEY CHECK (ID = 1),
  BRANCH TEXT NOT NULL,
  HEAD TEXT,
  IMPORT_COMMIT TEXT,
  UPDATED_AT INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS GWSYNC_GIT_CHANGES (
  SEQ INTEGER NOT NULL PRIMARY KEY,
  COMMIT_ID TEXT NOT NULL,
  PATH TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS GWSYNC_IDX_GIT_CHANGES_COMMIT ON GWSYNC_GIT_CHANGES (COMMIT_ID);
CREATE TABLE IF NOT EXISTS GWSYNC_GIT_PATHS (
  GATEWAY_LABEL TEXT NOT NULL,
  API_ID TEXT NOT NULL,
  PATH TEXT NOT NULL,
  PRIMARY KEY (GATEWAY_LABEL, API_ID)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS GWSYNC_UQ_GIT_PATHS_PATH ON GWSYNC_GIT_PATHS (PATH);
`;

/** Whether the file has the Git store's tables (a readonly reader cannot create them). */
export function hasGitTables(db: Database.Database): boolean {
  return (
    db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'GWSYNC_GIT_STATE'").get() !==
    undefined
  );
}

/** Create the tables (a writer, at open). */
export function createGitTables(db: Database.Database): void {
  db.transaction(() => db.exec(TABLES)).immediate();
}

export interface GitStateRow {
  BRANCH: string;
  HEAD: string | null;
  IMPORT_COMMIT: string | null;
}

/** One changelog row of an API with the commit and file of the Git store. */
export interface GitChangeRow {
  SEQ: number;
  GATEWAY_INSTRUCTION: "Publish" | "Remove";
  REVISION: number;
  SHA256: string;
  COMMIT_ID: string;
  PATH: string;
}

/** The Git store's statements on its tables. @internal */
export function prepareGitStatements(db: Database.Database) {
  return {
    state: db.prepare<[], GitStateRow>(
      "SELECT BRANCH, HEAD, IMPORT_COMMIT FROM GWSYNC_GIT_STATE WHERE ID = 1",
    ),
    /** Compare-and-swap of HEAD: changes 0 rows when another writer moved it. */
    moveHead: db.prepare<[string, number, string | null]>(
      "UPDATE GWSYNC_GIT_STATE SET HEAD = ?, UPDATED_AT = ? WHERE ID = 1 AND HEAD IS ?",
    ),
    initState: db.prepare<[string, number]>(
      "INSERT OR IGNORE INTO GWSYNC_GIT_STATE (ID, BRANCH, HEAD, UPDATED_AT) VALUES (1, ?, NULL, ?)",
    ),
    setBranch: db.prepare<[string]>("UPDATE GWSYNC_GIT_STATE SET BRANCH = ? WHERE ID = 1"),
    setImport: db.prepare<[string, string, number]>(
      "UPDATE GWSYNC_GIT_STATE SET HEAD = ?, IMPORT_COMMIT = ?, UPDATED_AT = ? WHERE ID = 1 AND HEAD IS NULL",
    ),
    insertChange: db.prepare<[number, string, string]>(
      "INSERT INTO GWSYNC_GIT_CHANGES (SEQ, COMMIT_ID, PATH) VALUES (?, ?, ?)",
    ),
    pathOf: db
      .prepare<[string, string], string>(
        "SELECT PATH FROM GWSYNC_GIT_PATHS WHERE GATEWAY_LABEL = ? AND API_ID = ?",
      )
      .pluck(),
    ownerOfPath: db.prepare<[string], { GATEWAY_LABEL: string; API_ID: string }>(
      "SELECT GATEWAY_LABEL, API_ID FROM GWSYNC_GIT_PATHS WHERE PATH = ?",
    ),
    putPath: db.prepare<[string, string, string]>(
      `INSERT INTO GWSYNC_GIT_PATHS (GATEWAY_LABEL, API_ID, PATH) VALUES (?, ?, ?)
       ON CONFLICT (GATEWAY_LABEL, API_ID) DO UPDATE SET PATH = excluded.PATH`,
    ),
    dropPath: db.prepare<[string, string]>(
      "DELETE FROM GWSYNC_GIT_PATHS WHERE GATEWAY_LABEL = ? AND API_ID = ?",
    ),
    commitOfSeq: db.prepare<[number], { COMMIT_ID: string; PATH: string }>(
      "SELECT COMMIT_ID, PATH FROM GWSYNC_GIT_CHANGES WHERE SEQ = ?",
    ),
    /** The API's rows of one revision, with their commit (history, rollback, diff). */
    revisionChanges: db.prepare<[string, number], GitChangeRow>(
      `SELECT c.SEQ, c.GATEWAY_INSTRUCTION, c.REVISION, c.SHA256, g.COMMIT_ID, g.PATH
       FROM GWSYNC_CHANGELOG c JOIN GWSYNC_GIT_CHANGES g ON g.SEQ = c.SEQ
       WHERE c.API_ID = ? AND c.REVISION = ? ORDER BY c.SEQ`,
    ),
    /** The highest changelog row a commit holds (undefined: not one of the store's commits). */
    lastSeqOfCommit: db
      .prepare<[string], number | null>("SELECT MAX(SEQ) FROM GWSYNC_GIT_CHANGES WHERE COMMIT_ID = ?")
      .pluck(),
    /** The latest change of (API, label) at or before a sequence number, with its file. */
    changeAt: db.prepare<[string, string, number], GitChangeRow>(
      `SELECT c.SEQ, c.GATEWAY_INSTRUCTION, c.REVISION, c.SHA256, g.COMMIT_ID, g.PATH
       FROM GWSYNC_CHANGELOG c JOIN GWSYNC_GIT_CHANGES g ON g.SEQ = c.SEQ
       WHERE c.API_ID = ? AND c.GATEWAY_LABEL = ? AND c.SEQ <= ? ORDER BY c.SEQ DESC LIMIT 1`,
    ),
    headSeq: db.prepare<[], number>("SELECT COALESCE(MAX(SEQ), 0) FROM GWSYNC_CHANGELOG").pluck(),
  };
}

/** @internal */
export type GitStatements = ReturnType<typeof prepareGitStatements>;
