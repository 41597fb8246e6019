import type { GatewayApiDto } from "../artifacts/types.js";

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
  /** AM_GW_PUBLISHED_API_DETAILS.API_TYPE (WSO2 4.x column). Default "HTTP". */
  apiType?: string;
  /**
   * For artifacts relayed from another region: where they came from (kept in the changelog). A change
   * whose (region, seq) is already stored is a no-op. When `revision` is given the local store adopts
   * it, and a revision not above the stored one is skipped as older (no-op).
   */
  origin?: { region: string; seq: number; revision?: number };
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
}

/** The latest heartbeat of a gateway, as the control plane recorded it. */
export interface GatewayHeartbeat {
  nodeId: string;
  region: string;
  labels: string[];
  appliedSeq: number;
  deployed: number;
  version: string;
  /** ready | stale | starting */
  status: string;
  intervalMs: number;
  lastSeen: number;
}

/**
 * The storage extension point: saver + retriever + changelog + outbox. SQLite is the embedded default;
 * PostgreSQL and MySQL can implement the same interface without touching the publisher or the gateway.
 * All methods are synchronous because better-sqlite3 is; another engine would wrap this in a queue.
 */
export interface ArtifactStore {
  /**
   * Save (Publish) or mark removed (Remove) an API for the given labels, append one changelog row per
   * label, and enqueue the given outbox messages — all in one transaction. `buildMessages` runs inside
   * the transaction with the result, so the event can carry the seq/revision/sha256 just assigned.
   */
  saveArtifact(
    input: SaveArtifactInput,
    buildMessages: (result: SaveArtifactResult) => NewOutboxMessage[],
  ): SaveArtifactResult;
  /** Enqueue outbox messages that are not tied to an artifact (token revocations, key managers, ...). */
  enqueue(messages: NewOutboxMessage[]): void;
  getArtifact(apiId: string, label: string): StoredArtifact | undefined;
  /** Artifacts of a label (or all), Publish only unless includeRemoved. */
  listArtifacts(options?: { label?: string; includeRemoved?: boolean; withBody?: boolean }): StoredArtifact[];
  /** One page of a label's published artifacts with bodies, by API id after `after` (keyset paging). */
  listArtifactPage(label: string, after: string, limit: number): StoredArtifact[];
  /** Find an API id by name and version (and tenant domain, default carbon.super). */
  findApiId(name: string, version: string, tenantDomain?: string): string | undefined;
  /** Changelog rows with seq > since for any of the labels, in seq order. */
  changesSince(since: number, labels: string[], limit?: number): ChangeRecord[];
  /** Highest changelog sequence (0 when empty). */
  headSeq(): number;
  /** Whether a change from another region with this origin and origin seq was already stored. */
  hasOriginChange(region: string, originSeq: number): boolean;
  /** Outbox rows not yet confirmed, oldest first. */
  pendingOutbox(limit: number, afterId?: number): OutboxMessage[];
  /** Mark rows confirmed by the broker (deleted from the outbox). */
  markSent(ids: number[]): void;
  /**
   * Count one more publish attempt on these outbox rows (diagnosis: a row that never leaves). Optional
   * so that test doubles need not implement it.
   */
  recordAttempt?(ids: number[]): void;
  /** Count the rows waiting in the outbox. */
  outboxDepth(): number;
  /** Record a gateway's heartbeat (upsert by node id). */
  recordHeartbeat(hb: GatewayHeartbeat): void;
  /** Every gateway that ever sent a heartbeat, by node id. */
  listGateways(): GatewayHeartbeat[];
  close(): void;
}
