import type { GatewayInstruction, RevisionRecord } from "./types.js";

/** One changelog row of an API as every engine reads it for history: one revision on one label. */
export interface RevisionRow {
  revision: number;
  instruction: GatewayInstruction;
  label: string;
  sha256: string;
  seq: number;
  createdAt: number;
  /** Null for local changes. */
  originRegion: string | null;
  commit: string | null;
  hasContent: boolean;
}

/**
 * Group an API's changelog rows into revisions, in the order of the rows' first appearance (engines
 * read them newest revision first). One publish to two labels is one revision with two labels.
 */
export function groupRevisions(rows: readonly RevisionRow[], localRegion: string): RevisionRecord[] {
  const byRevision = new Map<number, RevisionRecord>();
  for (const r of rows) {
    const seen = byRevision.get(r.revision);
    if (seen === undefined) {
      byRevision.set(r.revision, {
        revision: r.revision,
        instruction: r.instruction,
        labels: [r.label],
        sha256: r.sha256,
        seq: r.seq,
        createdAt: r.createdAt,
        originRegion: r.originRegion ?? localRegion,
        ...(r.commit === null ? {} : { commit: r.commit }),
        hasContent: r.hasContent,
      });
      continue;
    }
    if (!seen.labels.includes(r.label)) seen.labels.push(r.label);
    seen.seq = Math.max(seen.seq, r.seq);
    seen.createdAt = Math.min(seen.createdAt, r.createdAt);
    if (seen.commit === undefined && r.commit !== null) seen.commit = r.commit;
  }
  return [...byRevision.values()];
}
