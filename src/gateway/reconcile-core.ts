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
  /** How an event's wait for a running catch-up ended (Reconciler.waitForCatchUp; a metric). */
  onCatchUpWait?: (outcome: CatchUpWaitOutcome) => void;
}

/**
 * How an event's wait for a running catch-up ended: `none` (no catch-up ran), `not-planned` (its plan
 * did not cover the API), `applied` (the catch-up handled the API), `released` (the catch-up ended first,
 * e.g. it failed), `stalled` (its changelog read failed), `timed-out` (no plan within
 * CATCH_UP_PLAN_WAIT_MS), `aborted` (shutdown). Only after `applied` is the event likely stale; after
 * any other it goes its own way (one fetch of its own): in a reconnect storm those are the extra GETs.
 */
export type CatchUpWaitOutcome =
  | "none"
  | "not-planned"
  | "applied"
  | "released"
  | "stalled"
  | "timed-out"
  | "aborted";

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
  /** The catch-up removed `apiId` for a changelog entry of `revision` (Reconciler.deployedAt). */
  noteCaughtUp(apiId: string, revision: number): void;
  isStale(
    apiId: string,
    revision: number | undefined,
    change?: { sha256?: string; remove?: boolean },
  ): boolean;
  reconcile(
    apiId: string,
    labels: readonly string[],
    options: {
      signal?: AbortSignal;
      supersede?: boolean;
      removedLabels?: readonly string[];
      prefetched?: PrefetchedApi;
    },
  ): Promise<ReconcileOutcome>;
  /** Start noting the APIs applied from now on (a batch's answers are used only for APIs not noted). */
  trackChanges(): ChangeTracker;
  /** A catch-up begins: events for the APIs it will apply may wait for it (Reconciler.waitForCatchUp). */
  beginCatchUp(): CatchUpPlan;
  bulkLoad(signal?: AbortSignal): Promise<BulkLoadResult>;
}

/** What a catch-up's batch request said of one API on one label, read before its reconcile runs. */
export type Prefetched =
  | { kind: "found"; item: RetrievedArtifact }
  /** Not published on the label (the batch's word, as a 404 would be). */
  | { kind: "absent" }
  /** Served but refused (invalid, sha256 or signature): the API is refused as a fetch would refuse it. */
  | { kind: "refused"; reason: string; code: string; revision?: number };

/** A batch's answers for one API, and whether anything applied the API since the batch was asked. */
export interface PrefetchedApi {
  byLabel: ReadonlyMap<string, Prefetched>;
  /** True once any path applied the API after the batch was asked: its answers may be older. */
  stale(): boolean;
}

/** The APIs applied (by any path) since it was made; released when no longer needed. */
export interface ChangeTracker {
  has(apiId: string): boolean;
  release(): void;
}

/** What a running catch-up tells events: which APIs it will apply, and when each is done. */
export interface CatchUpPlan {
  /** The changelog is read: these APIs are the catch-up's to apply (the others: events go on). */
  planned(apiIds: Iterable<string>): void;
  /**
   * Reading the changelog failed (not a busy answer): the control plane is down or broken, and events
   * waiting for the plan go their own way instead of waiting out the read's retries. `reason`: the
   * read's error, logged once per catch-up (gwsync_catch_up_waits_total{outcome="stalled"} counts the
   * events it released).
   */
  stalled(reason: string): void;
  /** The catch-up is done with the API (applied, refused, skipped or failed). */
  done(apiId: string): void;
  /** The catch-up ended (every wait released). */
  end(): void;
}

/** One API of a listing, cleared once taken so an applied artifact (its XML) is garbage at once. */
export type ListingEntry = readonly [string, { found: RetrievedArtifact; labels: Set<string> }] | undefined;

export function rejectedDetail(r: RejectedArtifact): RejectDetail {
  return {
    code: r.code ?? "GWSYNC_ARTIFACT_INVALID",
    ...(r.revision === undefined ? {} : { revision: r.revision }),
  };
}
