import { GwsyncError, isGwsyncError } from "../errors.js";
import type { Logger } from "../log.js";
import { bulkLoad } from "./bulk-load.js";
import { BusyGate } from "./busy-gate.js";
import { catchUp } from "./catch-up.js";
import type { ApiDeployer, DeployedApi } from "./deploy/deployer.js";
import { KeyedSerializer } from "./keyed-serializer.js";
import type {
  BulkLoadResult,
  CatchUpPlan,
  CatchUpWaitOutcome,
  ChangeTracker,
  InlineArtifact,
  PrefetchedApi,
  ReconcileCore,
  ReconcileOutcome,
  ReconcilerHooks,
  RejectDetail,
} from "./reconcile-core.js";
import type { ArtifactRetriever, RetrievedArtifact } from "./retriever.js";
import { type RetryPolicy, withRetry } from "./retry.js";

export { BULK_CONCURRENCY, BULK_PAGE_SIZE } from "./bulk-load.js";
export type { InlineArtifact, ReconcileOutcome, ReconcilerHooks, RejectDetail } from "./reconcile-core.js";

/**
 * Makes the gateway hold what the control plane holds for an API on the gateway's labels. Every
 * event only says "API X changed on labels L": the reconciler asks the store for the truth and
 * applies it, so duplicates, reordering and lost events all converge on the latest revision.
 *
 * This file holds a single API's reconcile and the one rule that applies what was found (`#apply`);
 * the startup bulk load (bulk-load.ts) and the changelog catch-up (catch-up.ts) run on the same rule
 * and bookkeeping through a ReconcileCore.
 */
export class Reconciler {
  readonly labels: ReadonlySet<string>;
  readonly #retriever: ArtifactRetriever;
  readonly #deployer: ApiDeployer;
  readonly #policy: RetryPolicy;
  readonly #log: Logger;
  readonly #hooks: ReconcilerHooks;
  /**
   * Highest revision seen per API where the deployer does not already say it: removed APIs, and APIs
   * whose newer revision had the same content. A deployed API's own revision is read from the deployer,
   * so 100,000 deployed APIs cost no entry here.
   */
  readonly #revisions = new Map<string, number>();
  /** One job at a time per API: events, catch-up and startup never apply the same API concurrently. */
  readonly #serial = new KeyedSerializer();
  /**
   * Labels touched by jobs of an API that have not run to the end. A superseded job hands its labels
   * to the next one: "deploy to A" superseded by "remove from C" must still look at A.
   */
  readonly #pendingLabels = new Map<string, Set<string>>();
  /** Of the pending labels, those a REMOVE (or the changelog) took the API from: a 404 there is final. */
  readonly #pendingRemoved = new Map<string, Set<string>>();
  /** Newest inline revision queued per API: an older inline event must not cancel it (fault suite). */
  readonly #inlineQueued = new Map<string, number>();
  /**
   * APIs an event or a catch-up applied while a bulk load runs: only those may hold something newer than
   * the load's listing. Any other record the listing does not confirm is repaired to the store's truth —
   * including one whose seq lies above the store's head (a record the store never made).
   */
  #changedDuringLoad: Set<string> | undefined;
  /** Per running catch-up batch, the APIs applied since it was asked (ChangeTracker). */
  readonly #trackers = new Set<Set<string>>();
  /** The running catch-up's plan: its changelog read, then per API the end of its apply. */
  #catchUp:
    | {
        planned: Promise<void>;
        /** Settles when the changelog read failed (not busy): waiting for the plan ends. */
        stalled: Promise<void>;
        isPlanned: boolean;
        pending: Map<string, PlannedApply>;
      }
    | undefined;
  readonly #core: ReconcileCore;
  /** Every data-API request of this gateway waits behind a busy answer to any of them (BusyGate). */
  readonly #busyGate = new BusyGate();
  /**
   * Per API, its last deploy or removal in this process: when it completed and at which revision, and
   * the event revisions whose publish→deployed latency was measured to it (deployedAt). Bounded
   * (APPLIED_MOMENTS_MAX, the oldest go first): it only serves events still queued when their API was
   * applied by another path (a catch-up, an event that fetched a newer revision, the startup load).
   */
  readonly #applied = new Map<string, AppliedMoment>();

  constructor(o: {
    labels: readonly string[];
    retriever: ArtifactRetriever;
    deployer: ApiDeployer;
    policy: RetryPolicy;
    logger: Logger;
    hooks?: ReconcilerHooks;
  }) {
    this.labels = new Set(o.labels);
    this.#retriever = o.retriever;
    this.#deployer = o.deployer;
    this.#policy = o.policy;
    this.#log = o.logger;
    this.#hooks = o.hooks ?? {};
    this.#core = {
      labels: this.labels,
      retriever: this.#retriever,
      deployer: this.#deployer,
      serial: this.#serial,
      changedDuringLoad: (apiId) => this.#changedDuringLoad?.has(apiId) ?? false,
      fetch: (fn, signal) => this.#fetch(fn, signal),
      apply: (apiId, touched, published, found, deferFlush) =>
        this.#apply(apiId, touched, published, found, deferFlush),
      reject: (apiId, reason, detail) => this.#reject(apiId, reason, detail),
      noteRevision: (apiId, revision) => this.noteRevision(apiId, revision),
      noteCaughtUp: (apiId, revision) => this.noteCaughtUp(apiId, revision),
      isStale: (apiId, revision, change) => this.isStale(apiId, revision, change),
      reconcile: (apiId, labels, options) => this.reconcile(apiId, labels, options),
      bulkLoad: (signal) => this.bulkLoad(signal),
      trackChanges: () => this.#trackChanges(),
      beginCatchUp: () => this.#beginCatchUp(),
    };
  }

  /** The labels of `labels` this gateway serves (set intersection). */
  mine(labels: readonly string[]): string[] {
    return labels.filter((l) => this.labels.has(l));
  }

  /**
   * True when an event of this revision is older than (or equal to) what was already applied. At the
   * deployed revision, an event for other content (`change.sha256`) or a removal is not stale: regions
   * that edited an API at once settle on one winner at the same revision (docs/replication.md,
   * "Conflicts"), and the store, read by the reconcile, says which.
   */
  isStale(
    apiId: string,
    revision: number | undefined,
    change?: { sha256?: string; remove?: boolean },
  ): boolean {
    if (revision === undefined || revision <= 0) return false;
    const seen = this.#seenRevision(apiId);
    if (revision < seen) return true;
    if (revision > seen) return false;
    const current = this.#deployer.get(apiId);
    if (change === undefined || current === undefined || completeRevision(current) !== revision) return true;
    if (change.remove === true) return false;
    return change.sha256 === undefined || change.sha256 === current.sha256;
  }

  /**
   * Apply the control plane's current state of `apiId` on `labels` (a subset of this gateway's labels).
   * With `inline`, the event's own artifact is used instead of a fetch.
   */
  reconcile(
    apiId: string,
    labels: readonly string[],
    options: {
      signal?: AbortSignal;
      inline?: InlineArtifact;
      action?: "deploy" | "remove";
      /**
       * Labels the API was removed from (the changelog's newest change there is a Remove). A 404 on such
       * a label, or on the labels of a REMOVE event, confirms the removal; any other 404 is retried and
       * then leaves the API as it is deployed (WSO2 retries a 404: carbon-apimgt 4.x APIUtil.java:596-627).
       */
      removedLabels?: readonly string[];
      /** An event supersedes the API's older event in progress; catch-up waits its turn instead. */
      supersede?: boolean;
      /**
       * A catch-up batch's answers for the API, used instead of a fetch per label unless the API was
       * applied since the batch was asked; labels it did not answer, and a label where the API must
       * exist but the batch did not find it, are fetched as without it.
       */
      prefetched?: PrefetchedApi;
    } = {},
  ): Promise<ReconcileOutcome> {
    const pending = this.#pendingLabels.get(apiId) ?? new Set<string>();
    const removed = this.#pendingRemoved.get(apiId) ?? new Set<string>();
    const removedHere = new Set(options.action === "remove" ? labels : (options.removedLabels ?? []));
    for (const l of labels) {
      pending.add(l);
      // The newest job's word on a label wins: a deploy after a remove asks for the API again.
      if (removedHere.has(l)) removed.add(l);
      else removed.delete(l);
    }
    this.#pendingLabels.set(apiId, pending);
    this.#pendingRemoved.set(apiId, removed);
    // An inline artifact is applied as is: an older one, delivered late, must neither cancel a newer
    // one queued or running nor overwrite it afterwards (fetch-mode jobs always read the latest).
    const inlineRev = options.inline?.revision;
    let supersede = options.supersede ?? true;
    if (inlineRev !== undefined && inlineRev <= (this.#inlineQueued.get(apiId) ?? 0)) supersede = false;
    else if (inlineRev !== undefined) this.#inlineQueued.set(apiId, inlineRev);
    return this.#serial.run(
      apiId,
      async (own) => {
        if (
          inlineRev !== undefined &&
          this.isStale(apiId, inlineRev, { sha256: options.inline?.sha256 ?? "" })
        )
          return "unchanged";
        const mine = [...(this.#pendingLabels.get(apiId) ?? [])];
        const gone = this.#pendingRemoved.get(apiId) ?? new Set<string>();
        this.#pendingLabels.delete(apiId);
        this.#pendingRemoved.delete(apiId);
        const link = options.signal ? linkSignals(own, options.signal) : undefined;
        const signal = link?.signal ?? own;
        const outcome = await this.#reconcileNow(apiId, mine, gone, { ...options, signal })
          .catch((err: unknown) => {
            this.#giveBack(apiId, mine, gone);
            throw err;
          })
          .finally(() => {
            link?.release();
            this.#noteChanged(apiId);
          });
        if (outcome === "superseded") this.#giveBack(apiId, mine, gone);
        else this.#changedDuringLoad?.add(apiId);
        return outcome;
      },
      { supersede },
    );
  }

  #giveBack(apiId: string, labels: readonly string[], removed: ReadonlySet<string>): void {
    const pending = this.#pendingLabels.get(apiId) ?? new Set<string>();
    const gone = this.#pendingRemoved.get(apiId) ?? new Set<string>();
    for (const l of labels) {
      // A label a newer job queued meanwhile keeps that job's word.
      if (!pending.has(l) && removed.has(l)) gone.add(l);
      pending.add(l);
    }
    this.#pendingLabels.set(apiId, pending);
    this.#pendingRemoved.set(apiId, gone);
  }

  /** Abort every job in progress (shutdown). */
  abortAll(): void {
    this.#serial.abortAll();
  }

  async #reconcileNow(
    apiId: string,
    labels: readonly string[],
    removed: ReadonlySet<string>,
    options: {
      signal?: AbortSignal;
      inline?: InlineArtifact;
      action?: "deploy" | "remove";
      prefetched?: PrefetchedApi;
    },
  ): Promise<ReconcileOutcome> {
    const { signal } = options;
    // Read once, before anything is applied: a batch asked before another path applied the API may be older.
    const prefetched = options.prefetched?.stale() === false ? options.prefetched.byLabel : undefined;
    let found: RetrievedArtifact | undefined;
    const published = new Set<string>();
    // The labels this job has the control plane's word on: published there, or removed from there.
    let touched: string[] = [...labels];
    if (options.inline && options.action === "deploy") {
      found = { apiId, label: labels[0] ?? "", ...options.inline };
      for (const l of labels) published.add(l);
    } else if (options.inline && options.action === "remove") {
      // The event itself is the truth: nothing to fetch.
    } else {
      // Also re-read the labels the API is deployed through now: when one of them loses the API, the
      // newest artifact among the others is what must stay deployed.
      const asked = new Set(labels);
      const current = this.#deployer.get(apiId);
      const all = [...new Set([...labels, ...(current?.labels ?? []).filter((l) => this.labels.has(l))])];
      touched = [];
      for (const label of all) {
        // A 404 where the API was removed confirms the removal. Where it was published, the control plane
        // may lag (a replica behind, a region being bootstrapped): WSO2 retries a 404 (4.x
        // DBRetriever.java:85-88 through APIUtil.java:596-627) and never undeploys on it
        // (InMemoryAPIDeployer.java:181-199 throws, deployAPI:99-117 undeploys only after a fetch).
        const mustExist = asked.has(label) && !removed.has(label);
        let got: RetrievedArtifact | undefined | "superseded";
        const pre = prefetched?.get(label);
        if (pre?.kind === "refused") {
          // Refused as retrieveArtifact refuses it (the batch validated it on its own): this API alone.
          throw new GwsyncError("GWSYNC_ARTIFACT_INVALID", `artifact ${apiId} refused: ${pre.reason}`, {
            details: { refusal: pre.code, ...(pre.revision === undefined ? {} : { revision: pre.revision }) },
          });
        }
        if (pre?.kind === "found" || (pre?.kind === "absent" && !mustExist)) {
          got = pre.kind === "found" ? pre.item : undefined;
        } else {
          try {
            got = await this.#fetch(async () => {
              const r = await this.#retriever.retrieveArtifact(apiId, label);
              if (r === undefined && mustExist) {
                throw new GwsyncError(
                  "GWSYNC_FETCH_NOT_FOUND",
                  `API ${apiId} is not published to ${label} (404)`,
                  {
                    retryable: true,
                    details: { notFound: true },
                  },
                );
              }
              return r;
            }, signal);
          } catch (err) {
            if (!isNotFound(err)) throw err;
            this.#log.warn(
              { apiId, label },
              "API is not published to this label (404) after every retry: kept as deployed; only a REMOVE or the changelog undeploys",
            );
            continue;
          }
        }
        if (got === "superseded") return "superseded";
        if (got) {
          published.add(label);
          touched.push(label);
          if (!found || got.revision > found.revision) found = got;
        } else if (removed.has(label)) {
          touched.push(label);
          this.#log.info(
            { apiId, label },
            "API removed from this label (404 confirms the REMOVE): undeploying it here",
          );
        }
        // A 404 on a label only re-read (not asked about, not removed): left as it stands.
      }
    }
    if (signal?.aborted) return "superseded";
    return this.#apply(apiId, touched, published, found, false);
  }

  /** Apply a known artifact (bulk load, catch-up). */
  async #apply(
    apiId: string,
    touchedLabels: readonly string[],
    published: ReadonlySet<string>,
    found: RetrievedArtifact | undefined,
    deferFlush: boolean,
  ): Promise<ReconcileOutcome> {
    this.#noteChanged(apiId);
    const current = this.#deployer.get(apiId);
    const labels = new Set(current?.labels ?? []);
    for (const l of touchedLabels) labels.delete(l);
    for (const l of published) labels.add(l);
    // A deploy or undeploy that fails half way leaves a partial record (sha256 ""), which no longer
    // says which revision was applied: keep it here until the change has succeeded.
    const deployedRevision = completeRevision(current);
    if (deployedRevision !== undefined)
      this.#revisions.set(apiId, Math.max(this.#revisions.get(apiId) ?? 0, deployedRevision));
    let outcome: ReconcileOutcome;
    if (labels.size === 0 || !found) {
      if (current && labels.size === 0) {
        await this.#deployer.undeploy(apiId, { deferFlush });
        outcome = "removed";
      } else outcome = "unchanged";
    } else if (current && current.sha256 === found.sha256 && sameLabels(current.labels, labels)) {
      outcome = "unchanged";
    } else {
      await this.#deployer.deploy(
        found.dto,
        { revision: found.revision, sha256: found.sha256, seq: found.seq, labels: [...labels] },
        { deferFlush },
      );
      outcome = "deployed";
    }
    this.noteRevision(apiId, found?.revision ?? deployedRevision);
    if (outcome === "deployed" || outcome === "removed")
      this.#noteApplied(apiId, found?.revision ?? deployedRevision ?? 0, Date.now());
    this.#hooks.onApplied?.(outcome, apiId);
    return outcome;
  }

  #noteApplied(apiId: string, revision: number, at: number): void {
    this.#applied.delete(apiId);
    this.#applied.set(apiId, { revision, at, observed: [] });
    if (this.#applied.size > APPLIED_MOMENTS_MAX) {
      const oldest = this.#applied.keys().next().value;
      if (oldest !== undefined) this.#applied.delete(oldest);
    }
  }

  /**
   * A catch-up removed `apiId` for a changelog entry of `revision`: a removal has no artifact revision
   * of its own, so the moment the apply noted is raised to the changelog's (the REMOVE it carried out).
   */
  noteCaughtUp(apiId: string, revision: number): void {
    const m = this.#applied.get(apiId);
    if (m !== undefined && revision > m.revision) m.revision = revision;
  }

  /**
   * For gwsync_publish_to_deployed_seconds: the moment (ms since the epoch) this gateway applied the
   * change an artifact event of `revision` announces, given out once per API and revision (a duplicate
   * event gets "observed"): the API's last apply in this process if it was of that very revision
   * (whenever it ran: a catch-up or the startup load may get there before the event), or of a newer one
   * made at `since` or later (the event arrived then and was not stale, and waited while a catch-up or
   * another event applied the newer revision). undefined otherwise: an older revision than one already
   * applied when the event arrived (truly stale), or an apply this process did not make or forgot.
   */
  deployedAt(apiId: string, revision: number, since?: number): number | "observed" | undefined {
    const m = this.#applied.get(apiId);
    if (m === undefined) return undefined;
    const covers = m.revision === revision || (since !== undefined && m.revision > revision && m.at >= since);
    if (!covers) return undefined;
    if (m.observed.includes(revision)) return "observed";
    m.observed.push(revision);
    return m.at;
  }

  /** Note the revision of a remove so older events for the API are skipped. */
  noteRevision(apiId: string, revision: number | undefined): void {
    this.#noteChanged(apiId);
    if (revision === undefined) return;
    const seen = Math.max(revision, this.#revisions.get(apiId) ?? 0);
    if ((this.#deployedRevision(apiId) ?? -1) >= seen) this.#revisions.delete(apiId);
    else this.#revisions.set(apiId, seen);
  }

  /** A catch-up batch's answers for `apiId` are no longer used once this ran (see #trackChanges). */
  #noteChanged(apiId: string): void {
    for (const t of this.#trackers) t.add(apiId);
  }

  /**
   * Notes every API applied, or being applied, from now on, by any path (an event's reconcile, a
   * catch-up's, the startup load): a batch asked now is used for an API only while it is not noted,
   * so an answer read before an event applied something newer never overwrites it.
   */
  #trackChanges(): ChangeTracker {
    const changed = new Set<string>();
    this.#trackers.add(changed);
    return { has: (apiId) => changed.has(apiId), release: () => this.#trackers.delete(changed) };
  }

  #beginCatchUp(): CatchUpPlan {
    let resolvePlanned!: () => void;
    let resolveStalled!: () => void;
    const state = {
      planned: new Promise<void>((r) => {
        resolvePlanned = r;
      }),
      stalled: new Promise<void>((r) => {
        resolveStalled = r;
      }),
      isPlanned: false,
      isStalled: false,
      pending: new Map<string, PlannedApply>(),
    };
    const planned = () => {
      state.isPlanned = true;
      resolvePlanned();
    };
    this.#catchUp = state;
    return {
      planned: (apiIds) => {
        for (const apiId of apiIds) {
          let release!: (how: "applied" | "released") => void;
          const done = new Promise<"applied" | "released">((r) => {
            release = r;
          });
          state.pending.set(apiId, { done, release });
        }
        planned();
      },
      stalled: (reason) => {
        if (!state.isStalled) {
          state.isStalled = true;
          this.#log.warn(
            { err: reason },
            "catch-up: reading the changelog failed; deploy events that waited for it fetch their APIs on their own",
          );
        }
        resolveStalled();
      },
      done: (apiId) => {
        state.pending.get(apiId)?.release("applied");
        state.pending.delete(apiId);
      },
      end: () => {
        planned();
        for (const p of state.pending.values()) p.release("released");
        state.pending.clear();
        if (this.#catchUp === state) this.#catchUp = undefined;
      },
    };
  }

  /**
   * While a catch-up runs, an event for an API it is about to apply waits for it (issue 20: in a
   * reconnect storm every gateway's queued events and its catch-up fetched the same APIs, the events one
   * request each, the catch-up a hundred a request). Resolves true when it waited for the API's apply,
   * after which the caller checks again whether the event is stale; false when the catch-up does not
   * cover the API (or none runs, or `signal` aborted): the event goes its own way.
   */
  async waitForCatchUp(apiId: string, signal?: AbortSignal): Promise<boolean> {
    const outcome = await this.#waitForCatchUp(apiId, signal);
    this.#hooks.onCatchUpWait?.(outcome);
    return outcome === "applied" || outcome === "released";
  }

  async #waitForCatchUp(apiId: string, signal?: AbortSignal): Promise<CatchUpWaitOutcome> {
    const state = this.#catchUp;
    if (state === undefined) return "none";
    // A catch-up that cannot read the changelog (control plane down, its read retrying with back-off)
    // does not hold events: once a read failed, or after CATCH_UP_PLAN_WAIT_MS, they go their own way,
    // as before it ran. A slow read is waited for: in a reconnect storm the changelog read queues behind
    // hundreds of gateways' (B9 at 500 gateways: with a 2 s limit the events fetched their APIs one by
    // one, 38,779 GETs and 231.5 s to converge; waiting, 1,423 GETs and 48.3 s).
    const planOrStall = Promise.race([
      state.planned.then(() => "planned" as const),
      state.stalled.then(() => "stalled" as const),
    ]);
    const first = await untilAborted(withinMs(planOrStall, CATCH_UP_PLAN_WAIT_MS), signal);
    if (signal?.aborted) return "aborted";
    if (!state.isPlanned) return first === "stalled" ? "stalled" : "timed-out";
    const p = state.pending.get(apiId);
    if (p === undefined) return "not-planned";
    const how = await untilAborted(p.done, signal);
    return how ?? "aborted";
  }

  #seenRevision(apiId: string): number {
    return Math.max(this.#revisions.get(apiId) ?? 0, this.#deployedRevision(apiId) ?? 0);
  }

  #deployedRevision(apiId: string): number | undefined {
    return completeRevision(this.#deployer.get(apiId));
  }

  /**
   * Startup: list every artifact of every label, deploy what differs, undeploy what the control plane
   * no longer has for these labels. Returns the changelog head the listing reflects.
   */
  async bulkLoad(
    signal?: AbortSignal,
    onProgress?: (done: number, total: number) => void,
  ): Promise<BulkLoadResult> {
    this.#changedDuringLoad = new Set();
    try {
      return await bulkLoad(this.#core, signal, onProgress);
    } finally {
      this.#changedDuringLoad = undefined;
    }
  }

  /**
   * Catch-up: apply the changelog after `since` (catch-up.ts). Returns the new watermark; throws when a
   * fetch failed so the watermark stays put.
   */
  catchUp(since: number, signal?: AbortSignal): Promise<{ head: number; applied: number }> {
    return catchUp(this.#core, since, signal);
  }

  #reject(apiId: string | undefined, reason: string, detail: RejectDetail): void {
    this.#log.warn(
      { apiId, reason, code: detail.code, revision: detail.revision },
      "artifact refused: not deployed",
    );
    this.#hooks.onRejected?.(apiId, reason, detail);
  }

  async #fetch<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T | "superseded"> {
    try {
      return await withRetry(fn, this.#policy, {
        ...(signal ? { signal } : {}),
        gate: this.#busyGate,
        onRetry: (err, attempt, left) => {
          if (signal?.aborted) return; // superseded or shutting down: not a failure of the control plane
          this.#log.warn({ err: err.message, attempt, retriesLeft: left }, "artifact fetch failed; retrying");
          this.#hooks.onRetry?.(err, attempt);
        },
        onBusy: (waitMs, attempt) => {
          if (signal?.aborted) return;
          this.#log.debug({ waitMs, attempt }, "control plane busy; waiting as it asked (Retry-After)");
          this.#hooks.onBusy?.(waitMs);
        },
      });
    } catch (err) {
      if (signal?.aborted) return "superseded";
      throw err;
    }
  }
}

/** APIs whose last apply moment is kept for late events (Reconciler.deployedAt): ~100 bytes each. */
export const APPLIED_MOMENTS_MAX = 10_000;

interface AppliedMoment {
  revision: number;
  /** Date.now() when the deploy or removal returned (on disk). */
  at: number;
  /** Event revisions already measured to this apply. */
  observed: number[];
}

/**
 * How long at most an event waits for a running catch-up to have read the changelog. A read that fails
 * or times out (the data-API client's 30 s) releases the waiting events at once, so this bounds only a
 * read that keeps being answered busy. At 500 gateways (B9) reads took more than 30 s: with 30 s, 14,410
 * GETs and 102 s to converge; with 60 s, 1,423 and 48.3 s.
 */
export const CATCH_UP_PLAN_WAIT_MS = 120_000;

/** Settles when `p` does or after `ms`, whichever is first. */
/** An API in a catch-up's plan: `done` settles when the catch-up handled it, or ended first. */
interface PlannedApply {
  done: Promise<"applied" | "released">;
  release: (how: "applied" | "released") => void;
}

function withinMs<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((r) => {
    timer = setTimeout(() => r(undefined), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** What `p` settled with, or undefined if `signal` aborted first. */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T | undefined> {
  if (signal === undefined) return p;
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise<T | undefined>((resolve) => {
    const onAbort = () => resolve(undefined);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then((v) => {
      signal.removeEventListener("abort", onAbort);
      resolve(v);
    });
  });
}

/** Per outer signal (the gateway's shutdown), the jobs to abort with it: one listener on it, whatever the number of jobs. */
const dependants = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * A signal aborted when the job's own signal or the outer one is, released when the job ends: what
 * AbortSignal.any([own, outer]) gives, without its cost on every event (30-130 µs a call on an idle core,
 * growing with the outer signal's dependants until a GC; issue 19).
 */
export function linkSignals(
  own: AbortSignal,
  outer: AbortSignal,
): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  if (own.aborted || outer.aborted) {
    controller.abort(own.aborted ? own.reason : outer.reason);
    return { signal: controller.signal, release: () => undefined };
  }
  const fromOwn = () => controller.abort(own.reason);
  const fromOuter = () => controller.abort(outer.reason);
  own.addEventListener("abort", fromOwn, { once: true });
  let jobs = dependants.get(outer);
  if (jobs === undefined) {
    const set = new Set<() => void>();
    jobs = set;
    dependants.set(outer, set);
    outer.addEventListener(
      "abort",
      () => {
        for (const abort of [...set]) abort();
      },
      { once: true },
    );
  }
  jobs.add(fromOuter);
  const set = jobs;
  return {
    signal: controller.signal,
    release: () => {
      own.removeEventListener("abort", fromOwn);
      set.delete(fromOuter);
    },
  };
}

function isNotFound(err: unknown): boolean {
  return isGwsyncError(err) && err.code === "GWSYNC_FETCH_NOT_FOUND" && err.details?.notFound === true;
}

function sameLabels(a: readonly string[], b: ReadonlySet<string>): boolean {
  return a.length === b.size && a.every((l) => b.has(l));
}

/** The revision a deployed API holds complete; a partial deploy (sha256 "") has not applied its revision. */
function completeRevision(current: DeployedApi | undefined): number | undefined {
  return current !== undefined && current.sha256 !== "" ? current.revision : undefined;
}
