import { isGwsyncError } from "../errors.js";
import type { CatchUpPlan, Prefetched, PrefetchedApi, ReconcileCore } from "./reconcile-core.js";
import type { ArtifactRetriever, BatchReply } from "./retriever.js";
import { retryAfterOf } from "./retry.js";

/**
 * Changed APIs asked in one data-API request (the control plane takes up to 200: MAX_BATCH_APIS in
 * src/publisher/data-api-routes.ts). Issue 20: one GET per changed API per gateway held a 500-gateway
 * reconnect storm at the ~95 GETs/s the publisher served.
 */
export const CATCH_UP_BATCH = 100;
/** A batch's apiId parameters stop short of this (a request line well under Node's 16 KiB header limit). */
export const MAX_BATCH_QUERY_CHARS = 8 * 1024;

interface Change {
  labels: Set<string>;
  removed: Set<string>;
  revision: number;
}

/**
 * Catch-up: apply the changelog after `since` (only APIs whose newest change differs from what is
 * deployed). Returns the new watermark; throws when a fetch failed so the watermark stays put.
 *
 * The changed APIs are read in batches (CATCH_UP_BATCH per request, the next batch read while this one
 * is applied) when the retriever can; every artifact of a batch is validated on its own and one refused
 * is refused alone. A batch's answer for an API is used only if nothing applied the API since the batch
 * was asked; otherwise, and for what a batch did not answer, the API is fetched on its own as before.
 */
export async function catchUp(
  core: ReconcileCore,
  since: number,
  signal?: AbortSignal,
): Promise<{ head: number; applied: number }> {
  // Events for the APIs this catch-up applies wait for it instead of fetching them one by one.
  const plan = core.beginCatchUp();
  try {
    return await catchUpPlanned(core, since, plan, signal);
  } finally {
    plan.end();
  }
}

async function catchUpPlanned(
  core: ReconcileCore,
  since: number,
  plan: CatchUpPlan,
  signal: AbortSignal | undefined,
): Promise<{ head: number; applied: number }> {
  let res: Awaited<ReturnType<ArtifactRetriever["changesSince"]>> | "superseded";
  try {
    res = await core.fetch(
      () =>
        core.retriever.changesSince(since, [...core.labels]).catch((err: unknown) => {
          // A busy control plane answers later; a failing one may not for minutes (its retries back off).
          if (retryAfterOf(err) === undefined && !loadedNotDown(err))
            plan.stalled(err instanceof Error ? err.message : String(err));
          throw err;
        }),
      signal,
    );
  } catch (err) {
    // A WSO2 control plane keeps no changelog: re-read the listing (what a WSO2 gateway does on a
    // reconnect, GatewayJMSMessageListener onReconnect) and keep the watermark where it is.
    if (!(isGwsyncError(err) && err.details?.changelog === "absent")) throw err;
    const r = await core.bulkLoad(signal);
    return { head: since, applied: r.deployed + r.removed };
  }
  if (res === "superseded") return { head: since, applied: 0 };
  // Per API: the labels it changed on, the newest instruction per label, and its newest revision
  // (the reconcile reads the truth).
  const latest = new Map<string, Change>();
  for (const c of res.changes) {
    const e = latest.get(c.apiId) ?? { labels: new Set<string>(), removed: new Set<string>(), revision: 0 };
    e.labels.add(c.label);
    if (c.instruction === "Remove") e.removed.add(c.label);
    else e.removed.delete(c.label);
    e.revision = Math.max(e.revision, c.revision);
    latest.set(c.apiId, e);
  }
  const todo: [string, Change][] = [...latest].filter(([apiId, e]) => !upToDate(core, apiId, e));
  plan.planned(todo.map(([apiId]) => apiId));
  const batch = core.retriever.retrieveArtifacts?.bind(core.retriever);
  const chunks: [string, Change][][] = [];
  for (let i = 0; i < todo.length; i += CATCH_UP_BATCH) chunks.push(todo.slice(i, i + CATCH_UP_BATCH));
  const prefetch = (chunk: [string, Change][]) =>
    batch && chunk.length > 1 ? prefetchChunk(core, chunk, batch, signal) : Promise.resolve(undefined);
  let applied = 0;
  let pending = chunks.length > 0 ? prefetch(chunks[0]!) : undefined;
  for (let c = 0; c < chunks.length; c++) {
    const got = await pending!;
    // The next batch is read while this one is applied: the control plane's reads overlap our writes.
    pending = c + 1 < chunks.length ? prefetch(chunks[c + 1]!) : undefined;
    try {
      for (const [apiId, e] of chunks[c]!) {
        // Checked again here: an event may have applied it while the batch was read.
        if (upToDate(core, apiId, e)) {
          plan.done(apiId);
          continue;
        }
        const prefetched = got?.forApi(apiId);
        try {
          const o = await core.reconcile(apiId, [...e.labels], {
            supersede: false,
            removedLabels: [...e.removed],
            ...(signal ? { signal } : {}),
            ...(prefetched ? { prefetched } : {}),
          });
          if (o === "deployed" || o === "removed") applied++;
          // A removal carries no artifact revision: the changelog's says which REMOVE events it covers.
          if (o === "removed") core.noteCaughtUp(apiId, e.revision);
        } catch (err) {
          // A bad artifact is reported and skipped; a control plane that is down fails the catch-up.
          if (isGwsyncError(err) && !err.retryable) {
            core.reject(apiId, err.message, { code: err.code, revision: e.revision });
            core.noteRevision(apiId, e.revision);
          } else throw err;
        } finally {
          plan.done(apiId);
        }
      }
    } catch (err) {
      // The batch read ahead is not needed any more.
      pending?.then((p) => p?.release()).catch(() => undefined);
      throw err;
    } finally {
      got?.release();
    }
  }
  return { head: res.head, applied };
}

/**
 * A read that timed out or whose connection was reset: a control plane too loaded to answer in time,
 * not one that is down (that refuses connections or answers an error). The events waiting for the
 * catch-up keep waiting for the read's retry (at most CATCH_UP_PLAN_WAIT_MS): sent their own way, each
 * would add a request to the load that made the read late. B9 at 1,000 gateways: 1,766 changelog reads
 * timed out at 30 s and 160 were reset; each released its gateway's waiting events, ~33,000 of which
 * then fetched their API one by one.
 */
function loadedNotDown(err: unknown): boolean {
  const cause = err instanceof Error ? (err.cause as (Error & { code?: string }) | undefined) : undefined;
  if (cause === undefined) return false;
  return cause.name === "TimeoutError" || cause.code === "ECONNRESET" || cause.code === "EPIPE";
}

function upToDate(core: ReconcileCore, apiId: string, e: Change): boolean {
  const current = core.deployer.get(apiId);
  if (current && current.revision >= e.revision) return true;
  return !current && core.isStale(apiId, e.revision);
}

/** A chunk's batch answers: per API, what each label's batch said (undefined where none answered). */
interface ChunkAnswers {
  forApi(apiId: string): PrefetchedApi | undefined;
  release(): void;
}

/**
 * Ask the chunk's APIs in batches, one per label they are (or were) on: the labels a reconcile reads
 * (the changed ones and those the API is deployed through). A batch whose reply cannot be used at all
 * (malformed, too large) answers nothing: those APIs are fetched one by one, where a bad one is
 * refused alone. A control plane that is down fails the catch-up (after the retry policy), as before.
 */
async function prefetchChunk(
  core: ReconcileCore,
  chunk: readonly [string, Change][],
  batch: (apiIds: readonly string[], label: string) => Promise<BatchReply>,
  signal: AbortSignal | undefined,
): Promise<ChunkAnswers | undefined> {
  // Made before the request: an API applied by any path after this point keeps its own answer.
  const tracker = core.trackChanges();
  try {
    const byLabel = new Map<string, string[]>();
    for (const [apiId, e] of chunk) {
      const deployedOn = (core.deployer.get(apiId)?.labels ?? []).filter((l) => core.labels.has(l));
      for (const label of new Set([...e.labels, ...deployedOn])) {
        const ids = byLabel.get(label) ?? [];
        ids.push(apiId);
        byLabel.set(label, ids);
      }
    }
    const answers = new Map<string, Map<string, Prefetched>>();
    const answer = (apiId: string, label: string, p: Prefetched) => {
      const m = answers.get(apiId) ?? new Map<string, Prefetched>();
      m.set(label, p);
      answers.set(apiId, m);
    };
    for (const [label, ids] of byLabel) {
      for (const part of byQuerySize(ids)) {
        let reply: BatchReply | "superseded";
        try {
          reply = await core.fetch(() => batch(part, label), signal);
        } catch (err) {
          if (isGwsyncError(err) && !err.retryable) continue;
          throw err;
        }
        if (reply === "superseded") {
          tracker.release();
          return undefined;
        }
        const found = new Map(reply.items.map((i) => [i.apiId, i]));
        const refused = new Map(reply.rejected.map((r) => [r.apiId!, r]));
        for (const apiId of reply.answered) {
          const item = found.get(apiId);
          const bad = refused.get(apiId);
          if (bad) {
            answer(apiId, label, {
              kind: "refused",
              reason: bad.reason,
              code: bad.code ?? "GWSYNC_ARTIFACT_INVALID",
              ...(bad.revision === undefined ? {} : { revision: bad.revision }),
            });
          } else if (item) answer(apiId, label, { kind: "found", item });
          else answer(apiId, label, { kind: "absent" });
        }
      }
    }
    return {
      forApi: (apiId) => {
        const m = answers.get(apiId);
        return m ? { byLabel: m, stale: () => tracker.has(apiId) } : undefined;
      },
      release: () => tracker.release(),
    };
  } catch (err) {
    tracker.release();
    throw err;
  }
}

/** `ids` in parts of at most CATCH_UP_BATCH whose apiId parameters stay under MAX_BATCH_QUERY_CHARS. */
function byQuerySize(ids: readonly string[]): string[][] {
  const parts: string[][] = [];
  let part: string[] = [];
  let chars = 0;
  for (const id of ids) {
    const n = encodeURIComponent(id).length + "&apiId=".length;
    if (part.length > 0 && (part.length >= CATCH_UP_BATCH || chars + n > MAX_BATCH_QUERY_CHARS)) {
      parts.push(part);
      part = [];
      chars = 0;
    }
    part.push(id);
    chars += n;
  }
  if (part.length > 0) parts.push(part);
  return parts;
}
