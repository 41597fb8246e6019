import type { GatewayApiDto } from "../artifacts/types.js";
import type { LeaderLock } from "./leader-lock.js";

export type GatewayInstruction = "Publish" | "Remove";

/** One row of AM_GW_API_ARTIFACTS joined with its gwsync facts. */
export interface StoredArtifact {
  apiId: string;
  label: string;
  instruction: GatewayInstruction;
  /**
   * The GatewayAPIDTO JSON as stored (UTF-8). The empty string in listings that ask for metadata only
   * (`listArtifacts({ withBody: false })`), which never read the ARTIFACT column.
   */
  artifactJson: string;
  name: string;
  version: string;
  provider: string;
  tenantDomain: string;
  /** The revision of the last change of this (api, label); per-API revisions grow over deploys and removes. */
  revision: number;
  /** sha256 hex of artifactJson. */
  sha256: string;
  /** Changelog sequence of the last change of this (api, label). */
  seq: number;
  /** Milliseconds since epoch of the last change of this (api, label). */
  updatedAt: number;
}

/** One row of GWSYNC_CHANGELOG. */
export interface ChangeRecord {
  seq: number;
  apiId: string;
  label: string;
  instruction: GatewayInstruction;
  revision: number;
  sha256: string;
  /** Region where the change was first committed; the local region for local publishes. */
  originRegion: string;
  /** Sequence of the change in its origin region (equal to seq for local changes). */
  originSeq: number;
  createdAt: number;
}

/**
 * One revision of an API as the store remembers it (`gwsync history`): one change of the API, on every
 * label it touched. Newest first in listings.
 */
export interface RevisionRecord {
  revision: number;
  instruction: GatewayInstruction;
  /** The labels this revision changed. */
  labels: string[];
  /** sha256 hex of the artifact this revision published (a Remove: the artifact it removed). */
  sha256: string;
  /** The highest changelog sequence of this revision. */
  seq: number;
  /** Milliseconds since epoch. */
  createdAt: number;
  /** Region where the change was first committed. */
  originRegion: string;
  /** The commit the change came from (a GitOps source's commit id, `sourceCommit`). */
  commit?: string;
  /** In a Git store: the commit of the store's repository that holds this revision. */
  storeCommit?: string;
  /** Whether the store still holds the artifact's bytes (what rollback and diff need). */
  hasContent: boolean;
}

/** A revision with the exact artifact JSON it published (or, for a Remove, the one it removed). */
export interface StoredRevision {
  record: RevisionRecord;
  /** Undefined when the store no longer holds the bytes (record.hasContent false). */
  artifactJson: string | undefined;
}

/** An event waiting in GWSYNC_OUTBOX to be published with confirms. */
export interface OutboxMessage {
  id: number;
  /** Routing key on amq.topic: notification | tokenRevocation | keyManager | asyncWebhooksData. */
  topic: string;
  messageId: string;
  body: Buffer;
  headers: Record<string, string | number>;
  /** Milliseconds since epoch when the row was written. */
  createdAt: number;
  attempts: number;
}

export interface NewOutboxMessage {
  topic: string;
  messageId: string;
  body: Buffer;
  headers: Record<string, string | number>;
}

export interface SaveArtifactInput {
  dto: GatewayApiDto;
  /** Gateway labels (environments): non-empty, no surrounding spaces; duplicates are ignored. */
  labels: string[];
  instruction: GatewayInstruction;
  /**
   * The exact JSON to store for `dto` (its sha256 is what gateways compare). Default: JSON.stringify(dto).
   * Pass it when the bytes must match another store's, e.g. an artifact relayed from another region.
   */
  artifactJson?: string;
  /**
   * The files the API's gateways write (src/store/api-files.ts). When given, a Publish that would write a
   * file another API owns on one of the labels is refused with GWSYNC_ARTIFACT_CONFLICT (409) and nothing
   * is stored; the store records the files as this API's.
   */
  files?: string[];
  /** AM_GW_PUBLISHED_API_DETAILS.API_TYPE (WSO2 4.x column). Default "HTTP". */
  apiType?: string;
  /**
   * For artifacts relayed from another region: where they came from (kept in the changelog). A change
   * whose (region, seq) is already stored is a no-op. When `revision` is given the local store adopts
   * it, and a revision not above the stored one is skipped as older (no-op).
   */
  origin?: { region: string; seq: number; revision?: number };
  /**
   * The commit this change came from (a GitOps source's commit id), kept with the revision and shown by
   * `gwsync history`. A Git store records its own commit as well.
   */
  sourceCommit?: string;
}

export interface SaveArtifactResult {
  apiId: string;
  /** The revision this change got; when nothing changed, the API's stored revision (0 if none). */
  revision: number;
  /** sha256 hex of the artifact JSON given (a Remove keeps each row's last artifact and its own sha256). */
  sha256: string;
  /**
   * The highest changelog sequence written (one row per changed label). When nothing changed: the
   * highest seq already stored for this API on the requested labels (0 if none).
   */
  seq: number;
  /**
   * The requested labels whose row was written and got a changelog row in this call, in request
   * order. A label that already held the same sha256 with the same instruction is left out (its row,
   * revision and seq stay as they were). Empty when `changed` is false.
   */
  labels: string[];
  /**
   * False when nothing was written: the same content was already stored with the same instruction for
   * every label (an identical re-publish, a repeated Remove), or a relayed change was already stored
   * or older than the stored revision. Then no revision bump, no changelog row and no outbox row.
   */
  changed: boolean;
  /** A Git store: the commit of its repository that holds this change (absent when nothing changed). */
  commit?: string;
}

/** The latest heartbeat of a gateway, as the control plane recorded it. */
export interface GatewayHeartbeat {
  nodeId: string;
  region: string;
  labels: string[];
  appliedSeq: number;
  deployed: number;
  version: string;
  /** starting | ready | stale | stopped (its last beat, sent by a clean shutdown) */
  status: string;
  intervalMs: number;
  lastSeen: number;
}

/**
 * What one gateway last reported about one API (GWSYNC_GATEWAY_APIS): the revision and sha256 it serves
 * and its last refusal. A report, never authority: the rollout view compares it with the store's rows.
 */
export interface GatewayApiReport {
  nodeId: string;
  apiId: string;
  /** What the gateway serves; undefined when it serves nothing of this API. */
  served?: { revision: number; sha256: string };
  /** The last artifact of this API the gateway refused (revision 0 when it could not tell which). */
  refusal?: { revision: number; code: string; message: string; at: number };
  /** Milliseconds since epoch when the publisher recorded this row. */
  reportedAt: number;
}

/**
 * Where a gateway's report stream stands (GWSYNC_GATEWAY_REPORTS). `complete` is false until a full
 * snapshot arrived whole and while a gap in the stream (a lost message) is not repaired by the next one.
 */
export interface GatewayReportCursor {
  nodeId: string;
  /** The gateway process's boot id: a new one starts a new stream. */
  boot: string;
  /** Sequence number of the last report message recorded. */
  seq: number;
  complete: boolean;
  /** The gateway's own counts when it sent it: APIs served, refusals kept. */
  served: number;
  refused: number;
  updatedAt: number;
}

/** Which side of a replication agreement a record is (OAM's replicaType): the clone pulls, the master serves. */
export type AgreementRole = "consumer" | "supplier";

/**
 * One replication agreement as a store keeps it (src/replication/): the document is the agreement's
 * JSON, opaque to the store (its shape belongs to src/replication/agreement.ts). One row per (id, role):
 * a publisher that is master of one agreement and clone of another holds both kinds.
 */
export interface AgreementRecord {
  id: string;
  role: AgreementRole;
  /** UTF-8 JSON of the agreement (credentials included: the store is the only authority). */
  document: string;
  /** Milliseconds since epoch of the last write. */
  updatedAt: number;
}

/** The engines gwsync implements the store for. */
export type StoreEngine = "sqlite" | "postgresql" | "mysql" | "git";

/**
 * Outbox rows this dispatcher holds until it ends the claim. Rows claimed by one dispatcher are not
 * handed to another until the claim ends (or its holder dies), so several dispatchers on one store
 * never publish a row twice while its claim lives. A claim with no rows holds nothing.
 */
export interface OutboxClaim {
  readonly rows: readonly OutboxMessage[];
  /** The broker confirmed every row: delete them and end the claim. */
  sent(): Promise<void>;
  /** Publishing failed: count one more attempt on each row and hand them back (ends the claim). */
  release(): Promise<void>;
}

/** What `/readyz`, `config check` and `gwsync status` report about the store. */
export interface StoreHealth {
  engine: StoreEngine;
  /** Where the data lives: a file path, or a URL without its password. */
  location: string;
  ok: boolean;
  /** Round trip of the check in milliseconds. */
  latencyMs: number;
  /** "ok", or the reason the store cannot be used. */
  detail: string;
}

/**
 * The storage extension point: saver + retriever + changelog + outbox. SQLite is the embedded
 * default; PostgreSQL and MySQL implement the same interface, and so can any engine that gives the
 * guarantees below (no method names SQL). Every method is asynchronous, so networked engines fit; an
 * embedded engine may do its work synchronously inside them.
 *
 * Guarantees every engine gives, with several publisher nodes writing at once:
 * - `saveArtifact` is the transaction seam: the artifact rows, one changelog row per changed label and
 *   the outbox messages commit together or not at all.
 * - Per-API revisions grow strictly with each change, whatever the number of concurrent writers.
 * - The changelog is gap-safe for readers: once `changesSince` returned a sequence number, no change
 *   with a lower sequence number can become visible later (docs/architecture.md#store).
 * - An outbox row is claimed by one dispatcher at a time (`claimOutbox`).
 */
export interface ArtifactStore {
  readonly engine: StoreEngine;
  /** Where the data lives: a file path, or a URL without its password (for logs and status). */
  readonly location: string;
  /**
   * Save (Publish) or mark removed (Remove) an API for the given labels, append one changelog row per
   * label, and enqueue the given outbox messages — all in one transaction. `buildMessages` runs inside
   * the transaction with the result, so the event can carry the seq/revision/sha256 just assigned; it
   * must be a pure function (an engine may run it again when it retries a transaction).
   */
  saveArtifact(
    input: SaveArtifactInput,
    buildMessages: (result: SaveArtifactResult) => NewOutboxMessage[],
  ): Promise<SaveArtifactResult>;
  /** Enqueue outbox messages that are not tied to an artifact (token revocations, key managers, ...). */
  enqueue(messages: NewOutboxMessage[]): Promise<void>;
  getArtifact(apiId: string, label: string): Promise<StoredArtifact | undefined>;
  /** Artifacts of a label (or all), Publish only unless includeRemoved. */
  listArtifacts(options?: {
    label?: string;
    includeRemoved?: boolean;
    withBody?: boolean;
  }): Promise<StoredArtifact[]>;
  /** One API's row on every label it was ever published to (Remove rows too), metadata only, by label. */
  listApiLabels(apiId: string): Promise<StoredArtifact[]>;
  /** How many APIs are published to a label (the total a paged listing will reach). */
  countArtifacts(label: string): Promise<number>;
  /** One page of a label's published artifacts with bodies, by API id after `after` (keyset paging). */
  listArtifactPage(label: string, after: string, limit: number): Promise<StoredArtifact[]>;
  /**
   * The API's revisions, newest first (at most `limit`, default all): what `gwsync history` lists. Empty
   * when the store never held the API.
   */
  apiHistory(apiId: string, limit?: number): Promise<RevisionRecord[]>;
  /** One revision of an API with its artifact bytes (what rollback republishes and diff compares). */
  getRevision(apiId: string, revision: number): Promise<StoredRevision | undefined>;
  /**
   * Stores that keep commits (the Git store): the API's artifact on the label as commit `commit` of the
   * store's branch holds it; undefined when it was not published there at that commit, or the commit is
   * not one of the branch's. Engines without commits leave it out.
   */
  artifactAtCommit?(apiId: string, label: string, commit: string): Promise<StoredArtifact | undefined>;
  /** Find an API id by name and version (and tenant domain, default carbon.super). */
  findApiId(name: string, version: string, tenantDomain?: string): Promise<string | undefined>;
  /** Changelog rows with seq > since for any of the labels, in seq order. */
  changesSince(since: number, labels: string[], limit?: number): Promise<ChangeRecord[]>;
  /** The API of each changelog row with seq > since, every label, in seq order (at most `limit`). */
  apisChangedSince(since: number, limit: number): Promise<{ seq: number; apiId: string }[]>;
  /** Highest changelog sequence (0 when empty). */
  headSeq(): Promise<number>;
  /** Whether a change from another region with this origin and origin seq was already stored. */
  hasOriginChange(region: string, originSeq: number): Promise<boolean>;
  /**
   * Claim up to `limit` outbox rows no other dispatcher holds, oldest first. The caller publishes
   * them and ends the claim with `sent()` or `release()`.
   */
  claimOutbox(limit: number): Promise<OutboxClaim>;
  /**
   * The oldest `limit` rows waiting in the outbox with an id above `afterId` (default 0), claimed or not,
   * without claiming or waiting for them (diagnosis; the dispatcher's look-ahead for coalescing).
   */
  peekOutbox(limit: number, afterId?: number): Promise<OutboxMessage[]>;
  /** Count the rows waiting in the outbox (claimed or not). */
  outboxDepth(): Promise<number>;
  /**
   * Call `listener` when another process (another publisher node) committed outbox rows, where the
   * engine can tell (PostgreSQL's LISTEN/NOTIFY). Engines that cannot never call it; dispatchers
   * poll as well. Returns the function that unsubscribes.
   */
  onOutboxCommit(listener: () => void): () => void;
  /** Record a gateway's heartbeat (upsert by node id). */
  recordHeartbeat(hb: GatewayHeartbeat): Promise<void>;
  /** Every gateway that ever sent a heartbeat, by node id. */
  listGateways(): Promise<GatewayHeartbeat[]>;
  /**
   * Drop a gateway's record (`gwsync status forget`), with its reports and report cursor; false when no
   * heartbeat was kept. A live one comes back with its next beat.
   */
  forgetGateway(nodeId: string): Promise<boolean>;
  /**
   * Record one report message of a gateway, in one transaction: with `replace`, first drop every API row
   * of the node (the first part of a full snapshot); then upsert each report (a report with neither
   * `served` nor `refusal` deletes the node's row for that API); then write the cursor.
   */
  recordGatewayReports(
    reports: GatewayApiReport[],
    options: { replace: boolean; cursor: GatewayReportCursor },
  ): Promise<void>;
  /**
   * Reported API rows, of one API (rollout) or one node, or all; ordered by node id then API id. With
   * `refused`, only rows with a refusal, newest refusal first (engines keep an index for it: a few rows
   * among millions); `limit` caps the rows.
   */
  listGatewayReports(filter?: {
    apiId?: string;
    /** Only these APIs (at most a few thousand). */
    apiIds?: readonly string[];
    nodeId?: string;
    refused?: boolean;
    limit?: number;
  }): Promise<GatewayApiReport[]>;
  /** Every gateway's report cursor, by node id. */
  listReportCursors(): Promise<GatewayReportCursor[]>;
  /** Every replication agreement this publisher is party to, both roles, by id then role. */
  listAgreements(): Promise<AgreementRecord[]>;
  /**
   * Insert or replace the agreement (id, role); true when written. With `ifDocument`, a compare-and-set:
   * the row is replaced only while its document is exactly `ifDocument` (false otherwise, nothing
   * written), so a writer that read the row before another node changed it cannot undo that change.
   */
  putAgreement(record: AgreementRecord, ifDocument?: string): Promise<boolean>;
  /** Drop the agreement (id, role); false when none was kept. */
  deleteAgreement(id: string, role: AgreementRole): Promise<boolean>;
  /**
   * A named lock at most one publisher node sharing this store holds, released by the database when its
   * holder dies (src/store/leader-lock.ts): replication's one puller per agreement. Embedded engines
   * (one process owns the file) always grant it. Each call makes a new lock object; close() releases them.
   */
  leaderLock(name: string): LeaderLock;
  /** Check that the store answers and has this gwsync's schema (never throws). */
  health(): Promise<StoreHealth>;
  close(): Promise<void>;
}
