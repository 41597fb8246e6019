import Database from "better-sqlite3";
import { GwsyncError, isGwsyncError } from "../../errors.js";
import {
  cursorFromRow,
  type GatewayReportFilter,
  gatewayReportsQuery,
  reportFromRow,
} from "../gateway-report-rows.js";
import { groupRevisions, type RevisionRow } from "../history.js";
import { type LeaderLock, LocalLeaderLock } from "../leader-lock.js";
import { type ParsedSave, parseOutboxMessages, parseSaveInput } from "../save-input.js";
import type { SavePlan } from "../save-rules.js";
import type {
  AgreementRecord,
  AgreementRole,
  ArtifactStore,
  ChangeRecord,
  GatewayApiReport,
  GatewayHeartbeat,
  GatewayReportCursor,
  NewOutboxMessage,
  OutboxClaim,
  OutboxMessage,
  RevisionRecord,
  SaveArtifactInput,
  SaveArtifactResult,
  StoredArtifact,
  StoredRevision,
  StoreHealth,
} from "../types.js";
import { toChangeRecord, toOutboxMessage, toStoredArtifact } from "./rows.js";
import {
  insertOutbox,
  planRows,
  refuseFileConflicts,
  type SaveContext,
  type SaveExtension,
  saveArtifactRows,
} from "./save-artifact.js";
import { checkSchema, migrate, SCHEMA_VERSION } from "./schema.js";
import { guard, toStoreError } from "./sqlite-errors.js";
import {
  type HistoryRow,
  prepareReads,
  prepareWrites,
  type ReadStatements,
  type WriteStatements,
} from "./statements.js";

function toRevisionRow(r: HistoryRow): RevisionRow {
  return {
    revision: r.REVISION,
    instruction: r.GATEWAY_INSTRUCTION,
    label: r.GATEWAY_LABEL,
    sha256: r.SHA256,
    seq: r.SEQ,
    createdAt: r.CREATED_AT,
    originRegion: r.ORIGIN_REGION,
    commit: r.SOURCE_COMMIT,
    hasContent: r.HAS_BODY === 1,
  };
}

/** How long a statement waits for a lock held by another connection (e.g. a checkpoint). */
export const DEFAULT_BUSY_TIMEOUT_MS = 5_000;
/**
 * SQLite's own checkpoint (wal_autocheckpoint) runs inside the COMMIT that pushes the WAL past this
 * many pages: kept only as a backstop, well above what the store's own checkpoint lets the WAL reach.
 */
export const WAL_AUTOCHECKPOINT_PAGES = 4000;
/**
 * The store checkpoints the WAL itself (PASSIVE, on the next turn of the event loop) after this many
 * write transactions: a publish writes ~20-25 pages, so ~500 pages, where SQLite's default would
 * checkpoint at 1,000 pages from inside a publish's commit (an fsync of the database file and the copy
 * of every page, on the REST call's path: B12's p99).
 */
export const CHECKPOINT_EVERY_COMMITS = 24;
/** Page size of changesSince when the caller gives none. */
export const DEFAULT_CHANGES_LIMIT = 10_000;
/** The region reported for local changes when the store is not told its region. */
export const DEFAULT_LOCAL_REGION = "local";
const DEFAULT_TENANT_DOMAIN = "carbon.super";

type BuildMessages = (result: SaveArtifactResult) => NewOutboxMessage[];

const EMPTY_CLAIM: OutboxClaim = {
  rows: [],
  sent: async () => undefined,
  release: async () => undefined,
};

interface WriteTransactions {
  ctx: SaveContext;
  save(input: ParsedSave, build: BuildMessages, ext?: SaveExtension): SaveArtifactResult;
  enqueue(messages: NewOutboxMessage[]): void;
  markSent(ids: number[]): void;
  recordAttempt(ids: number[]): void;
}

export interface SqliteStoreOptions {
  /** Open for reading only (e.g. `gwsync status` beside a running publisher): no migration, no writes. */
  readonly?: boolean;
  busyTimeoutMs?: number;
  /** This region's name, reported as the origin of local changes. Default "local". */
  region?: string;
  /** Clock in ms since epoch (tests). */
  now?: () => number;
  /** Hard ceiling on the file size in pages (`PRAGMA max_page_count`); beyond it writes fail as full. */
  maxPageCount?: number;
}

/**
 * The embedded ArtifactStore. One writer (the publisher) with WAL and synchronous=FULL, so a commit
 * survives a power cut; any number of readonly readers in other processes. better-sqlite3 is
 * synchronous: each method does its work before it returns its (already settled) promise, so a save
 * costs no more than it did when the interface was synchronous (BENCHMARKS.md, "Store interface").
 * One writer process means commits happen in sequence order: the changelog is gap-safe as it is.
 */
export class SqliteArtifactStore implements ArtifactStore {
  readonly engine = "sqlite" as const;
  readonly file: string;
  readonly readonly: boolean;
  readonly #db: Database.Database;
  readonly #region: string;
  readonly #now: () => number;
  readonly #r: ReadStatements;
  /** The write transactions, built once; undefined when readonly. */
  readonly #tx: WriteTransactions | undefined;
  /** Outbox rows claimed and not yet sent or released (one process: claims live in memory). */
  readonly #claimed = new Set<number>();
  /** Rows above this id are not claimed, except those counted after a release rewound it. */
  #claimCursor = 0;
  /** Write transactions since the last checkpoint the store ran (#afterWrite). */
  #writesSinceCheckpoint = 0;
  #checkpointScheduled = false;
  /** `PRAGMA synchronous` for #relaxed, prepared once (db.pragma() prepares on every call). */
  #syncNormal: Database.Statement | undefined;
  #syncFull: Database.Statement | undefined;
  #checkpoint: Database.Statement | undefined;

  static open(file: string, options: SqliteStoreOptions = {}): SqliteArtifactStore {
    const readonly = options.readonly ?? false;
    let db: Database.Database;
    try {
      db = new Database(file, { readonly, fileMustExist: readonly });
    } catch (cause) {
      throw new GwsyncError(
        "GWSYNC_STORE_FAILED",
        `cannot open store ${file}${readonly ? " readonly" : ""}: ${(cause as Error).message}` +
          (readonly
            ? " (start the publisher on it first)"
            : " (check that its folder exists and is writable)"),
        { cause, retryable: false, details: { file } },
      );
    }
    try {
      db.pragma(
        `busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS))}`,
      );
      db.pragma("foreign_keys = ON");
      if (readonly) {
        checkSchema(db, file);
      } else {
        // WAL lets readonly readers in other processes run beside the writer without blocking it.
        const mode = db.pragma("journal_mode = WAL", { simple: true });
        if (mode !== "wal" && !db.memory) {
          throw new GwsyncError(
            "GWSYNC_STORE_FAILED",
            `store ${file} cannot use WAL mode (got ${String(mode)})`,
          );
        }
        db.pragma("synchronous = FULL");
        db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
        if (options.maxPageCount !== undefined)
          db.pragma(`max_page_count = ${Math.trunc(options.maxPageCount)}`);
        migrate(db, file);
      }
      return new SqliteArtifactStore(db, file, options);
    } catch (err) {
      db.close();
      throw isGwsyncError(err) ? err : toStoreError(err, file, "open");
    }
  }

  private constructor(db: Database.Database, file: string, options: SqliteStoreOptions) {
    this.#db = db;
    this.file = file;
    this.readonly = options.readonly ?? false;
    this.#region = options.region ?? DEFAULT_LOCAL_REGION;
    this.#now = options.now ?? Date.now;
    this.#r = prepareReads(db);
    if (!this.readonly) {
      this.#tx = this.#writeTransactions(prepareWrites(db));
      this.#syncNormal = db.prepare("PRAGMA synchronous = NORMAL");
      this.#syncFull = db.prepare("PRAGMA synchronous = FULL");
      this.#checkpoint = db.prepare("PRAGMA wal_checkpoint(PASSIVE)");
    }
  }

  /**
   * Counts a write transaction, and every CHECKPOINT_EVERY_COMMITS of them schedules a PASSIVE
   * checkpoint for the next turn of the event loop: after the caller's answer (a REST reply) is
   * written, not inside a commit a caller waits for. PASSIVE never waits for readers (`gwsync
   * status` in another process) and never blocks a writer; what it cannot copy yet, the next one
   * does. The commit before the answer is as durable as before (WAL, synchronous=FULL): a checkpoint
   * only moves committed pages from the WAL into the database file.
   */
  #afterWrite(): void {
    this.#writesSinceCheckpoint++;
    if (this.#checkpointScheduled || this.#writesSinceCheckpoint < CHECKPOINT_EVERY_COMMITS) return;
    this.#checkpointScheduled = true;
    setImmediate(() => {
      this.#checkpointScheduled = false;
      this.#writesSinceCheckpoint = 0;
      if (!this.#db.open) return;
      try {
        this.#checkpoint?.get();
      } catch {
        // Busy or failing: SQLite's own wal_autocheckpoint (WAL_AUTOCHECKPOINT_PAGES) is the backstop.
      }
    });
  }

  #writeTransactions(w: WriteStatements): WriteTransactions {
    const db = this.#db;
    const ctx = {
      w,
      now: this.#now,
      hasOriginChange: (region: string, seq: number) => this.#hasOriginChange(region, seq),
      originSeqOf: (seq: number, region: string) => this.#r.originSeqOf.get(seq, region),
    };
    // IMMEDIATE takes the write lock up front, so a read never has to be upgraded mid-transaction.
    return {
      ctx,
      save: db.transaction((input: ParsedSave, build: BuildMessages, ext?: SaveExtension) =>
        saveArtifactRows(ctx, input, build, ext),
      ).immediate,
      enqueue: db.transaction((messages: NewOutboxMessage[]) => insertOutbox(w, messages, this.#now()))
        .immediate,
      // A claim's ids ascend and mostly follow each other: one statement per run of consecutive ids,
      // not one per row (issue 19, B4: the outbox deletes every row it publishes).
      markSent: db.transaction((ids: number[]) => {
        for (const [first, last] of idRuns(ids)) {
          if (first === last) w.deleteOutbox.run(first);
          else w.deleteOutboxRun.run(first, last);
        }
      }).immediate,
      recordAttempt: db.transaction((ids: number[]) => {
        for (const id of ids) w.recordAttempt.run(id);
      }).immediate,
    };
  }

  get location(): string {
    return this.file;
  }

  /** The region reported as the origin of local changes. */
  get region(): string {
    return this.#region;
  }

  async saveArtifact(input: SaveArtifactInput, buildMessages: BuildMessages): Promise<SaveArtifactResult> {
    const tx = this.#writes("saveArtifact");
    // Parsed (and hashed) before the write lock is taken: bad input never holds up the writer.
    const parsed = parseSaveInput(input);
    const result = guard(this.file, "saveArtifact", () => tx.save(parsed, buildMessages));
    if (result.changed) this.#afterWrite();
    return result;
  }

  /** The open database, for a store built on this one (the Git store's own tables). @internal */
  get database(): Database.Database {
    return this.#db;
  }

  /** What a save of `input` would do, from the rows as they are now (writes nothing). @internal */
  planParsed(input: ParsedSave): SavePlan {
    const tx = this.#writes("saveArtifact");
    return guard(this.file, "saveArtifact", () => planRows(tx.ctx, input));
  }

  /** Throws GWSYNC_ARTIFACT_CONFLICT when the Publish would write a file another API owns. @internal */
  checkFileConflicts(input: ParsedSave, labels: readonly { label: string }[]): void {
    const tx = this.#writes("saveArtifact");
    if (input.instruction !== "Publish" || input.files === undefined) return;
    const files = input.files;
    guard(this.file, "saveArtifact", () => refuseFileConflicts(tx.ctx.w, input, labels, files));
  }

  /** The sequence number the next changelog row will get (one writer process: nobody takes it first). @internal */
  nextChangeSeq(): number {
    return guard(this.file, "saveArtifact", () => {
      const n = this.#db
        .prepare("SELECT seq FROM sqlite_sequence WHERE name = 'GWSYNC_CHANGELOG'")
        .pluck()
        .get() as number | undefined;
      return Math.max(n ?? 0, this.#r.headSeq.get() ?? 0) + 1;
    });
  }

  /** saveArtifact of an already parsed input, with what another store adds to it. @internal */
  saveParsed(input: ParsedSave, buildMessages: BuildMessages, ext: SaveExtension): SaveArtifactResult {
    const tx = this.#writes("saveArtifact");
    const result = guard(this.file, "saveArtifact", () => tx.save(input, buildMessages, ext));
    if (result.changed) this.#afterWrite();
    return result;
  }

  /** Throws the readonly error unless this store may write. @internal */
  assertWritable(operation: string): void {
    this.#writes(operation);
  }

  async enqueue(messages: NewOutboxMessage[]): Promise<void> {
    const tx = this.#writes("enqueue");
    const parsed = parseOutboxMessages(messages);
    if (parsed.length > 0) {
      guard(this.file, "enqueue", () => tx.enqueue(parsed));
      this.#afterWrite();
    }
  }

  async getArtifact(apiId: string, label: string): Promise<StoredArtifact | undefined> {
    const row = guard(this.file, "getArtifact", () => this.#r.getArtifact.get(label, apiId));
    return row === undefined ? undefined : toStoredArtifact(row);
  }

  async listArtifacts(
    options: { label?: string; includeRemoved?: boolean; withBody?: boolean } = {},
  ): Promise<StoredArtifact[]> {
    const removed = options.includeRemoved ? 1 : 0;
    const { label } = options;
    const r = this.#r;
    const rows = guard(this.file, "listArtifacts", () => {
      if (options.withBody) {
        return label === undefined ? r.listBodies.all(removed) : r.listBodiesByLabel.all(label, removed);
      }
      return label === undefined ? r.listMeta.all(removed) : r.listMetaByLabel.all(label, removed);
    });
    return rows.map(toStoredArtifact);
  }

  async listApiLabels(apiId: string): Promise<StoredArtifact[]> {
    const rows = guard(this.file, "listApiLabels", () => this.#r.listMetaByApi.all(apiId));
    return rows.map(toStoredArtifact);
  }

  async listArtifactPage(label: string, after: string, limit: number): Promise<StoredArtifact[]> {
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new GwsyncError(
        "GWSYNC_USAGE",
        `listArtifactPage: limit must be a positive integer, got ${limit}`,
      );
    }
    const rows = guard(this.file, "listArtifactPage", () =>
      this.#r.listBodiesByLabelPage.all(label, 0, after, limit),
    );
    return rows.map(toStoredArtifact);
  }

  async countArtifacts(label: string): Promise<number> {
    // Prepared once: the data API asks this on every fetch whose label could be plain or encoded.
    return guard(this.file, "countArtifacts", () => Number(this.#r.countPublished.get(label) ?? 0));
  }

  async apiHistory(apiId: string, limit?: number): Promise<RevisionRecord[]> {
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1)) {
      throw new GwsyncError("GWSYNC_USAGE", `apiHistory: limit must be a positive integer, got ${limit}`);
    }
    const rows = guard(this.file, "apiHistory", () => this.#r.apiHistory.all(apiId));
    const revisions = groupRevisions(rows.map(toRevisionRow), this.#region);
    return limit === undefined ? revisions : revisions.slice(0, limit);
  }

  async getRevision(apiId: string, revision: number): Promise<StoredRevision | undefined> {
    if (!Number.isSafeInteger(revision) || revision < 1) return undefined;
    const rows = guard(this.file, "getRevision", () => this.#r.revisionRows.all(apiId, revision));
    const record = groupRevisions(rows.map(toRevisionRow), this.#region)[0];
    if (record === undefined) return undefined;
    const body = record.hasContent
      ? guard(this.file, "getRevision", () => this.#r.body.get(record.sha256))
      : undefined;
    return { record, artifactJson: body?.toString("utf8") };
  }

  async findApiId(
    name: string,
    version: string,
    tenantDomain: string = DEFAULT_TENANT_DOMAIN,
  ): Promise<string | undefined> {
    return guard(this.file, "findApiId", () => this.#r.findApiId.get(name, version, tenantDomain));
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
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new GwsyncError("GWSYNC_USAGE", `changesSince: limit must be a positive integer, got ${limit}`);
    }
    if (labels.length === 0) return [];
    const rows = guard(this.file, "changesSince", () =>
      this.#r.changesSince.all(since, JSON.stringify(labels), limit),
    );
    return rows.map((row) => toChangeRecord(row, this.#region));
  }

  async apisChangedSince(since: number, limit: number): Promise<{ seq: number; apiId: string }[]> {
    const rows = guard(this.file, "apisChangedSince", () => this.#r.apisChangedSince.all(since, limit));
    return rows.map((r) => ({ seq: r.SEQ, apiId: r.API_ID }));
  }

  async headSeq(): Promise<number> {
    return guard(this.file, "headSeq", () => this.#r.headSeq.get() ?? 0);
  }

  async hasOriginChange(region: string, originSeq: number): Promise<boolean> {
    return this.#hasOriginChange(region, originSeq);
  }

  #hasOriginChange(region: string, originSeq: number): boolean {
    return guard(this.file, "hasOriginChange", () => {
      if (this.#r.hasOriginChange.get(region, originSeq) !== undefined) return true;
      // Our own change coming back through a mesh of relays is already stored under its local seq.
      return region === this.#region && this.#r.hasLocalChange.get(originSeq) !== undefined;
    });
  }

  /**
   * The oldest `limit` rows nobody claimed. Claims live in this process (one writer); a cursor past
   * the highest claimed id keeps each read to the rows it returns, and a release rewinds it.
   */
  async claimOutbox(limit: number): Promise<OutboxClaim> {
    const tx = this.#writes("claimOutbox");
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new GwsyncError("GWSYNC_USAGE", `claimOutbox: limit must be a positive integer, got ${limit}`);
    }
    if (this.#claimed.size === 0) this.#claimCursor = 0;
    const cursor = this.#claimCursor;
    let skip = 0;
    for (const id of this.#claimed) if (id > cursor) skip++;
    const read = guard(this.file, "claimOutbox", () => this.#r.pendingOutbox.all(cursor, limit + skip));
    const rows: OutboxMessage[] = [];
    for (const row of read) {
      if (rows.length === limit) break;
      if (this.#claimed.has(row.ID)) continue;
      rows.push(toOutboxMessage(row));
    }
    if (rows.length === 0) return EMPTY_CLAIM;
    const ids = rows.map((r) => r.id);
    for (const id of ids) this.#claimed.add(id);
    this.#claimCursor = Math.max(cursor, ids[ids.length - 1]!);
    let open = true;
    const end = () => {
      if (!open) return false;
      open = false;
      for (const id of ids) this.#claimed.delete(id);
      return true;
    };
    return {
      rows,
      sent: async () => {
        if (!end()) return;
        guard(this.file, "markSent", () => this.#relaxed(() => tx.markSent(ids)));
      },
      release: async () => {
        if (!end()) return;
        this.#claimCursor = Math.min(this.#claimCursor, ids[0]! - 1);
        guard(this.file, "recordAttempt", () => this.#relaxed(() => tx.recordAttempt(ids)));
      },
    };
  }

  async peekOutbox(limit: number, afterId = 0): Promise<OutboxMessage[]> {
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new GwsyncError("GWSYNC_USAGE", `peekOutbox: limit must be a positive integer, got ${limit}`);
    }
    const after = Number.isSafeInteger(afterId) && afterId > 0 ? afterId : 0;
    const rows = guard(this.file, "peekOutbox", () => this.#r.pendingOutbox.all(after, limit));
    return rows.map(toOutboxMessage);
  }

  onOutboxCommit(_listener: () => void): () => void {
    // One writer process: its own commits wake its dispatcher; nobody else's need to.
    return () => undefined;
  }

  // Outbox bookkeeping is committed without its own fsync (synchronous=NORMAL for that transaction):
  // losing it in a power cut only re-sends events, which consumers deduplicate by eventId; the next
  // FULL commit makes it durable anyway. Its fsync used to land while 4 gateways fsynced the file just
  // announced, and doubled their latency (BENCHMARKS.md, B1).
  /** Runs a write whose loss in a power cut is harmless without waiting for the disk. */
  #relaxed<T>(fn: () => T): T {
    this.#syncNormal?.run();
    try {
      return fn();
    } finally {
      this.#syncFull?.run();
      this.#afterWrite();
    }
  }

  async outboxDepth(): Promise<number> {
    return guard(this.file, "outboxDepth", () => this.#r.outboxDepth.get() ?? 0);
  }

  async recordHeartbeat(hb: GatewayHeartbeat): Promise<void> {
    this.#writes("recordHeartbeat");
    guard(this.file, "recordHeartbeat", () =>
      this.#relaxed(() =>
        this.#db
          .prepare(
            `INSERT INTO GWSYNC_GATEWAYS (NODE_ID, REGION, LABELS, APPLIED_SEQ, DEPLOYED, VERSION, STATUS, INTERVAL_MS, LAST_SEEN)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (NODE_ID) DO UPDATE SET REGION = excluded.REGION, LABELS = excluded.LABELS,
             APPLIED_SEQ = excluded.APPLIED_SEQ, DEPLOYED = excluded.DEPLOYED, VERSION = excluded.VERSION,
             STATUS = excluded.STATUS, INTERVAL_MS = excluded.INTERVAL_MS, LAST_SEEN = excluded.LAST_SEEN`,
          )
          .run(
            hb.nodeId,
            hb.region,
            JSON.stringify(hb.labels),
            hb.appliedSeq,
            hb.deployed,
            hb.version,
            hb.status,
            hb.intervalMs,
            hb.lastSeen,
          ),
      ),
    );
  }

  async listGateways(): Promise<GatewayHeartbeat[]> {
    const rows = guard(this.file, "listGateways", () =>
      this.#db.prepare("SELECT * FROM GWSYNC_GATEWAYS ORDER BY NODE_ID").all(),
    ) as Record<string, unknown>[];
    return rows.map((r) => ({
      nodeId: String(r.NODE_ID),
      region: String(r.REGION),
      labels: JSON.parse(String(r.LABELS)) as string[],
      appliedSeq: Number(r.APPLIED_SEQ),
      deployed: Number(r.DEPLOYED),
      version: String(r.VERSION),
      status: String(r.STATUS),
      intervalMs: Number(r.INTERVAL_MS),
      lastSeen: Number(r.LAST_SEEN),
    }));
  }

  async forgetGateway(nodeId: string): Promise<boolean> {
    this.#writes("forgetGateway");
    const r = guard(this.file, "forgetGateway", () =>
      this.#db.transaction(() => {
        this.#db.prepare("DELETE FROM GWSYNC_GATEWAY_APIS WHERE NODE_ID = ?").run(nodeId);
        this.#db.prepare("DELETE FROM GWSYNC_GATEWAY_REPORTS WHERE NODE_ID = ?").run(nodeId);
        return this.#db.prepare("DELETE FROM GWSYNC_GATEWAYS WHERE NODE_ID = ?").run(nodeId);
      })(),
    );
    return r.changes > 0;
  }

  #reportSt:
    | {
        dropNode: Database.Statement<[string]>;
        upsert: Database.Statement<unknown[]>;
        drop: Database.Statement<[string, string]>;
        cursor: Database.Statement<unknown[]>;
      }
    | undefined;

  /** The report stream's statements, prepared once (a full snapshot of 10,000 APIs is 40 messages). */
  #reportStatements() {
    this.#reportSt ??= {
      dropNode: this.#db.prepare<[string]>("DELETE FROM GWSYNC_GATEWAY_APIS WHERE NODE_ID = ?"),
      upsert: this.#db.prepare<unknown[]>(
        `INSERT INTO GWSYNC_GATEWAY_APIS (NODE_ID, API_ID, REVISION, SHA256, REFUSED_REVISION, REFUSED_CODE,
           REFUSED_MESSAGE, REFUSED_AT, REPORTED_AT) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (NODE_ID, API_ID) DO UPDATE SET REVISION = excluded.REVISION, SHA256 = excluded.SHA256,
           REFUSED_REVISION = excluded.REFUSED_REVISION, REFUSED_CODE = excluded.REFUSED_CODE,
           REFUSED_MESSAGE = excluded.REFUSED_MESSAGE, REFUSED_AT = excluded.REFUSED_AT,
           REPORTED_AT = excluded.REPORTED_AT`,
      ),
      drop: this.#db.prepare<[string, string]>(
        "DELETE FROM GWSYNC_GATEWAY_APIS WHERE NODE_ID = ? AND API_ID = ?",
      ),
      cursor: this.#db.prepare<unknown[]>(
        `INSERT INTO GWSYNC_GATEWAY_REPORTS (NODE_ID, BOOT, SEQ, COMPLETE, SERVED, REFUSED, UPDATED_AT)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (NODE_ID) DO UPDATE SET BOOT = excluded.BOOT, SEQ = excluded.SEQ,
           COMPLETE = excluded.COMPLETE, SERVED = excluded.SERVED, REFUSED = excluded.REFUSED,
           UPDATED_AT = excluded.UPDATED_AT`,
      ),
    };
    return this.#reportSt;
  }

  async recordGatewayReports(
    reports: GatewayApiReport[],
    options: { replace: boolean; cursor: GatewayReportCursor },
  ): Promise<void> {
    this.#writes("recordGatewayReports");
    const c = options.cursor;
    guard(this.file, "recordGatewayReports", () =>
      // A lost report is repaired by the gateway's next full snapshot: no fsync of its own.
      this.#relaxed(() =>
        this.#db.transaction(() => {
          const st = this.#reportStatements();
          if (options.replace) st.dropNode.run(c.nodeId);
          const { upsert, drop } = st;
          for (const r of reports) {
            if (r.served === undefined && r.refusal === undefined) {
              if (!options.replace) drop.run(r.nodeId, r.apiId);
              continue;
            }
            upsert.run(
              r.nodeId,
              r.apiId,
              r.served?.revision ?? null,
              r.served?.sha256 ?? null,
              r.refusal?.revision ?? null,
              r.refusal?.code ?? null,
              r.refusal?.message ?? null,
              r.refusal?.at ?? null,
              r.reportedAt,
            );
          }
          st.cursor.run(c.nodeId, c.boot, c.seq, c.complete ? 1 : 0, c.served, c.refused, c.updatedAt);
        })(),
      ),
    );
  }

  async listGatewayReports(filter: GatewayReportFilter = {}): Promise<GatewayApiReport[]> {
    const q = gatewayReportsQuery(filter);
    const rows = guard(this.file, "listGatewayReports", () => this.#db.prepare(q.sql).all(...q.args));
    return (rows as Record<string, unknown>[]).map(reportFromRow);
  }

  async listReportCursors(): Promise<GatewayReportCursor[]> {
    const rows = guard(this.file, "listReportCursors", () =>
      this.#db.prepare("SELECT * FROM GWSYNC_GATEWAY_REPORTS ORDER BY NODE_ID").all(),
    );
    return (rows as Record<string, unknown>[]).map(cursorFromRow);
  }

  async listAgreements(): Promise<AgreementRecord[]> {
    const rows = guard(this.file, "listAgreements", () =>
      this.#db
        .prepare(
          "SELECT AGREEMENT_ID, ROLE, DOCUMENT, UPDATED_AT FROM GWSYNC_REPLICATION_AGREEMENTS ORDER BY AGREEMENT_ID, ROLE",
        )
        .all(),
    ) as { AGREEMENT_ID: string; ROLE: AgreementRole; DOCUMENT: string; UPDATED_AT: number }[];
    return rows.map((r) => ({
      id: r.AGREEMENT_ID,
      role: r.ROLE,
      document: r.DOCUMENT,
      updatedAt: Number(r.UPDATED_AT),
    }));
  }

  async putAgreement(record: AgreementRecord, ifDocument?: string): Promise<boolean> {
    this.#writes("putAgreement");
    if (ifDocument !== undefined) {
      const r = guard(this.file, "putAgreement", () =>
        this.#db
          .prepare(
            `UPDATE GWSYNC_REPLICATION_AGREEMENTS SET DOCUMENT = ?, UPDATED_AT = ?
             WHERE AGREEMENT_ID = ? AND ROLE = ? AND DOCUMENT = ?`,
          )
          .run(record.document, record.updatedAt, record.id, record.role, ifDocument),
      );
      return r.changes > 0;
    }
    guard(this.file, "putAgreement", () =>
      this.#db
        .prepare(
          `INSERT INTO GWSYNC_REPLICATION_AGREEMENTS (AGREEMENT_ID, ROLE, DOCUMENT, UPDATED_AT) VALUES (?, ?, ?, ?)
           ON CONFLICT (AGREEMENT_ID, ROLE) DO UPDATE SET DOCUMENT = excluded.DOCUMENT, UPDATED_AT = excluded.UPDATED_AT`,
        )
        .run(record.id, record.role, record.document, record.updatedAt),
    );
    return true;
  }

  /** One process owns the file: it is always the leader (src/store/leader-lock.ts). */
  leaderLock(name: string): LeaderLock {
    return new LocalLeaderLock(this.file, name);
  }

  async deleteAgreement(id: string, role: AgreementRole): Promise<boolean> {
    this.#writes("deleteAgreement");
    const r = guard(this.file, "deleteAgreement", () =>
      this.#db
        .prepare("DELETE FROM GWSYNC_REPLICATION_AGREEMENTS WHERE AGREEMENT_ID = ? AND ROLE = ?")
        .run(id, role),
    );
    return r.changes > 0;
  }

  async health(): Promise<StoreHealth> {
    const t0 = performance.now();
    const base = { engine: this.engine, location: this.file };
    try {
      const version = this.#db.pragma("user_version", { simple: true }) as number;
      const ok = version === SCHEMA_VERSION;
      return {
        ...base,
        ok,
        latencyMs: performance.now() - t0,
        detail: ok ? "ok" : `schema version ${version}, expected ${SCHEMA_VERSION}`,
      };
    } catch (err) {
      return { ...base, ok: false, latencyMs: performance.now() - t0, detail: (err as Error).message };
    }
  }

  async close(): Promise<void> {
    this.closeSync();
  }

  /** Close at once (exit handlers, tests that cannot await). */
  closeSync(): void {
    if (this.#db.open) this.#db.close();
  }

  #writes(operation: string): WriteTransactions {
    if (this.#tx === undefined) throw this.#readonlyError(operation);
    return this.#tx;
  }

  #readonlyError(operation: string): GwsyncError {
    return new GwsyncError(
      "GWSYNC_STORE_FAILED",
      `store ${this.file} is open readonly: ${operation} needs the publisher's writable store`,
      { retryable: false, details: { file: this.file, operation } },
    );
  }
}

/**
 * The runs of consecutive ids in `ids`, as [first, last] pairs, in order: [1, 2, 3, 7, 9, 10] gives
 * [1, 3], [7, 7], [9, 10]. For ascending ids (a claim's); any other order only makes more runs.
 * @internal exported for tests
 */
export function idRuns(ids: readonly number[]): [number, number][] {
  const runs: [number, number][] = [];
  for (const id of ids) {
    const run = runs[runs.length - 1];
    if (run !== undefined && id === run[1] + 1) run[1] = id;
    else runs.push([id, id]);
  }
  return runs;
}
