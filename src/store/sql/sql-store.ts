import { GwsyncError, isGwsyncError } from "../../errors.js";
import {
  cursorFromRow,
  type GatewayReportFilter,
  gatewayReportsQuery,
  reportFromRow,
} from "../gateway-report-rows.js";
import { groupRevisions, type RevisionRow } from "../history.js";
import { type ParsedSave, parseOutboxMessages, parseSaveInput, sha256Hex } from "../save-input.js";
import { type LabelBefore, type LabelState, planSave, rowSha256 } from "../save-rules.js";
import type {
  AgreementRecord,
  AgreementRole,
  ArtifactStore,
  ChangeRecord,
  GatewayApiReport,
  GatewayHeartbeat,
  GatewayInstruction,
  GatewayReportCursor,
  NewOutboxMessage,
  OutboxClaim,
  OutboxMessage,
  RevisionRecord,
  SaveArtifactInput,
  SaveArtifactResult,
  StoredArtifact,
  StoredRevision,
  StoreEngine,
  StoreHealth,
} from "../types.js";
import type { LeaderLock } from "../leader-lock.js";
import type { OpenTransaction, Row, SqlConn, SqlDriver } from "./driver.js";

/** Page size of changesSince when the caller gives none (as SQLite's). */
const DEFAULT_CHANGES_LIMIT = 10_000;
const DEFAULT_LOCAL_REGION = "local";
const DEFAULT_TENANT_DOMAIN = "carbon.super";
/** A save that met a deadlock or a concurrent claim of the same file is run again this many times. */
const MAX_ATTEMPTS = 8;
/** Rows per multi-row statement (files of one API can be many). */
const CHUNK = 500;

type BuildMessages = (result: SaveArtifactResult) => NewOutboxMessage[];

export interface SqlStoreOptions {
  /** Open for reading only (a relay, `gwsync status`): no migration, no writes. */
  readonly?: boolean;
  /** This region's name, reported as the origin of local changes. Default "local". */
  region?: string;
  now?: () => number;
  /**
   * Tests only: awaited inside a save transaction after its changelog rows were written, just before
   * COMMIT, so a test can hold a transaction open and interleave another (store-contract tests).
   */
  beforeCommit?: (result: SaveArtifactResult) => Promise<void>;
}

const EMPTY_CLAIM: OutboxClaim = {
  rows: [],
  sent: async () => undefined,
  release: async () => undefined,
};

/** A concurrent transaction claimed a file this save wants: run the save again (it then sees the owner). */
class RetrySave extends Error {}

const marks = (n: number) => Array.from({ length: n }, () => "?").join(", ");
const num = (v: unknown) => (v === null || v === undefined ? 0 : Number(v));
const str = (v: unknown) => (v === null || v === undefined ? "" : String(v));
const buf = (v: unknown): Buffer => (Buffer.isBuffer(v) ? v : Buffer.from(str(v), "utf8"));

function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

const META_COLUMNS = `s.API_ID AS API_ID, s.GATEWAY_LABEL AS GATEWAY_LABEL, s.GATEWAY_INSTRUCTION AS GATEWAY_INSTRUCTION,
  s.REVISION AS REVISION, s.SHA256 AS SHA256, s.SEQ AS SEQ, s.UPDATED_AT AS UPDATED_AT, d.API_NAME AS API_NAME,
  d.API_VERSION AS API_VERSION, d.API_PROVIDER AS API_PROVIDER, d.TENANT_DOMAIN AS TENANT_DOMAIN`;
const META_FROM = `GWSYNC_LABEL_STATE s JOIN AM_GW_PUBLISHED_API_DETAILS d ON d.API_ID = s.API_ID`;
const BODY_JOIN = `JOIN AM_GW_API_ARTIFACTS a ON a.GATEWAY_LABEL = s.GATEWAY_LABEL AND a.API_ID = s.API_ID`;
const CHANGE_COLUMNS = `SEQ, API_ID, GATEWAY_LABEL, GATEWAY_INSTRUCTION, REVISION, SHA256, ORIGIN_REGION, ORIGIN_SEQ, CREATED_AT`;
const HISTORY_COLUMNS = `c.REVISION AS REVISION, c.GATEWAY_INSTRUCTION AS GATEWAY_INSTRUCTION, c.GATEWAY_LABEL AS GATEWAY_LABEL,
  c.SHA256 AS SHA256, c.SEQ AS SEQ, c.CREATED_AT AS CREATED_AT, c.ORIGIN_REGION AS ORIGIN_REGION,
  c.SOURCE_COMMIT AS SOURCE_COMMIT,
  CASE WHEN EXISTS (SELECT 1 FROM GWSYNC_ARTIFACT_BODIES b WHERE b.SHA256 = c.SHA256) THEN 1 ELSE 0 END AS HAS_BODY`;

function toRevisionRow(r: Row): RevisionRow {
  return {
    revision: num(r.REVISION),
    instruction: str(r.GATEWAY_INSTRUCTION) as GatewayInstruction,
    label: str(r.GATEWAY_LABEL),
    sha256: str(r.SHA256),
    seq: num(r.SEQ),
    createdAt: num(r.CREATED_AT),
    originRegion: r.ORIGIN_REGION === null || r.ORIGIN_REGION === undefined ? null : str(r.ORIGIN_REGION),
    commit: r.SOURCE_COMMIT === null || r.SOURCE_COMMIT === undefined ? null : str(r.SOURCE_COMMIT),
    hasContent: num(r.HAS_BODY) === 1,
  };
}
const OUTBOX_COLUMNS = `ID, TOPIC, MESSAGE_ID, BODY, HEADERS, CREATED_AT, ATTEMPTS`;

function toStoredArtifact(r: Row): StoredArtifact {
  return {
    apiId: str(r.API_ID),
    label: str(r.GATEWAY_LABEL),
    instruction: str(r.GATEWAY_INSTRUCTION) as GatewayInstruction,
    artifactJson: r.BODY === undefined || r.BODY === null ? "" : buf(r.BODY).toString("utf8"),
    name: str(r.API_NAME),
    version: str(r.API_VERSION),
    provider: str(r.API_PROVIDER),
    tenantDomain: str(r.TENANT_DOMAIN),
    revision: num(r.REVISION),
    sha256: str(r.SHA256),
    seq: num(r.SEQ),
    updatedAt: num(r.UPDATED_AT),
  };
}

function toOutboxMessage(r: Row): OutboxMessage {
  const id = num(r.ID);
  let headers: Record<string, string | number>;
  try {
    const parsed: unknown = JSON.parse(str(r.HEADERS));
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
      throw new Error("not an object");
    for (const v of Object.values(parsed)) {
      if (typeof v !== "string" && typeof v !== "number") throw new Error("not a string or number");
    }
    headers = parsed as Record<string, string | number>;
  } catch (cause) {
    throw new GwsyncError(
      "GWSYNC_STORE_FAILED",
      `outbox row ${id} has unreadable HEADERS (not a JSON object of strings and numbers): delete the row`,
      { cause, retryable: false, details: { id } },
    );
  }
  return {
    id,
    topic: str(r.TOPIC),
    messageId: str(r.MESSAGE_ID),
    body: buf(r.BODY),
    headers,
    createdAt: num(r.CREATED_AT),
    attempts: num(r.ATTEMPTS),
  };
}

/**
 * The ArtifactStore of the networked engines (PostgreSQL, MySQL/MariaDB), written once over a
 * SqlDriver. Several publisher nodes share one database:
 *
 * - Revisions: a save locks its API's GWSYNC_API_STATE row first (created if missing), so writers of
 *   one API take turns and each reads the revision the previous one committed: revisions grow, no
 *   update is lost. Writers of different APIs do not wait for each other until the last step.
 * - Changelog, gap-safe by commit order: the changelog sequence is not an auto-increment but a counter
 *   row (GWSYNC_SEQUENCE) each save locks as its last step, before writing its changelog rows and
 *   committing. The lock is held until COMMIT, so the save that got seq N has committed before the
 *   next one can take N+1: sequence order is commit order, and a reader that saw N+1 sees every
 *   number below it. The cost is that commits are serialized (as SQLite's single writer is), while the
 *   rest of each save runs in parallel.
 * - Outbox: `claimOutbox` selects rows `FOR UPDATE SKIP LOCKED` in a transaction held until
 *   `sent()` (DELETE, COMMIT) or `release()` (count an attempt, COMMIT). A node that dies loses its
 *   connection, the database rolls its claim back and the rows are free for the other nodes.
 */
export class SqlArtifactStore implements ArtifactStore {
  readonly engine: StoreEngine;
  readonly location: string;
  readonly readonly: boolean;
  readonly #d: SqlDriver;
  readonly #region: string;
  readonly #now: () => number;
  readonly #beforeCommit: ((r: SaveArtifactResult) => Promise<void>) | undefined;
  #ready: Promise<void> | undefined;
  #closed = false;

  constructor(driver: SqlDriver, options: SqlStoreOptions = {}) {
    this.#d = driver;
    this.engine = driver.engine;
    this.location = driver.location;
    this.readonly = options.readonly ?? false;
    this.#region = options.region ?? DEFAULT_LOCAL_REGION;
    this.#now = options.now ?? Date.now;
    this.#beforeCommit = options.beforeCommit;
  }

  /**
   * Connect and migrate (or, readonly, check the schema) on first use. A failure is not kept: the
   * next call tries again, so a publisher started before its database comes up recovers.
   */
  open(): Promise<void> {
    if (this.#closed) {
      return Promise.reject(
        new GwsyncError("GWSYNC_STORE_FAILED", `store ${this.location} is closed`, { retryable: false }),
      );
    }
    this.#ready ??= (async () => {
      try {
        if (this.readonly) await this.#checkSchema();
        else await this.#d.migrate();
      } catch (err) {
        this.#ready = undefined;
        throw isGwsyncError(err) ? err : this.#d.toStoreError(err, "open");
      }
    })();
    return this.#ready;
  }

  async #checkSchema(): Promise<void> {
    const found = await this.#d.schemaVersion();
    const expected = this.#d.latestVersion;
    if (found === expected) return;
    throw new GwsyncError(
      "GWSYNC_STORE_FAILED",
      found === 0
        ? `${this.location} has no gwsync schema: start a publisher on it first`
        : found > expected
          ? `store ${this.location} has schema version ${found}, newer than this gwsync's ${expected}: upgrade gwsync`
          : `store ${this.location} has schema version ${found}, older than ${expected}: start a publisher once to migrate it`,
      { retryable: false, details: { found, expected } },
    );
  }

  /** A read on any connection, after open(), with errors mapped. */
  async #read(operation: string, sql: string, params: readonly unknown[] = []): Promise<Row[]> {
    await this.open();
    try {
      return await this.#d.query(sql, params);
    } catch (err) {
      throw this.#d.toStoreError(err, operation);
    }
  }

  async #runOrFail(operation: string, sql: string, params: readonly unknown[]): Promise<number> {
    try {
      return await this.#d.run(sql, params);
    } catch (err) {
      throw this.#d.toStoreError(err, operation);
    }
  }

  /** Run `fn` in a transaction; a deadlock or a lost race for a file runs it again. */
  async #transaction<T>(
    operation: string,
    fn: (c: SqlConn) => Promise<T>,
    beforeCommit?: (out: T) => Promise<void>,
  ): Promise<T> {
    this.#writes(operation);
    await this.open();
    for (let attempt = 1; ; attempt++) {
      let tx: OpenTransaction;
      try {
        tx = await this.#d.begin();
      } catch (err) {
        throw this.#d.toStoreError(err, operation);
      }
      try {
        const out = await fn(tx.conn);
        await beforeCommit?.(out);
        await tx.commit();
        return out;
      } catch (err) {
        await tx.rollback().catch(() => undefined);
        const again = err instanceof RetrySave || this.#d.isRetryable(err);
        if (again && attempt < MAX_ATTEMPTS) {
          // Back off a little, at random, so two nodes that deadlocked do not meet again at once.
          await new Promise((r) => setTimeout(r, Math.random() * 5 * attempt));
          continue;
        }
        if (err instanceof RetrySave) {
          throw new GwsyncError("GWSYNC_STORE_FAILED", `${operation}: ${err.message}`, { retryable: true });
        }
        throw isGwsyncError(err) ? err : this.#d.toStoreError(err, operation);
      }
    }
  }

  async saveArtifact(input: SaveArtifactInput, buildMessages: BuildMessages): Promise<SaveArtifactResult> {
    this.#writes("saveArtifact");
    const p = parseSaveInput(input);
    const hook = this.#beforeCommit;
    return this.#transaction(
      "saveArtifact",
      (c) => this.#save(c, p, buildMessages),
      hook === undefined ? undefined : async (r) => (r.changed ? hook(r) : undefined),
    );
  }

  async #save(c: SqlConn, p: ParsedSave, build: BuildMessages): Promise<SaveArtifactResult> {
    // 1. The API's revision row, locked until COMMIT: writers of this API take turns from here.
    await c.run(this.#d.lockApiRow, [p.apiId]);
    const rev = await c.query("SELECT REVISION FROM GWSYNC_API_STATE WHERE API_ID = ? FOR UPDATE", [p.apiId]);
    const storedRevision = num(rev[0]?.REVISION);
    const stateRows = await c.query(
      `SELECT GATEWAY_LABEL, GATEWAY_INSTRUCTION, REVISION, SHA256, SEQ FROM GWSYNC_LABEL_STATE
       WHERE API_ID = ? AND GATEWAY_LABEL IN (${marks(p.labels.length)})`,
      [p.apiId, ...p.labels],
    );
    const byLabel = new Map<string, LabelState>();
    for (const r of stateRows) {
      byLabel.set(str(r.GATEWAY_LABEL), {
        instruction: str(r.GATEWAY_INSTRUCTION) as GatewayInstruction,
        revision: num(r.REVISION),
        sha256: str(r.SHA256),
        seq: num(r.SEQ),
      });
    }
    const states: LabelBefore[] = p.labels.map((label) => ({ label, state: byLabel.get(label) }));
    const origin = p.origin;
    const originStored =
      origin !== undefined &&
      ((await this.#originStored(c, origin.region, origin.seq)) ||
        (origin.revision === undefined && (await this.#newerFromOrigin(c, origin, states))));
    const plan = planSave(p, storedRevision, states, originStored);
    if (plan.kind === "unchanged") return plan.result;
    const files = p.instruction === "Publish" && p.files !== undefined ? [...new Set(p.files)] : undefined;
    if (files !== undefined) await this.#refuseFileConflicts(c, p, plan.labels, files);

    // 2. The artifact rows (WSO2's tables) and the API's files.
    const { revision } = plan;
    const now = this.#now();
    await c.run("UPDATE GWSYNC_API_STATE SET REVISION = ? WHERE API_ID = ?", [revision, p.apiId]);
    const d = this.#d;
    if (p.instruction === "Publish") {
      const dto = p.dto;
      await c.run(
        d.upsert(
          "AM_GW_PUBLISHED_API_DETAILS",
          ["API_ID", "TENANT_DOMAIN", "API_PROVIDER", "API_NAME", "API_VERSION", "API_TYPE"],
          ["?", "?", "?", "?", "?", "?"],
          ["API_ID"],
          ["TENANT_DOMAIN", "API_PROVIDER", "API_NAME", "API_VERSION", "API_TYPE"],
        ),
        [p.apiId, dto.tenantDomain, dto.provider, dto.name, dto.version, p.apiType],
      );
    }
    const body = p.instruction === "Publish" ? Buffer.from(p.artifactJson, "utf8") : undefined;
    // History: the bytes once by sha256 (a rollback to earlier bytes stores nothing new).
    if (body !== undefined) await c.run(d.insertBody, [p.sha256, body]);
    for (const { label } of plan.labels) {
      if (body === undefined) {
        await c.run(
          `UPDATE AM_GW_API_ARTIFACTS SET GATEWAY_INSTRUCTION = 'Remove', TIME_STAMP = CURRENT_TIMESTAMP
           WHERE GATEWAY_LABEL = ? AND API_ID = ?`,
          [label, p.apiId],
        );
      } else {
        await c.run(
          d.upsert(
            "AM_GW_API_ARTIFACTS",
            ["API_ID", "ARTIFACT", "GATEWAY_INSTRUCTION", "GATEWAY_LABEL", "TIME_STAMP"],
            ["?", "?", "'Publish'", "?", "CURRENT_TIMESTAMP"],
            ["GATEWAY_LABEL", "API_ID"],
            ["ARTIFACT", "GATEWAY_INSTRUCTION", "TIME_STAMP"],
          ),
          [p.apiId, body, label],
        );
      }
      if (p.instruction === "Remove" || files !== undefined) {
        await c.run("DELETE FROM GWSYNC_API_FILES WHERE GATEWAY_LABEL = ? AND API_ID = ?", [label, p.apiId]);
      }
      if (files !== undefined) await this.#claimFiles(c, label, p.apiId, files);
    }

    // 3. Last: the changelog counter, locked until COMMIT (commit order is sequence order).
    const n = plan.labels.length;
    await c.run("UPDATE GWSYNC_SEQUENCE SET LAST_SEQ = LAST_SEQ + ? WHERE NAME = 'changelog'", [n]);
    const last = num(
      (await c.query("SELECT LAST_SEQ FROM GWSYNC_SEQUENCE WHERE NAME = 'changelog'"))[0]?.LAST_SEQ,
    );
    let seq = last - n;
    for (const { label, state } of plan.labels) {
      seq++;
      const rowSha = rowSha256(p, state);
      await c.run(
        `INSERT INTO GWSYNC_CHANGELOG (${CHANGE_COLUMNS}, SOURCE_COMMIT) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          seq,
          p.apiId,
          label,
          p.instruction,
          revision,
          rowSha,
          origin?.region ?? null,
          origin?.seq ?? null,
          now,
          p.sourceCommit ?? null,
        ],
      );
      await c.run(
        d.upsert(
          "GWSYNC_LABEL_STATE",
          ["GATEWAY_LABEL", "API_ID", "GATEWAY_INSTRUCTION", "REVISION", "SHA256", "SEQ", "UPDATED_AT"],
          ["?", "?", "?", "?", "?", "?", "?"],
          ["GATEWAY_LABEL", "API_ID"],
          ["GATEWAY_INSTRUCTION", "REVISION", "SHA256", "SEQ", "UPDATED_AT"],
        ),
        [label, p.apiId, p.instruction, revision, rowSha, seq, now],
      );
    }
    const result: SaveArtifactResult = {
      apiId: p.apiId,
      revision,
      sha256: p.sha256,
      seq,
      labels: plan.labels.map((s) => s.label),
      changed: true,
    };
    await this.#insertOutbox(c, parseOutboxMessages(build({ ...result, labels: [...result.labels] })), now);
    return result;
  }

  /**
   * A pulled change (an origin without a revision: replication) older than the one a label holds from
   * the same origin region: the master's changes come in sequence order, so one that arrives after a
   * later one is a stale puller's (docs/replication.md, "Several publisher nodes") and is skipped.
   */
  async #newerFromOrigin(
    c: SqlConn,
    origin: { region: string; seq: number },
    states: readonly LabelBefore[],
  ): Promise<boolean> {
    for (const { state } of states) {
      if (state === undefined) continue;
      const r = await c.query("SELECT ORIGIN_SEQ FROM GWSYNC_CHANGELOG WHERE SEQ = ? AND ORIGIN_REGION = ?", [
        state.seq,
        origin.region,
      ]);
      if (r.length > 0 && num(r[0]?.ORIGIN_SEQ) > origin.seq) return true;
    }
    return false;
  }

  async #originStored(c: SqlConn, region: string, originSeq: number): Promise<boolean> {
    const hit = await c.query(
      "SELECT 1 AS HIT FROM GWSYNC_CHANGELOG WHERE ORIGIN_REGION = ? AND ORIGIN_SEQ = ? LIMIT 1",
      [region, originSeq],
    );
    if (hit.length > 0) return true;
    // Our own change coming back through a mesh of relays is already stored under its local seq.
    if (region !== this.#region) return false;
    const local = await c.query(
      "SELECT 1 AS HIT FROM GWSYNC_CHANGELOG WHERE SEQ = ? AND ORIGIN_REGION IS NULL",
      [originSeq],
    );
    return local.length > 0;
  }

  /** One file, one API: a Publish that would write a file another API owns on a label is refused whole. */
  async #refuseFileConflicts(
    c: SqlConn,
    p: ParsedSave,
    labels: readonly { label: string }[],
    files: readonly string[],
  ): Promise<void> {
    for (const { label } of labels) {
      const owners = new Map<string, string>();
      for (const part of chunks(files)) {
        const rows = await c.query(
          `SELECT REL_PATH, API_ID FROM GWSYNC_API_FILES
           WHERE GATEWAY_LABEL = ? AND PATH_KEY IN (${marks(part.length)}) AND API_ID <> ?`,
          [label, ...part.map(sha256Hex), p.apiId],
        );
        for (const r of rows) owners.set(str(r.REL_PATH), str(r.API_ID));
      }
      const file = files.find((f) => owners.has(f));
      if (file !== undefined) {
        const owner = owners.get(file);
        throw new GwsyncError(
          "GWSYNC_ARTIFACT_CONFLICT",
          `API ${p.apiId} would write ${file} on label "${label}", which API ${owner} owns there; rename one of them (one file, one API)`,
          { details: { apiId: p.apiId, owner, label, file } },
        );
      }
    }
  }

  async #claimFiles(c: SqlConn, label: string, apiId: string, files: readonly string[]): Promise<void> {
    // Sorted, so two saves claiming overlapping files lock them in one order (no deadlock).
    const sorted = [...files].sort();
    for (const part of chunks(sorted)) {
      try {
        await c.run(
          `INSERT INTO GWSYNC_API_FILES (GATEWAY_LABEL, PATH_KEY, REL_PATH, API_ID) VALUES ${part.map(() => "(?, ?, ?, ?)").join(", ")}`,
          part.flatMap((f) => [label, sha256Hex(f), f, apiId]),
        );
      } catch (err) {
        // Another API's save committed one of these files after our check: run again and be told who.
        if (this.#d.isDuplicate(err)) throw new RetrySave(`a file of API ${apiId} was claimed concurrently`);
        throw err;
      }
    }
  }

  async #insertOutbox(c: SqlConn, messages: readonly NewOutboxMessage[], now: number): Promise<void> {
    for (const m of messages) {
      await c.run(
        "INSERT INTO GWSYNC_OUTBOX (TOPIC, MESSAGE_ID, BODY, HEADERS, CREATED_AT, ATTEMPTS) VALUES (?, ?, ?, ?, ?, 0)",
        [m.topic, m.messageId, m.body, JSON.stringify(m.headers), now],
      );
    }
    if (messages.length > 0) await this.#d.announceOutbox(c);
  }

  async enqueue(messages: NewOutboxMessage[]): Promise<void> {
    this.#writes("enqueue");
    const parsed = parseOutboxMessages(messages);
    if (parsed.length === 0) return;
    await this.#transaction("enqueue", (c) => this.#insertOutbox(c, parsed, this.#now()));
  }

  async getArtifact(apiId: string, label: string): Promise<StoredArtifact | undefined> {
    const rows = await this.#read(
      "getArtifact",
      `SELECT ${META_COLUMNS}, a.ARTIFACT AS BODY FROM ${META_FROM} ${BODY_JOIN}
       WHERE s.GATEWAY_LABEL = ? AND s.API_ID = ?`,
      [label, apiId],
    );
    return rows[0] === undefined ? undefined : toStoredArtifact(rows[0]);
  }

  async listArtifacts(
    options: { label?: string; includeRemoved?: boolean; withBody?: boolean } = {},
  ): Promise<StoredArtifact[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (options.label !== undefined) {
      where.push("s.GATEWAY_LABEL = ?");
      params.push(options.label);
    }
    if (!options.includeRemoved) where.push("s.GATEWAY_INSTRUCTION = 'Publish'");
    const rows = await this.#read(
      "listArtifacts",
      `SELECT ${META_COLUMNS}${options.withBody ? ", a.ARTIFACT AS BODY" : ""} FROM ${META_FROM}
       ${options.withBody ? BODY_JOIN : ""} ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""}
       ORDER BY s.GATEWAY_LABEL, s.API_ID`,
      params,
    );
    return rows.map(toStoredArtifact);
  }

  async countArtifacts(label: string): Promise<number> {
    const rows = await this.#read(
      "countArtifacts",
      "SELECT COUNT(*) AS N FROM GWSYNC_LABEL_STATE WHERE GATEWAY_LABEL = ? AND GATEWAY_INSTRUCTION = 'Publish'",
      [label],
    );
    return num(rows[0]?.N);
  }

  async listArtifactPage(label: string, after: string, limit: number): Promise<StoredArtifact[]> {
    positive("listArtifactPage", "limit", limit);
    const rows = await this.#read(
      "listArtifactPage",
      `SELECT ${META_COLUMNS}, a.ARTIFACT AS BODY FROM ${META_FROM} ${BODY_JOIN}
       WHERE s.GATEWAY_LABEL = ? AND s.GATEWAY_INSTRUCTION = 'Publish' AND s.API_ID > ?
       ORDER BY s.API_ID LIMIT ?`,
      [label, after, limit],
    );
    return rows.map(toStoredArtifact);
  }

  async findApiId(
    name: string,
    version: string,
    tenantDomain: string = DEFAULT_TENANT_DOMAIN,
  ): Promise<string | undefined> {
    const rows = await this.#read(
      "findApiId",
      `SELECT API_ID FROM AM_GW_PUBLISHED_API_DETAILS WHERE API_NAME = ? AND API_VERSION = ? AND TENANT_DOMAIN = ?
       ORDER BY API_ID LIMIT 1`,
      [name, version, tenantDomain],
    );
    return rows[0] === undefined ? undefined : str(rows[0].API_ID);
  }

  async changesSince(
    since: number,
    labels: string[],
    limit: number = DEFAULT_CHANGES_LIMIT,
  ): Promise<ChangeRecord[]> {
    if (!Number.isSafeInteger(since) || since < 0) {
      throw new GwsyncError(
        "GWSYNC_USAGE",
        `changesSince: since must be a non-negative integer, got ${since}`,
      );
    }
    positive("changesSince", "limit", limit);
    const wanted = [...new Set(labels)];
    if (wanted.length === 0) return [];
    const rows = await this.#read(
      "changesSince",
      `SELECT ${CHANGE_COLUMNS} FROM GWSYNC_CHANGELOG
       WHERE SEQ > ? AND GATEWAY_LABEL IN (${marks(wanted.length)}) ORDER BY SEQ LIMIT ?`,
      [since, ...wanted, limit],
    );
    return rows.map((r) => ({
      seq: num(r.SEQ),
      apiId: str(r.API_ID),
      label: str(r.GATEWAY_LABEL),
      instruction: str(r.GATEWAY_INSTRUCTION) as GatewayInstruction,
      revision: num(r.REVISION),
      sha256: str(r.SHA256),
      originRegion:
        r.ORIGIN_REGION === null || r.ORIGIN_REGION === undefined ? this.#region : str(r.ORIGIN_REGION),
      originSeq: r.ORIGIN_SEQ === null || r.ORIGIN_SEQ === undefined ? num(r.SEQ) : num(r.ORIGIN_SEQ),
      createdAt: num(r.CREATED_AT),
    }));
  }

  async apiHistory(apiId: string, limit?: number): Promise<RevisionRecord[]> {
    if (limit !== undefined) positive("apiHistory", "limit", limit);
    const rows = await this.#read(
      "apiHistory",
      `SELECT ${HISTORY_COLUMNS} FROM GWSYNC_CHANGELOG c WHERE c.API_ID = ? ORDER BY c.REVISION DESC, c.SEQ`,
      [apiId],
    );
    const revisions = groupRevisions(rows.map(toRevisionRow), this.#region);
    return limit === undefined ? revisions : revisions.slice(0, limit);
  }

  async getRevision(apiId: string, revision: number): Promise<StoredRevision | undefined> {
    if (!Number.isSafeInteger(revision) || revision < 1) return undefined;
    const rows = await this.#read(
      "getRevision",
      `SELECT ${HISTORY_COLUMNS} FROM GWSYNC_CHANGELOG c WHERE c.API_ID = ? AND c.REVISION = ? ORDER BY c.SEQ`,
      [apiId, revision],
    );
    const record = groupRevisions(rows.map(toRevisionRow), this.#region)[0];
    if (record === undefined) return undefined;
    const body = record.hasContent
      ? (
          await this.#read("getRevision", "SELECT BODY FROM GWSYNC_ARTIFACT_BODIES WHERE SHA256 = ?", [
            record.sha256,
          ])
        )[0]
      : undefined;
    return { record, artifactJson: body === undefined ? undefined : buf(body.BODY).toString("utf8") };
  }

  async apisChangedSince(since: number, limit: number): Promise<{ seq: number; apiId: string }[]> {
    const rows = await this.#read(
      "apisChangedSince",
      `SELECT SEQ, API_ID FROM GWSYNC_CHANGELOG WHERE SEQ > ? ORDER BY SEQ LIMIT ${Math.max(1, Math.floor(limit))}`,
      [since],
    );
    return rows.map((r) => ({ seq: num(r.SEQ), apiId: str(r.API_ID) }));
  }

  async headSeq(): Promise<number> {
    const rows = await this.#read("headSeq", "SELECT COALESCE(MAX(SEQ), 0) AS HEAD FROM GWSYNC_CHANGELOG");
    return num(rows[0]?.HEAD);
  }

  async hasOriginChange(region: string, originSeq: number): Promise<boolean> {
    await this.open();
    try {
      return await this.#originStored(this.#d, region, originSeq);
    } catch (err) {
      throw this.#d.toStoreError(err, "hasOriginChange");
    }
  }

  async claimOutbox(limit: number): Promise<OutboxClaim> {
    this.#writes("claimOutbox");
    positive("claimOutbox", "limit", limit);
    await this.open();
    let tx: OpenTransaction;
    try {
      tx = await this.#d.begin();
    } catch (err) {
      throw this.#d.toStoreError(err, "claimOutbox");
    }
    let rows: OutboxMessage[];
    try {
      const read = await tx.conn.query(
        `SELECT ${OUTBOX_COLUMNS} FROM GWSYNC_OUTBOX ORDER BY ID LIMIT ? FOR UPDATE SKIP LOCKED`,
        [limit],
      );
      rows = read.map(toOutboxMessage);
    } catch (err) {
      await tx.rollback().catch(() => undefined);
      throw isGwsyncError(err) ? err : this.#d.toStoreError(err, "claimOutbox");
    }
    if (rows.length === 0) {
      await tx.commit().catch(() => undefined);
      return EMPTY_CLAIM;
    }
    const ids = rows.map((r) => r.id);
    let open = true;
    const end = async (operation: string, sql: string) => {
      if (!open) return;
      open = false;
      try {
        // One row at a time by primary key: a statement over an ID list may be planned as a scan, and a
        // scan waits on the rows other nodes' claims hold (MariaDB does so on a small table).
        for (const id of ids) await tx.conn.run(sql, [id]);
        await tx.commit();
      } catch (err) {
        await tx.rollback().catch(() => undefined);
        throw this.#d.toStoreError(err, operation);
      }
    };
    return {
      rows,
      sent: () => end("markSent", "DELETE FROM GWSYNC_OUTBOX WHERE ID = ?"),
      release: () => end("recordAttempt", "UPDATE GWSYNC_OUTBOX SET ATTEMPTS = ATTEMPTS + 1 WHERE ID = ?"),
    };
  }

  async peekOutbox(limit: number, afterId = 0): Promise<OutboxMessage[]> {
    positive("peekOutbox", "limit", limit);
    // A plain read: rows other nodes' claims lock are read, not waited for (MVCC on both engines).
    const rows = await this.#read(
      "peekOutbox",
      `SELECT ${OUTBOX_COLUMNS} FROM GWSYNC_OUTBOX WHERE ID > ? ORDER BY ID LIMIT ?`,
      [Number.isSafeInteger(afterId) && afterId > 0 ? afterId : 0, limit],
    );
    return rows.map(toOutboxMessage);
  }

  async outboxDepth(): Promise<number> {
    const rows = await this.#read("outboxDepth", "SELECT COUNT(*) AS N FROM GWSYNC_OUTBOX");
    return num(rows[0]?.N);
  }

  onOutboxCommit(listener: () => void): () => void {
    if (this.readonly || this.#closed) return () => undefined;
    return this.#d.listenOutbox(listener);
  }

  async recordHeartbeat(hb: GatewayHeartbeat): Promise<void> {
    this.#writes("recordHeartbeat");
    const cols = [
      "NODE_ID",
      "REGION",
      "LABELS",
      "APPLIED_SEQ",
      "DEPLOYED",
      "VERSION",
      "STATUS",
      "INTERVAL_MS",
      "LAST_SEEN",
    ];
    await this.open();
    await this.#runOrFail(
      "recordHeartbeat",
      this.#d.upsert(
        "GWSYNC_GATEWAYS",
        cols,
        cols.map(() => "?"),
        ["NODE_ID"],
        cols.slice(1),
      ),
      [
        hb.nodeId,
        hb.region,
        JSON.stringify(hb.labels),
        hb.appliedSeq,
        hb.deployed,
        hb.version,
        hb.status,
        hb.intervalMs,
        hb.lastSeen,
      ],
    );
  }

  async listGateways(): Promise<GatewayHeartbeat[]> {
    const rows = await this.#read("listGateways", "SELECT * FROM GWSYNC_GATEWAYS ORDER BY NODE_ID");
    return rows.map((r) => ({
      nodeId: str(r.NODE_ID),
      region: str(r.REGION),
      labels: JSON.parse(str(r.LABELS)) as string[],
      appliedSeq: num(r.APPLIED_SEQ),
      deployed: num(r.DEPLOYED),
      version: str(r.VERSION),
      status: str(r.STATUS),
      intervalMs: num(r.INTERVAL_MS),
      lastSeen: num(r.LAST_SEEN),
    }));
  }

  async forgetGateway(nodeId: string): Promise<boolean> {
    this.#writes("forgetGateway");
    await this.open();
    try {
      return await this.#transaction("forgetGateway", async (c) => {
        await c.run("DELETE FROM GWSYNC_GATEWAY_APIS WHERE NODE_ID = ?", [nodeId]);
        await c.run("DELETE FROM GWSYNC_GATEWAY_REPORTS WHERE NODE_ID = ?", [nodeId]);
        return (await c.run("DELETE FROM GWSYNC_GATEWAYS WHERE NODE_ID = ?", [nodeId])) > 0;
      });
    } catch (err) {
      throw isGwsyncError(err) ? err : this.#d.toStoreError(err, "forgetGateway");
    }
  }

  async listApiLabels(apiId: string): Promise<StoredArtifact[]> {
    const rows = await this.#read(
      "listApiLabels",
      `SELECT ${META_COLUMNS} FROM ${META_FROM} WHERE s.API_ID = ? ORDER BY s.GATEWAY_LABEL`,
      [apiId],
    );
    return rows.map(toStoredArtifact);
  }

  async recordGatewayReports(
    reports: GatewayApiReport[],
    options: { replace: boolean; cursor: GatewayReportCursor },
  ): Promise<void> {
    this.#writes("recordGatewayReports");
    const c0 = options.cursor;
    const apiCols = [
      "NODE_ID",
      "API_ID",
      "REVISION",
      "SHA256",
      "REFUSED_REVISION",
      "REFUSED_CODE",
      "REFUSED_MESSAGE",
      "REFUSED_AT",
      "REPORTED_AT",
    ];
    const cursorCols = ["NODE_ID", "BOOT", "SEQ", "COMPLETE", "SERVED", "REFUSED", "UPDATED_AT"];
    const upsertApi = this.#d.upsert(
      "GWSYNC_GATEWAY_APIS",
      apiCols,
      apiCols.map(() => "?"),
      ["NODE_ID", "API_ID"],
      apiCols.slice(2),
    );
    const upsertCursor = this.#d.upsert(
      "GWSYNC_GATEWAY_REPORTS",
      cursorCols,
      cursorCols.map(() => "?"),
      ["NODE_ID"],
      cursorCols.slice(1),
    );
    await this.#transaction("recordGatewayReports", async (c) => {
      if (options.replace) await c.run("DELETE FROM GWSYNC_GATEWAY_APIS WHERE NODE_ID = ?", [c0.nodeId]);
      for (const r of reports) {
        if (r.served === undefined && r.refusal === undefined) {
          if (!options.replace)
            await c.run("DELETE FROM GWSYNC_GATEWAY_APIS WHERE NODE_ID = ? AND API_ID = ?", [
              r.nodeId,
              r.apiId,
            ]);
          continue;
        }
        await c.run(upsertApi, [
          r.nodeId,
          r.apiId,
          r.served?.revision ?? null,
          r.served?.sha256 ?? null,
          r.refusal?.revision ?? null,
          r.refusal?.code ?? null,
          r.refusal?.message ?? null,
          r.refusal?.at ?? null,
          r.reportedAt,
        ]);
      }
      await c.run(upsertCursor, [
        c0.nodeId,
        c0.boot,
        c0.seq,
        c0.complete ? 1 : 0,
        c0.served,
        c0.refused,
        c0.updatedAt,
      ]);
    });
  }

  async listGatewayReports(filter: GatewayReportFilter = {}): Promise<GatewayApiReport[]> {
    const q = gatewayReportsQuery(filter);
    return (await this.#read("listGatewayReports", q.sql, q.args)).map(reportFromRow);
  }

  async listAgreements(): Promise<AgreementRecord[]> {
    const rows = await this.#read(
      "listAgreements",
      "SELECT AGREEMENT_ID, ROLE, DOCUMENT, UPDATED_AT FROM GWSYNC_REPLICATION_AGREEMENTS ORDER BY AGREEMENT_ID, ROLE",
    );
    return rows.map((r) => ({
      id: str(r.AGREEMENT_ID),
      role: str(r.ROLE) as AgreementRole,
      document: str(r.DOCUMENT),
      updatedAt: num(r.UPDATED_AT),
    }));
  }

  async putAgreement(record: AgreementRecord, ifDocument?: string): Promise<boolean> {
    this.#writes("putAgreement");
    const cols = ["AGREEMENT_ID", "ROLE", "DOCUMENT", "UPDATED_AT"];
    await this.open();
    if (ifDocument !== undefined) {
      const n = await this.#runOrFail(
        "putAgreement",
        `UPDATE GWSYNC_REPLICATION_AGREEMENTS SET DOCUMENT = ?, UPDATED_AT = ?
         WHERE AGREEMENT_ID = ? AND ROLE = ? AND DOCUMENT = ?`,
        [record.document, record.updatedAt, record.id, record.role, ifDocument],
      );
      if (n > 0) return true;
      // MySQL counts changed rows only: a row that already held exactly this document matched too.
      const now = await this.#read(
        "putAgreement",
        "SELECT DOCUMENT FROM GWSYNC_REPLICATION_AGREEMENTS WHERE AGREEMENT_ID = ? AND ROLE = ?",
        [record.id, record.role],
      );
      return now.length > 0 && str(now[0]?.DOCUMENT) === record.document && ifDocument === record.document;
    }
    await this.#runOrFail(
      "putAgreement",
      this.#d.upsert(
        "GWSYNC_REPLICATION_AGREEMENTS",
        cols,
        cols.map(() => "?"),
        ["AGREEMENT_ID", "ROLE"],
        cols.slice(2),
      ),
      [record.id, record.role, record.document, record.updatedAt],
    );
    return true;
  }

  async deleteAgreement(id: string, role: AgreementRole): Promise<boolean> {
    this.#writes("deleteAgreement");
    await this.open();
    const sql = "DELETE FROM GWSYNC_REPLICATION_AGREEMENTS WHERE AGREEMENT_ID = ? AND ROLE = ?";
    return (await this.#runOrFail("deleteAgreement", sql, [id, role])) > 0;
  }

  leaderLock(name: string): LeaderLock {
    return this.#d.leaderLock(name);
  }

  async listReportCursors(): Promise<GatewayReportCursor[]> {
    const rows = await this.#read(
      "listReportCursors",
      "SELECT * FROM GWSYNC_GATEWAY_REPORTS ORDER BY NODE_ID",
    );
    return rows.map(cursorFromRow);
  }

  async health(): Promise<StoreHealth> {
    const t0 = performance.now();
    const base = { engine: this.engine, location: this.location };
    try {
      await this.open();
      const version = await this.#d.schemaVersion();
      const ok = version === this.#d.latestVersion;
      return {
        ...base,
        ok,
        latencyMs: performance.now() - t0,
        detail: ok ? "ok" : `schema version ${version}, expected ${this.#d.latestVersion}`,
      };
    } catch (err) {
      const mapped = isGwsyncError(err) ? err : this.#d.toStoreError(err, "health");
      return { ...base, ok: false, latencyMs: performance.now() - t0, detail: (mapped as Error).message };
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#d.close();
  }

  #writes(operation: string): void {
    if (!this.readonly) return;
    throw new GwsyncError(
      "GWSYNC_STORE_FAILED",
      `store ${this.location} is open readonly: ${operation} needs the publisher's writable store`,
      { retryable: false, details: { operation } },
    );
  }
}

function positive(method: string, name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new GwsyncError("GWSYNC_USAGE", `${method}: ${name} must be a positive integer, got ${value}`);
  }
}
