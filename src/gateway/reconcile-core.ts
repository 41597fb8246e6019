import type { GatewayApiDto } from "../artifacts/types.js";
import type { ApiDeployer } from "./deploy/deployer.js";
import type { KeyedSerializer } from "./keyed-serializer.js";
import type { ArtifactRetriever, RejectedArtifact, RetrievedArtifact } from "./retriever.js";

export type ReconcileOutcome = "deployed" | "removed" | "unchanged" | "superseded" | "skipped";

/** An artifact that travelled inside the event (publish_directly_to_gateway). */
export interface InlineArtifact {
  dto: GatewayApiDto;
  revision: number;
  sha256: string;
  seq: number;
}

export interface ReconcilerHooks {
  onRetry?: (err: Error, attempt: number) => void;
  /** The control plane answered busy (503/429 with Retry-After): waiting waitMs, no retry spent. */
  onBusy?: (waitMs: number) => void;
  /**
   * An artifact that can never be deployed (reported once per encounter, then skipped), with the reason
   * code and the revision refused when known.
   */
  onRejected?: (apiId: string | undefined, reason: string, detail: RejectDetail) => void;
  onApplied?: (outcome: ReconcileOutcome, apiId: string) => void;
}

/** What a refusal is about: its reason code and, when known, the revision refused. */
export interface RejectDetail {
  code: string;
  revision?: number;
}

/** What a bulk load returns: the changelog head its listing reflects and what it did. */
export interface BulkLoadResult {
  head: number;
  deployed: number;
  removed: number;
  total: number;
}

/**
 * The reconciler's parts the startup bulk load (bulk-load.ts) and the catch-up (catch-up.ts) work
 * with: its per-API serialization, its retrying fetch, its one rule for applying what the control plane
 * holds (`apply`), and its bookkeeping of revisions and refusals. Only src/gateway/reconciler.ts makes one.
 */
export interface ReconcileCore {
  readonly labels: ReadonlySet<string>;
  readonly retriever: ArtifactRetriever;
  readonly deployer: ApiDeployer;
  /** One job at a time per API: events, catch-up and startup never apply the same API concurrently. */
  readonly serial: KeyedSerializer;
  /** True when an event or a catch-up applied the API while the running bulk load runs. */
  changedDuringLoad(apiId: string): boolean;
  /** `fn` with the retry policy; "superseded" when `signal` aborted it. */
  fetch<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T | "superseded">;
  /** Make the deployer hold `found` on the labels it is published to (see Reconciler). */
  apply(
    apiId: string,
    touchedLabels: readonly string[],
    published: ReadonlySet<string>,
    found: RetrievedArtifact | undefined,
    deferFlush: boolean,
  ): Promise<ReconcileOutcome>;
  reject(apiId: string | undefined, reason: string, detail: RejectDetail): void;
  noteRevision(apiId: string, revision: number | undefined): void;
  isStale(apiId: string, revision: number | undefined, change?: { sha256?: string; remove?: boolean }): boolean;
  reconcile(
    apiId: string,
    labels: readonly string[],
    options: { signal?: AbortSignal; supersede?: boolean; removedLabels?: readonly string[] },
  ): Promise<ReconcileOutcome>;
  bulkLoad(signal?: AbortSignal): Promise<BulkLoadResult>;
}

/** One API of a listing, cleared once taken so an applied artifact (its XML) is garbage at once. */
export type ListingEntry = readonly [string, { found: RetrievedArtifact; labels: Set<string> }] | undefined;

export function rejectedDetail(r: RejectedArtifact): RejectDetail {
  return {
    code: r.code ?? "GWSYNC_ARTIFACT_INVALID",
    ...(r.revision === undefined ? {} : { revision: r.revision }),
  };
}
