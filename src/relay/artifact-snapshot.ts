import type { RegionSyncChange } from "../events/region-sync.js";
import type { ArtifactStore, StoredArtifact } from "../store/types.js";

/** How stale the list of labels the store knows may be before the next snapshot re-reads it. */
export const DEFAULT_LABEL_REFRESH_MS = 1000;

/**
 * The gateway labels the local store holds rows for. A snapshot must cover every label of the API,
 * not only the ones the notification named: the receiving store keeps one revision per API and skips
 * a revision not above it, so sending label L1 at revision 3 before label L9 at revision 2 would lose
 * L9. Labels are few; the list is re-read when it is older than `refreshMs` or an event names a label
 * it lacks.
 */
export class LabelDirectory {
  readonly #store: () => ArtifactStore;
  readonly #refreshMs: number;
  #labels = new Set<string>();
  #readAt = Number.NEGATIVE_INFINITY;

  constructor(store: () => ArtifactStore, refreshMs = DEFAULT_LABEL_REFRESH_MS) {
    this.#store = store;
    this.#refreshMs = refreshMs;
  }

  async labels(named: readonly string[], now = Date.now()): Promise<string[]> {
    if (now - this.#readAt > this.#refreshMs || named.some((l) => !this.#labels.has(l))) {
      const rows = await this.#store().listArtifacts({ includeRemoved: true, withBody: false });
      this.#labels = new Set(rows.map((r) => r.label));
      this.#readAt = now;
    }
    return [...new Set([...named, ...this.#labels])];
  }

  /** Every label the store holds rows for, read now (the catch-up reads it after the changelog head). */
  async refresh(now = Date.now()): Promise<string[]> {
    this.#readAt = Number.NEGATIVE_INFINITY;
    return this.labels([], now);
  }
}

/**
 * The API's current state in the local store on the given labels, as region-sync changes. The store
 * keeps only the latest state per (API, label), so a notification relayed late carries newer news
 * than it announced; the receiving store adopts the origin's revision, skips a lower one and settles an
 * equal one by (revision, Remove above Publish, sha256) (docs/replication.md, "Conflicts"), so every region
 * converges on the same latest revision.
 *
 * Returns an empty list when the store holds the API on none of the labels: the event was not
 * produced through gwsync's store (WSO2 itself published it).
 */
export async function snapshotChanges(
  store: ArtifactStore,
  apiId: string,
  labels: readonly string[],
  /** Signs a change (the relay's key); the tenant is the stored API's. */
  sign?: (change: RegionSyncChange, tenant: string) => string,
): Promise<RegionSyncChange[]> {
  const rows: StoredArtifact[] = [];
  for (const label of new Set(labels)) {
    const row = await store.getArtifact(apiId, label);
    if (row !== undefined) rows.push(row);
  }
  // Labels written by one commit share its instruction, revision and artifact.
  const groups = new Map<string, StoredArtifact[]>();
  for (const row of rows) {
    const key = `${row.instruction}\u0000${row.revision}\u0000${row.sha256}`;
    const group = groups.get(key);
    if (group) group.push(row);
    else groups.set(key, [row]);
  }
  const changes = [...groups.values()].map((group): RegionSyncChange => {
    const change: RegionSyncChange = {
      labels: group.map((r) => r.label),
      instruction: group[0]!.instruction,
      revision: group[0]!.revision,
      originSeq: Math.max(...group.map((r) => r.seq)),
      sha256: group[0]!.sha256,
      artifact: group[0]!.artifactJson,
    };
    return sign === undefined ? change : { ...change, signature: sign(change, group[0]!.tenantDomain) };
  });
  // Oldest first: the receiving store skips a revision not above the one it holds.
  return changes.sort((a, b) => a.revision - b.revision || a.originSeq - b.originSeq);
}
