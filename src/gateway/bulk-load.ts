import { setImmediate as tick } from "node:timers/promises";
import { GwsyncError, isGwsyncError } from "../errors.js";
import {
  type BulkLoadResult,
  type ListingEntry,
  type ReconcileCore,
  rejectedDetail,
} from "./reconcile-core.js";
import type { OpenedArtifactPage, RetrievedArtifact } from "./retriever.js";

/**
 * Deploys in flight during the startup bulk load. Each bulk deploy's files are fsynced in a round with
 * the others in flight and it returns after its folders' fsync (FileDeployer): 64 keeps libuv's pool
 * busy with fsyncs that ext4 joins into shared journal commits (B7, issue 19; 8 before).
 */
export const BULK_CONCURRENCY = 64;
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
  const retriever = core.retriever;
  const page = retriever.retrieveArtifactPage?.bind(retriever);
  const open = retriever.openArtifactPage?.bind(retriever);
  if ((open || page) && labels.length === 1) {
    // One label: apply page by page, so memory stays flat however many APIs the label has.
    const label = labels[0]!;
    // A page is read in two steps when the retriever can: it arrives (its `next` known), then its
    // artifacts are validated. The next page is asked for in between, so the control plane builds it
    // while this one is validated and applied (issue 19, B7: asked after the validation, a gateway
    // idled ~70 ms a page waiting for it).
    const fetchPage = (after: string | undefined): Promise<OpenedArtifactPage | "superseded"> =>
      core.fetch(async () => {
        if (open) return open(label, after, BULK_PAGE_SIZE);
        const res = await page!(label, after, BULK_PAGE_SIZE);
        return {
          ...(res.next ? { next: res.next } : {}),
          ...(res.total === undefined ? {} : { total: res.total }),
          read: () => ({ items: res.items, head: res.head, rejected: res.rejected ?? [] }),
        };
      }, signal);
    let pending = fetchPage(undefined);
    let labelTotal: number | undefined;
    for (;;) {
      const opened = await pending;
      if (opened === "superseded")
        throw new GwsyncError("GWSYNC_SHUTTING_DOWN", "startup deployment aborted");
      if (opened.next) {
        pending = fetchPage(opened.next);
        // One turn of the event loop before the synchronous validation below: the request gets past the
        // retry policy's busy gate (asynchronous) and onto its socket first.
        await tick();
      }
      let res: ReturnType<OpenedArtifactPage["read"]>;
      try {
        res = opened.read();
      } catch (err) {
        if (opened.next) pending.catch(() => undefined); // the prefetched page is not needed any more
        throw err;
      }
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
      labelTotal ??= opened.total;
      const total = Math.max(labelTotal ?? listed.size, listed.size);
      try {
        await applyListing(core, entries, labels, counts, signal, (done) => onProgress?.(done, total));
      } catch (err) {
        if (opened.next) pending.catch(() => undefined); // the prefetched page is not needed any more
        throw err;
      }
      if (!opened.next) break;
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
  // Deployed before, absent from the listing, and not changed by an event since: gone (whatever seq
  // the local record claims). A few at once: each waits for a folder fsync round shared with the others.
  const gone = core.deployer.deployed().filter((api) => !listed.has(api.apiId));
  let next = 0;
  const remover = async () => {
    while (next < gone.length) {
      const api = gone[next++]!;
      if (core.changedDuringLoad(api.apiId)) continue;
      await core.serial.run(api.apiId, () => core.deployer.undeploy(api.apiId, { deferFlush: true }), {
        supersede: false,
      });
      core.noteRevision(api.apiId, api.revision);
      removed++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(BULK_CONCURRENCY, gone.length) }, remover));
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
