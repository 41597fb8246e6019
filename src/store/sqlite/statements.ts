import type Database from "better-sqlite3";
import type { GatewayInstruction } from "../types.js";

/** GWSYNC_LABEL_STATE joined with AM_GW_PUBLISHED_API_DETAILS; BODY only where a statement asks for it. */
export interface ArtifactRow {
  API_ID: string;
  GATEWAY_LABEL: string;
  GATEWAY_INSTRUCTION: GatewayInstruction;
  REVISION: number;
  SHA256: string;
  SEQ: number;
  UPDATED_AT: number;
  API_NAME: string | null;
  API_VERSION: string | null;
  API_PROVIDER: string | null;
  TENANT_DOMAIN: string | null;
  BODY?: Buffer | null;
}

export interface LabelStateRow {
  GATEWAY_INSTRUCTION: GatewayInstruction;
  REVISION: number;
  SHA256: string;
  SEQ: number;
}

export interface ChangeRow {
  SEQ: number;
  API_ID: string;
  GATEWAY_LABEL: string;
  GATEWAY_INSTRUCTION: GatewayInstruction;
  REVISION: number;
  SHA256: string;
  ORIGIN_REGION: string | null;
  ORIGIN_SEQ: number | null;
  CREATED_AT: number;
}

export interface HistoryRow {
  REVISION: number;
  GATEWAY_INSTRUCTION: GatewayInstruction;
  GATEWAY_LABEL: string;
  SHA256: string;
  SEQ: number;
  CREATED_AT: number;
  ORIGIN_REGION: string | null;
  SOURCE_COMMIT: string | null;
  HAS_BODY: number;
}

export interface OutboxRow {
  ID: number;
  TOPIC: string;
  MESSAGE_ID: string;
  BODY: Buffer;
  HEADERS: string;
  CREATED_AT: number;
  ATTEMPTS: number;
}

const META_COLUMNS = `s.API_ID, s.GATEWAY_LABEL, s.GATEWAY_INSTRUCTION, s.REVISION, s.SHA256, s.SEQ, s.UPDATED_AT,
  d.API_NAME, d.API_VERSION, d.API_PROVIDER, d.TENANT_DOMAIN`;
const META_FROM = `GWSYNC_LABEL_STATE s JOIN AM_GW_PUBLISHED_API_DETAILS d ON d.API_ID = s.API_ID`;
const BODY_JOIN = `JOIN AM_GW_API_ARTIFACTS a ON a.GATEWAY_LABEL = s.GATEWAY_LABEL AND a.API_ID = s.API_ID`;
/** includeRemoved is bound as 0/1 so one prepared statement serves both listings. */
const LIST_FILTER = `(? = 1 OR s.GATEWAY_INSTRUCTION = 'Publish')`;

/** Statements that only read; prepared for readonly and writable stores alike. @internal */
export function prepareReads(db: Database.Database) {
  return {
    getArtifact: db.prepare<[string, string], ArtifactRow>(
      `SELECT ${META_COLUMNS}, a.ARTIFACT AS BODY FROM ${META_FROM} ${BODY_JOIN}
       WHERE s.GATEWAY_LABEL = ? AND s.API_ID = ?`,
    ),
    listMeta: db.prepare<[number], ArtifactRow>(
      `SELECT ${META_COLUMNS} FROM ${META_FROM} WHERE ${LIST_FILTER} ORDER BY s.GATEWAY_LABEL, s.API_ID`,
    ),
    listMetaByLabel: db.prepare<[string, number], ArtifactRow>(
      `SELECT ${META_COLUMNS} FROM ${META_FROM} WHERE s.GATEWAY_LABEL = ? AND ${LIST_FILTER} ORDER BY s.API_ID`,
    ),
    listMetaByApi: db.prepare<[string], ArtifactRow>(
      `SELECT ${META_COLUMNS} FROM ${META_FROM} WHERE s.API_ID = ? ORDER BY s.GATEWAY_LABEL`,
    ),
    listBodies: db.prepare<[number], ArtifactRow>(
      `SELECT ${META_COLUMNS}, a.ARTIFACT AS BODY FROM ${META_FROM} ${BODY_JOIN}
       WHERE ${LIST_FILTER} ORDER BY s.GATEWAY_LABEL, s.API_ID`,
    ),
    listBodiesByLabel: db.prepare<[string, number], ArtifactRow>(
      `SELECT ${META_COLUMNS}, a.ARTIFACT AS BODY FROM ${META_FROM} ${BODY_JOIN}
       WHERE s.GATEWAY_LABEL = ? AND ${LIST_FILTER} ORDER BY s.API_ID`,
    ),
    listBodiesByLabelPage: db.prepare<[string, number, string, number], ArtifactRow>(
      `SELECT ${META_COLUMNS}, a.ARTIFACT AS BODY FROM ${META_FROM} ${BODY_JOIN}
       WHERE s.GATEWAY_LABEL = ? AND ${LIST_FILTER} AND s.API_ID > ? ORDER BY s.API_ID LIMIT ?`,
    ),
    findApiId: db
      .prepare<[string, string, string], string>(
        `SELECT API_ID FROM AM_GW_PUBLISHED_API_DETAILS
         WHERE API_NAME = ? AND API_VERSION = ? AND TENANT_DOMAIN = ? ORDER BY API_ID LIMIT 1`,
      )
      .pluck(),
    // The labels travel as one JSON array so that a single prepared statement serves any label count.
    changesSince: db.prepare<[number, string, number], ChangeRow>(
      `SELECT SEQ, API_ID, GATEWAY_LABEL, GATEWAY_INSTRUCTION, REVISION, SHA256, ORIGIN_REGION, ORIGIN_SEQ, CREATED_AT
       FROM GWSYNC_CHANGELOG
       WHERE SEQ > ? AND GATEWAY_LABEL IN (SELECT value FROM json_each(?))
       ORDER BY SEQ LIMIT ?`,
    ),
    countPublished: db
      .prepare<[string], number>(
        "SELECT COUNT(*) FROM GWSYNC_LABEL_STATE WHERE GATEWAY_LABEL = ? AND GATEWAY_INSTRUCTION = 'Publish'",
      )
      .pluck(),
    headSeq: db.prepare<[], number>(`SELECT COALESCE(MAX(SEQ), 0) FROM GWSYNC_CHANGELOG`).pluck(),
    apisChangedSince: db.prepare<[number, number], { SEQ: number; API_ID: string }>(
      `SELECT SEQ, API_ID FROM GWSYNC_CHANGELOG WHERE SEQ > ? ORDER BY SEQ LIMIT ?`,
    ),
    hasOriginChange: db
      .prepare<[string, number], number>(
        `SELECT 1 FROM GWSYNC_CHANGELOG WHERE ORIGIN_REGION = ? AND ORIGIN_SEQ = ? LIMIT 1`,
      )
      .pluck(),
    originSeqOf: db
      .prepare<[number, string], number>(
        `SELECT ORIGIN_SEQ FROM GWSYNC_CHANGELOG WHERE SEQ = ? AND ORIGIN_REGION = ?`,
      )
      .pluck(),
    hasLocalChange: db
      .prepare<[number], number>(`SELECT 1 FROM GWSYNC_CHANGELOG WHERE SEQ = ? AND ORIGIN_REGION IS NULL`)
      .pluck(),
    pendingOutbox: db.prepare<[number, number], OutboxRow>(
      `SELECT ID, TOPIC, MESSAGE_ID, BODY, HEADERS, CREATED_AT, ATTEMPTS FROM GWSYNC_OUTBOX WHERE ID > ? ORDER BY ID LIMIT ?`,
    ),
    outboxDepth: db.prepare<[], number>(`SELECT COUNT(*) FROM GWSYNC_OUTBOX`).pluck(),
    // One row per revision and label; the store groups them by revision (newest first).
    apiHistory: db.prepare<[string], HistoryRow>(
      `SELECT c.REVISION, c.GATEWAY_INSTRUCTION, c.GATEWAY_LABEL, c.SHA256, c.SEQ, c.CREATED_AT, c.ORIGIN_REGION,
         c.SOURCE_COMMIT, EXISTS (SELECT 1 FROM GWSYNC_ARTIFACT_BODIES b WHERE b.SHA256 = c.SHA256) AS HAS_BODY
       FROM GWSYNC_CHANGELOG c WHERE c.API_ID = ? ORDER BY c.REVISION DESC, c.SEQ`,
    ),
    revisionRows: db.prepare<[string, number], HistoryRow>(
      `SELECT c.REVISION, c.GATEWAY_INSTRUCTION, c.GATEWAY_LABEL, c.SHA256, c.SEQ, c.CREATED_AT, c.ORIGIN_REGION,
         c.SOURCE_COMMIT, EXISTS (SELECT 1 FROM GWSYNC_ARTIFACT_BODIES b WHERE b.SHA256 = c.SHA256) AS HAS_BODY
       FROM GWSYNC_CHANGELOG c WHERE c.API_ID = ? AND c.REVISION = ? ORDER BY c.SEQ`,
    ),
    body: db.prepare<[string], Buffer>(`SELECT BODY FROM GWSYNC_ARTIFACT_BODIES WHERE SHA256 = ?`).pluck(),
  };
}

/** Statements that write (and the reads the save transaction needs); prepared only for writable stores. @internal */
export function prepareWrites(db: Database.Database) {
  return {
    apiRevision: db
      .prepare<[string], number>(`SELECT REVISION FROM GWSYNC_API_STATE WHERE API_ID = ?`)
      .pluck(),
    labelState: db.prepare<[string, string], LabelStateRow>(
      `SELECT GATEWAY_INSTRUCTION, REVISION, SHA256, SEQ FROM GWSYNC_LABEL_STATE WHERE GATEWAY_LABEL = ? AND API_ID = ?`,
    ),
    upsertApiRevision: db.prepare<[string, number]>(
      `INSERT INTO GWSYNC_API_STATE (API_ID, REVISION) VALUES (?, ?)
       ON CONFLICT (API_ID) DO UPDATE SET REVISION = excluded.REVISION`,
    ),
    upsertDetails: db.prepare<[string, string, string, string, string, string]>(
      `INSERT INTO AM_GW_PUBLISHED_API_DETAILS (API_ID, TENANT_DOMAIN, API_PROVIDER, API_NAME, API_VERSION, API_TYPE)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (API_ID) DO UPDATE SET TENANT_DOMAIN = excluded.TENANT_DOMAIN,
         API_PROVIDER = excluded.API_PROVIDER, API_NAME = excluded.API_NAME,
         API_VERSION = excluded.API_VERSION, API_TYPE = excluded.API_TYPE
       WHERE TENANT_DOMAIN IS NOT excluded.TENANT_DOMAIN OR API_PROVIDER IS NOT excluded.API_PROVIDER
         OR API_NAME IS NOT excluded.API_NAME OR API_VERSION IS NOT excluded.API_VERSION
         OR API_TYPE IS NOT excluded.API_TYPE`,
    ),
    // Publish: WSO2's UPSERT of (API_ID, GATEWAY_LABEL) with the new artifact and instruction.
    upsertArtifact: db.prepare<[string, Buffer, string, string]>(
      `INSERT INTO AM_GW_API_ARTIFACTS (API_ID, ARTIFACT, GATEWAY_INSTRUCTION, GATEWAY_LABEL, TIME_STAMP)
       VALUES (?, ?, 'Publish', ?, ?)
       ON CONFLICT (GATEWAY_LABEL, API_ID) DO UPDATE SET ARTIFACT = excluded.ARTIFACT,
         GATEWAY_INSTRUCTION = excluded.GATEWAY_INSTRUCTION, TIME_STAMP = excluded.TIME_STAMP`,
    ),
    // Remove: the row stays, with its last artifact, and only the instruction flips (as WSO2 does).
    markRemoved: db.prepare<[string, string, string]>(
      `UPDATE AM_GW_API_ARTIFACTS SET GATEWAY_INSTRUCTION = 'Remove', TIME_STAMP = ?
       WHERE GATEWAY_LABEL = ? AND API_ID = ?`,
    ),
    upsertLabelState: db.prepare<[string, string, GatewayInstruction, number, string, number, number]>(
      `INSERT INTO GWSYNC_LABEL_STATE (GATEWAY_LABEL, API_ID, GATEWAY_INSTRUCTION, REVISION, SHA256, SEQ, UPDATED_AT)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (GATEWAY_LABEL, API_ID) DO UPDATE SET GATEWAY_INSTRUCTION = excluded.GATEWAY_INSTRUCTION,
         REVISION = excluded.REVISION, SHA256 = excluded.SHA256, SEQ = excluded.SEQ, UPDATED_AT = excluded.UPDATED_AT`,
    ),
    insertChange: db.prepare<
      [
        string,
        string,
        GatewayInstruction,
        number,
        string,
        string | null,
        number | null,
        number,
        string | null,
      ]
    >(
      `INSERT INTO GWSYNC_CHANGELOG
         (API_ID, GATEWAY_LABEL, GATEWAY_INSTRUCTION, REVISION, SHA256, ORIGIN_REGION, ORIGIN_SEQ, CREATED_AT, SOURCE_COMMIT)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    // Each artifact's bytes once, by sha256: what history, rollback and diff read back.
    insertBody: db.prepare<[string, Buffer]>(
      `INSERT OR IGNORE INTO GWSYNC_ARTIFACT_BODIES (SHA256, BODY) VALUES (?, ?)`,
    ),
    // One file, one API per label (GWSYNC_API_FILES): who owns a file a save would write.
    fileOwner: db
      .prepare<[string, string], string>(
        `SELECT API_ID FROM GWSYNC_API_FILES WHERE GATEWAY_LABEL = ? AND REL_PATH = ?`,
      )
      .pluck(),
    // The files a label's row of the API holds now: a publish that keeps them writes no page of them.
    filesOf: db
      .prepare<[string, string], string>(
        `SELECT REL_PATH FROM GWSYNC_API_FILES WHERE API_ID = ? AND GATEWAY_LABEL = ?`,
      )
      .pluck(),
    releaseFiles: db.prepare<[string, string]>(
      `DELETE FROM GWSYNC_API_FILES WHERE GATEWAY_LABEL = ? AND API_ID = ?`,
    ),
    claimFile: db.prepare<[string, string, string]>(
      `INSERT OR REPLACE INTO GWSYNC_API_FILES (GATEWAY_LABEL, REL_PATH, API_ID) VALUES (?, ?, ?)`,
    ),
    insertOutbox: db.prepare<[string, string, Buffer, string, number]>(
      `INSERT INTO GWSYNC_OUTBOX (TOPIC, MESSAGE_ID, BODY, HEADERS, CREATED_AT) VALUES (?, ?, ?, ?, ?)`,
    ),
    deleteOutbox: db.prepare<[number]>(`DELETE FROM GWSYNC_OUTBOX WHERE ID = ?`),
    /** A run of consecutive ids, all of one claim: exactly those rows (ID is the integer primary key). */
    deleteOutboxRun: db.prepare<[number, number]>(`DELETE FROM GWSYNC_OUTBOX WHERE ID BETWEEN ? AND ?`),
    recordAttempt: db.prepare<[number]>(`UPDATE GWSYNC_OUTBOX SET ATTEMPTS = ATTEMPTS + 1 WHERE ID = ?`),
  };
}

/** @internal */
export type ReadStatements = ReturnType<typeof prepareReads>;
/** @internal */
export type WriteStatements = ReturnType<typeof prepareWrites>;
