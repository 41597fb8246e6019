import { GwsyncError, isGwsyncError } from "../errors.js";
import {
  type BulkLoadResult,
  type ListingEntry,
  type ReconcileCore,
  rejectedDetail,
} from "./reconcile-core.js";
import type { RetrievedArtifact } from "./retriever.js";

/** Deploys in flight during the startup bulk load. */
export const BULK_CONCURRENCY = 8;
/** Artifacts per data-API page during the startup deployment. */
export const BULK_PAGE_SIZE = 500;

/**
 * Startup: list every artifact of every label, deploy what differs, undeploy what the control plane
 * no longer has for these labels (and no event changed meanwhile). Returns the changelog head the
 * listing reflects. The reconciler marks the load as running (`changedDuringLoad`) around it.
 */
export async function bulkLoad(
  core: ReconcileCore,
  signal: AbortSignal | undefined,
  onProgress: ((done: number, total: number) => void) | undefined,
): Promise<BulkLoadResult> {
  const labels = [...core.labels];
  const counts = { deployed: 0, done: 0 };
  // APIs the listing had (kept) or refused (kept at their last-known-good version, not undeployed).
  const listed = new Set<string>();
  let head = Number.POSITIVE_INFINITY;
  const page = core.retriever.retrieveArtifactPage?.bind(core.retriever);
  if (page && labels.length === 1) {
    // One label: apply page by page, so memory stays flat however many APIs the label has.
    const label = labels[0]!;
    const fetchPage = (after: string | undefined) =>
      core.fetch(() => page(label, after, BULK_PAGE_SIZE), signal);
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
        core.reject(r.apiId, r.reason, rejectedDetail(r));
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
        await applyListing(core, entries, labels, counts, signal, (done) => onProgress?.(done, total));
      } catch (err) {
        if (res.next) pending.catch(() => undefined); // the prefetched page is not needed any more
        throw err;
      }
      if (!res.next) break;
    }
  } else {
    const byApi = new Map<string, { found: RetrievedArtifact; labels: Set<string> }>();
    for (const label of labels) {
      const res = await core.fetch(() => core.retriever.retrieveAllArtifacts(label), signal);
      if (res === "superseded") throw new GwsyncError("GWSYNC_SHUTTING_DOWN", "startup deployment aborted");
      head = Math.min(head, res.head);
      for (const r of res.rejected ?? []) {
        if (r.apiId) listed.add(r.apiId);
        core.reject(r.apiId, r.reason, rejectedDetail(r));
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
    await applyListing(core, [...byApi], labels, counts, signal, (done) => onProgress?.(done, byApi.size));
  }
  const finalHead = Number.isFinite(head) ? head : 0;
  let removed = 0;
  for (const api of core.deployer.deployed()) {
    // Deployed before, absent from the listing, and not changed by an event since: gone (whatever seq
    // the local record claims).
    if (!listed.has(api.apiId) && !core.changedDuringLoad(api.apiId)) {
      await core.serial.run(api.apiId, () => core.deployer.undeploy(api.apiId, { deferFlush: true }), {
        supersede: false,
      });
      core.noteRevision(api.apiId, api.revision);
      removed++;
    }
  }
  core.deployer.compact?.();
  await core.deployer.flush();
  return { head: finalHead, deployed: counts.deployed, removed, total: listed.size };
}

/** Apply listed artifacts, a few at once: the XML checks of one overlap the fsyncs of another. */
async function applyListing(
  core: ReconcileCore,
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
      const o = await core.serial.run(
        apiId,
        async () => {
          // An event applied meanwhile may hold newer data than this listing: keep it. Nothing else
          // outranks the listing (a local record's seq is not the store's word).
          const current = core.deployer.get(apiId);
          if (current && current.seq > found.seq && core.changedDuringLoad(apiId))
            return "unchanged" as const;
          if (
            current &&
            current.sha256 === found.sha256 &&
            (current.revision !== found.revision || current.seq !== found.seq)
          ) {
            // Same files, but the record claims another revision or seq than the store: take the store's
            // (the deployer rewrites only its record for the same artifact).
            await core.deployer.deploy(
              found.dto,
              { revision: found.revision, sha256: found.sha256, seq: found.seq, labels: current.labels },
              { deferFlush: true },
            );
          }
          try {
            return await core.apply(apiId, all, labels, found, true);
          } catch (err) {
            // One artifact that cannot be deployed (a file another API owns, a bad name) is refused
            // with its reason; the load goes on, so the gateway is not stale for ever because of it.
            if (!isGwsyncError(err) || err.retryable) throw err;
            core.reject(apiId, err.message, { code: err.code, revision: found.revision });
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
