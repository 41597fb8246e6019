import type { GatewayApiDto } from "../artifacts/types.js";
import { GwsyncError, isGwsyncError } from "../errors.js";
import type { Logger } from "../log.js";
import type { ApiDeployer, DeployedApi } from "./deploy/deployer.js";
import { KeyedSerializer } from "./keyed-serializer.js";
import type { ArtifactRetriever, RejectedArtifact, RetrievedArtifact } from "./retriever.js";
import { type RetryPolicy, withRetry } from "./retry.js";

/** Deploys in flight during the startup bulk load. */
export const BULK_CONCURRENCY = 8;
/** Artifacts per data-API page during the startup deployment. */
export const BULK_PAGE_SIZE = 500;

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

/**
 * Makes the gateway hold what the control plane holds for an API on the gateway's labels. Every
 * event only says "API X changed on labels L": the reconciler asks the store for the truth and
 * applies it, so duplicates, reordering and lost events all converge on the latest revision.
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
  }

  /** The labels of `labels` this gateway serves (set intersection). */
  mine(labels: readonly string[]): string[] {
    return labels.filter((l) => this.labels.has(l));
  }

  /** True when an event of this revision is older than (or equal to) what was already applied. */
  isStale(apiId: string, revision: number | undefined): boolean {
    if (revision === undefined || revision <= 0) return false;
    return revision <= this.#seenRevision(apiId);
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
        if (inlineRev !== undefined && this.isStale(apiId, inlineRev)) return "unchanged";
        const mine = [...(this.#pendingLabels.get(apiId) ?? [])];
        const gone = this.#pendingRemoved.get(apiId) ?? new Set<string>();
        this.#pendingLabels.delete(apiId);
        this.#pendingRemoved.delete(apiId);
        const signal = options.signal ? AbortSignal.any([own, options.signal]) : own;
        const outcome = await this.#reconcileNow(apiId, mine, gone, { ...options, signal }).catch(
          (err: unknown) => {
            this.#giveBack(apiId, mine, gone);
            throw err;
          },
        );
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
    options: { signal?: AbortSignal; inline?: InlineArtifact; action?: "deploy" | "remove" },
  ): Promise<ReconcileOutcome> {
    const { signal } = options;
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
    this.#hooks.onApplied?.(outcome, apiId);
    return outcome;
  }

  /** Note the revision of a remove so older events for the API are skipped. */
  noteRevision(apiId: string, revision: number | undefined): void {
    if (revision === undefined) return;
    const seen = Math.max(revision, this.#revisions.get(apiId) ?? 0);
    if ((this.#deployedRevision(apiId) ?? -1) >= seen) this.#revisions.delete(apiId);
    else this.#revisions.set(apiId, seen);
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
  ): Promise<{ head: number; deployed: number; removed: number; total: number }> {
    this.#changedDuringLoad = new Set();
    try {
      return await this.#bulkLoadNow(signal, onProgress);
    } finally {
      this.#changedDuringLoad = undefined;
    }
  }

  async #bulkLoadNow(
    signal: AbortSignal | undefined,
    onProgress: ((done: number, total: number) => void) | undefined,
  ): Promise<{ head: number; deployed: number; removed: number; total: number }> {
    const labels = [...this.labels];
    const counts = { deployed: 0, done: 0 };
    // APIs the listing had (kept) or refused (kept at their last-known-good version, not undeployed).
    const listed = new Set<string>();
    let head = Number.POSITIVE_INFINITY;
    const page = this.#retriever.retrieveArtifactPage?.bind(this.#retriever);
    if (page && labels.length === 1) {
      // One label: apply page by page, so memory stays flat however many APIs the label has.
      const label = labels[0]!;
      const fetchPage = (after: string | undefined) =>
        this.#fetch(() => page(label, after, BULK_PAGE_SIZE), signal);
      // The next page is fetched while this one is applied: the control plane's reads overlap our writes.
      let pending = fetchPage(undefined);
      let labelTotal: number | undefined;
      for (;;) {
        const res = await pending;
        if (res === "superseded") throw new GwsyncError("GWSYNC_SHUTTING_DOWN", "startup deployment aborted");
        if (res.next) pending = fetchPage(res.next);
        head = Math.min(head, res.head);
        for (const r of res.rejected ?? []) {
          if (r.apiId) listed.add(r.apiId);
          this.#reject(r.apiId, r.reason, rejectedDetail(r));
          counts.done++; // handled: it counts toward the total like an applied one
        }
        for (const item of res.items) listed.add(item.apiId);
        const entries: ListingEntry[] = res.items.map((found) => [
          found.apiId,
          { found, labels: new Set([label]) },
        ]);
        res.items.length = 0; // the entries hold the artifacts now, and let go of each once applied
        // The control plane's total (first page), else what is known so far: never a guess that ends short.
        labelTotal ??= res.total;
        const total = Math.max(labelTotal ?? listed.size, listed.size);
        try {
          await this.#applyListing(entries, labels, counts, signal, (done) => onProgress?.(done, total));
        } catch (err) {
          if (res.next) pending.catch(() => undefined); // the prefetched page is not needed any more
          throw err;
        }
        if (!res.next) break;
      }
    } else {
      const byApi = new Map<string, { found: RetrievedArtifact; labels: Set<string> }>();
      for (const label of labels) {
        const res = await this.#fetch(() => this.#retriever.retrieveAllArtifacts(label), signal);
        if (res === "superseded") throw new GwsyncError("GWSYNC_SHUTTING_DOWN", "startup deployment aborted");
        head = Math.min(head, res.head);
        for (const r of res.rejected ?? []) {
          if (r.apiId) listed.add(r.apiId);
          this.#reject(r.apiId, r.reason, rejectedDetail(r));
        }
        for (const item of res.items) {
          listed.add(item.apiId);
          const e = byApi.get(item.apiId);
          if (!e) byApi.set(item.apiId, { found: item, labels: new Set([label]) });
          else {
            e.labels.add(label);
            if (item.revision > e.found.revision) e.found = item;
          }
        }
      }
      await this.#applyListing([...byApi], labels, counts, signal, (done) => onProgress?.(done, byApi.size));
    }
    const finalHead = Number.isFinite(head) ? head : 0;
    let removed = 0;
    for (const api of this.#deployer.deployed()) {
      // Deployed before, absent from the listing, and not changed by an event since: gone (whatever seq
      // the local record claims).
      if (!listed.has(api.apiId) && !this.#changedDuringLoad?.has(api.apiId)) {
        await this.#serial.run(api.apiId, () => this.#deployer.undeploy(api.apiId, { deferFlush: true }), {
          supersede: false,
        });
        this.noteRevision(api.apiId, api.revision);
        removed++;
      }
    }
    this.#deployer.compact?.();
    await this.#deployer.flush();
    return { head: finalHead, deployed: counts.deployed, removed, total: listed.size };
  }

  /** Apply listed artifacts, a few at once: the XML checks of one overlap the fsyncs of another. */
  async #applyListing(
    // Each entry is cleared once taken, so an applied artifact (its XML) is garbage at once, not with its page.
    entries: ListingEntry[],
    all: readonly string[],
    counts: { deployed: number; done: number },
    signal: AbortSignal | undefined,
    onProgress: (done: number) => void,
  ): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < entries.length) {
        const i = next++;
        const [apiId, { found, labels }] = entries[i]!;
        entries[i] = undefined;
        if (signal?.aborted) throw new GwsyncError("GWSYNC_SHUTTING_DOWN", "startup deployment aborted");
        const o = await this.#serial.run(
          apiId,
          async () => {
            // An event applied meanwhile may hold newer data than this listing: keep it. Nothing else
            // outranks the listing (a local record's seq is not the store's word).
            const current = this.#deployer.get(apiId);
            if (current && current.seq > found.seq && this.#changedDuringLoad?.has(apiId))
              return "unchanged" as const;
            if (
              current &&
              current.sha256 === found.sha256 &&
              (current.revision !== found.revision || current.seq !== found.seq)
            ) {
              // Same files, but the record claims another revision or seq than the store: take the store's
              // (the deployer rewrites only its record for the same artifact).
              await this.#deployer.deploy(
                found.dto,
                { revision: found.revision, sha256: found.sha256, seq: found.seq, labels: current.labels },
                { deferFlush: true },
              );
            }
            try {
              return await this.#apply(apiId, all, labels, found, true);
            } catch (err) {
              // One artifact that cannot be deployed (a file another API owns, a bad name) is refused
              // with its reason; the load goes on, so the gateway is not stale for ever because of it.
              if (!isGwsyncError(err) || err.retryable) throw err;
              this.#reject(apiId, err.message, { code: err.code, revision: found.revision });
              return "skipped" as const;
            }
          },
          { supersede: false },
        );
        if (o === "deployed") counts.deployed++;
        onProgress(++counts.done);
      }
    };
    await Promise.all(Array.from({ length: Math.min(BULK_CONCURRENCY, entries.length) }, worker));
  }

  /**
   * Catch-up: apply the changelog after `since` (only APIs whose newest change differs from what is
   * deployed). Returns the new watermark; throws when a fetch failed so the watermark stays put.
   */
  async catchUp(since: number, signal?: AbortSignal): Promise<{ head: number; applied: number }> {
    let res: Awaited<ReturnType<ArtifactRetriever["changesSince"]>> | "superseded";
    try {
      res = await this.#fetch(() => this.#retriever.changesSince(since, [...this.labels]), signal);
    } catch (err) {
      // A WSO2 control plane keeps no changelog: re-read the listing (what a WSO2 gateway does on a
      // reconnect, GatewayJMSMessageListener onReconnect) and keep the watermark where it is.
      if (!(isGwsyncError(err) && err.details?.changelog === "absent")) throw err;
      const r = await this.bulkLoad(signal);
      return { head: since, applied: r.deployed + r.removed };
    }
    if (res === "superseded") return { head: since, applied: 0 };
    // Per API: the labels it changed on, the newest instruction per label, and its newest revision
    // (the reconcile reads the truth).
    const latest = new Map<string, { labels: Set<string>; removed: Set<string>; revision: number }>();
    for (const c of res.changes) {
      const e = latest.get(c.apiId) ?? { labels: new Set<string>(), removed: new Set<string>(), revision: 0 };
      e.labels.add(c.label);
      if (c.instruction === "Remove") e.removed.add(c.label);
      else e.removed.delete(c.label);
      e.revision = Math.max(e.revision, c.revision);
      latest.set(c.apiId, e);
    }
    let applied = 0;
    for (const [apiId, e] of latest) {
      const current = this.#deployer.get(apiId);
      if (current && current.revision >= e.revision) continue;
      if (!current && this.isStale(apiId, e.revision)) continue;
      try {
        const o = await this.reconcile(apiId, [...e.labels], {
          supersede: false,
          removedLabels: [...e.removed],
          ...(signal ? { signal } : {}),
        });
        if (o === "deployed" || o === "removed") applied++;
      } catch (err) {
        // A bad artifact is reported and skipped; a control plane that is down fails the catch-up.
        if (isGwsyncError(err) && !err.retryable) {
          this.#reject(apiId, err.message, { code: err.code, revision: e.revision });
          this.noteRevision(apiId, e.revision);
        } else throw err;
      }
    }
    return { head: res.head, applied };
  }

  #reject(apiId: string | undefined, reason: string, detail: RejectDetail): void {
    this.#log.warn({ apiId, reason, code: detail.code, revision: detail.revision }, "artifact refused: not deployed");
    this.#hooks.onRejected?.(apiId, reason, detail);
  }

  async #fetch<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T | "superseded"> {
    try {
      return await withRetry(fn, this.#policy, {
        ...(signal ? { signal } : {}),
        onRetry: (err, attempt, left) => {
          if (signal?.aborted) return; // superseded or shutting down: not a failure of the control plane
          this.#log.warn({ err: err.message, attempt, retriesLeft: left }, "artifact fetch failed; retrying");
          this.#hooks.onRetry?.(err, attempt);
        },
      });
    } catch (err) {
      if (signal?.aborted) return "superseded";
      throw err;
    }
  }
}

function rejectedDetail(r: RejectedArtifact): RejectDetail {
  return {
    code: r.code ?? "GWSYNC_ARTIFACT_INVALID",
    ...(r.revision === undefined ? {} : { revision: r.revision }),
  };
}

function isNotFound(err: unknown): boolean {
  return isGwsyncError(err) && err.code === "GWSYNC_FETCH_NOT_FOUND" && err.details?.notFound === true;
}

type ListingEntry = readonly [string, { found: RetrievedArtifact; labels: Set<string> }] | undefined;

function sameLabels(a: readonly string[], b: ReadonlySet<string>): boolean {
  return a.length === b.size && a.every((l) => b.has(l));
}

/** The revision a deployed API holds complete; a partial deploy (sha256 "") has not applied its revision. */
function completeRevision(current: DeployedApi | undefined): number | undefined {
  return current !== undefined && current.sha256 !== "" ? current.revision : undefined;
}
