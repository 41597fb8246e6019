import type { GatewayApiDto } from "../artifacts/types.js";

export type GatewayInstruction = "Publish" | "Remove";

/** One row of AM_GW_API_ARTIFACTS joined with its gwsync facts. */
export interface StoredArtifact {
  apiId: string;
  label: string;
  instruction: GatewayInstruction;
  /** The GatewayAPIDTO JSON as stored (UTF-8). Absent in listings that ask for metadata only. */
  artifactJson: string;
  name: string;
  version: string;
  provider: string;
  tenantDomain: string;
  /** Per-API revision, monotonically increasing over deploys and removes. */
  revision: number;
  /** sha256 hex of artifactJson. */
  sha256: string;
  /** Changelog sequence of the last change of this (api, label). */
  seq: number;
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
  labels: string[];
  instruction: GatewayInstruction;
  /** For artifacts relayed from another region: where they came from (kept in the changelog). */
  origin?: { region: string; seq: number; revision?: number };
}

export interface SaveArtifactResult {
  apiId: string;
  revision: number;
  sha256: string;
  /** The highest changelog sequence written (one row per label). */
  seq: number;
  /** Labels whose row actually changed (a re-publish of identical content still bumps nothing?). */
  labels: string[];
  /** False when the same content was already stored with the same instruction for every label. */
  changed: boolean;
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
  /** Find an API id by name and version (and tenant domain, default carbon.super). */
  findApiId(name: string, version: string, tenantDomain?: string): string | undefined;
  /** Changelog rows with seq > since for any of the labels, in seq order. */
  changesSince(since: number, labels: string[], limit?: number): ChangeRecord[];
  /** Highest changelog sequence (0 when empty). */
  headSeq(): number;
  /** Whether a change from another region with this origin and origin seq was already stored. */
  hasOriginChange(region: string, originSeq: number): boolean;
  /** Outbox rows not yet confirmed, oldest first. */
  pendingOutbox(limit: number): OutboxMessage[];
  /** Mark rows confirmed by the broker (deleted from the outbox). */
  markSent(ids: number[]): void;
  /** Count the rows waiting in the outbox. */
  outboxDepth(): number;
  close(): void;
}
