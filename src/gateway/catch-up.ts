import { isGwsyncError } from "../errors.js";
import type { ReconcileCore } from "./reconcile-core.js";
import type { ArtifactRetriever } from "./retriever.js";

/**
 * Catch-up: apply the changelog after `since` (only APIs whose newest change differs from what is
 * deployed). Returns the new watermark; throws when a fetch failed so the watermark stays put.
 */
export async function catchUp(
  core: ReconcileCore,
  since: number,
  signal?: AbortSignal,
): Promise<{ head: number; applied: number }> {
  let res: Awaited<ReturnType<ArtifactRetriever["changesSince"]>> | "superseded";
  try {
    res = await core.fetch(() => core.retriever.changesSince(since, [...core.labels]), signal);
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
    const current = core.deployer.get(apiId);
    if (current && current.revision >= e.revision) continue;
    if (!current && core.isStale(apiId, e.revision)) continue;
    try {
      const o = await core.reconcile(apiId, [...e.labels], {
        supersede: false,
        removedLabels: [...e.removed],
        ...(signal ? { signal } : {}),
      });
      if (o === "deployed" || o === "removed") applied++;
    } catch (err) {
      // A bad artifact is reported and skipped; a control plane that is down fails the catch-up.
      if (isGwsyncError(err) && !err.retryable) {
        core.reject(apiId, err.message, { code: err.code, revision: e.revision });
        core.noteRevision(apiId, e.revision);
      } else throw err;
    }
  }
  return { head: res.head, applied };
}
