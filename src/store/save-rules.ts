import { GwsyncError } from "../errors.js";
import type { ParsedSave } from "./save-input.js";
import type { GatewayInstruction, SaveArtifactResult } from "./types.js";

/** What a store holds about one (label, API) before a save: GWSYNC_LABEL_STATE's row. */
export interface LabelState {
  instruction: GatewayInstruction;
  /** The revision the label's row was last written with (GWSYNC_LABEL_STATE.REVISION). */
  revision: number;
  sha256: string;
  seq: number;
}

/** A requested label with what the store held for it (undefined: never written). */
export interface LabelBefore {
  label: string;
  state: LabelState | undefined;
}

/**
 * The decision every engine takes inside its save transaction, after it locked the API's revision
 * row: which labels to write, and with which revision — or nothing at all. Engines differ in how they
 * read and write, never in this.
 */
export type SavePlan =
  | { kind: "unchanged"; result: SaveArtifactResult }
  | { kind: "write"; revision: number; labels: LabelBefore[] };

/** Whether a label's row must be written: new, other instruction, or (Publish) other content. */
export function needsWrite(state: LabelState | undefined, p: ParsedSave): boolean {
  if (state === undefined) return true;
  if (state.instruction !== p.instruction) return true;
  // A Remove keeps the row's last artifact, so a repeated Remove is unchanged whatever its sha256.
  return p.instruction === "Publish" && state.sha256 !== p.sha256;
}

const RANK: Record<GatewayInstruction, number> = { Publish: 0, Remove: 1 };

/**
 * Conflicts between regions (docs/replication.md, "Conflicts"): each label's state is a last-writer-wins
 * register ordered by the key (revision, instruction rank, sha256). Compares the key of a relayed change
 * with the key of what a label holds: > 0 when the change's key is greater. A Remove ranks above a
 * Publish of the same revision; two Publishes compare their artifacts' sha256 as lowercase hex strings;
 * two Removes of the same revision are equal whatever their sha256 (a Remove row keeps the previous
 * artifact's sha256, which says nothing about the Remove), so Remove-vs-Remove never writes.
 */
export function compareConflictKey(
  change: { revision: number; instruction: GatewayInstruction; sha256: string },
  held: { revision: number; instruction: GatewayInstruction; sha256: string },
): number {
  if (change.revision !== held.revision) return change.revision < held.revision ? -1 : 1;
  const rank = RANK[change.instruction] - RANK[held.instruction];
  if (rank !== 0) return rank;
  if (change.instruction === "Remove") return 0;
  const a = change.sha256.toLowerCase();
  const b = held.sha256.toLowerCase();
  return a === b ? 0 : a < b ? -1 : 1;
}

/**
 * Whether a relayed change (an origin revision) is written on a label: above the label's revision as any
 * change (when it changes something); at the label's revision only when its conflict key is greater
 * (the revision number stays, a new changelog row records the winner); below it never.
 */
export function relayedWins(state: LabelState | undefined, p: ParsedSave, revision: number): boolean {
  if (state === undefined || state.revision < revision) return needsWrite(state, p);
  if (state.revision > revision) return false;
  return compareConflictKey({ revision, instruction: p.instruction, sha256: p.sha256 }, state) > 0;
}

/**
 * Plan a save from the stored revision and label states. `originStored` says whether the relayed
 * change's (region, seq) is already in the changelog. Throws GWSYNC_NOT_FOUND for a Remove from a
 * label the API was never published to.
 */
export function planSave(
  p: ParsedSave,
  storedRevision: number,
  states: readonly LabelBefore[],
  originStored: boolean,
): SavePlan {
  if (p.instruction === "Remove") {
    const missing = states.filter((s) => s.state === undefined).map((s) => `"${s.label}"`);
    if (missing.length > 0) {
      throw new GwsyncError(
        "GWSYNC_NOT_FOUND",
        `cannot remove API ${p.apiId} from ${missing.join(", ")}: it was never published there (check the label)`,
        { details: { apiId: p.apiId, labels: missing } },
      );
    }
  }
  const unchanged: SavePlan = {
    kind: "unchanged",
    result: {
      apiId: p.apiId,
      revision: storedRevision,
      sha256: p.sha256,
      seq: Math.max(0, ...states.map((s) => s.state?.seq ?? 0)),
      labels: [],
      changed: false,
    },
  };
  const origin = p.origin;
  if (origin !== undefined) {
    if (originStored) return unchanged;
    // Regions share revision numbers for relayed APIs: an origin revision below ours is older news.
    if (origin.revision !== undefined && origin.revision < storedRevision) return unchanged;
  }
  const relayedRevision = origin?.revision;
  const labels = states.filter((s) =>
    relayedRevision === undefined ? needsWrite(s.state, p) : relayedWins(s.state, p, relayedRevision),
  );
  if (labels.length === 0) return unchanged;
  return { kind: "write", revision: origin?.revision ?? storedRevision + 1, labels };
}

/** The sha256 a label's row keeps: a Remove keeps the row's last artifact, so its sha256 too. */
export function rowSha256(p: ParsedSave, before: LabelState | undefined): string {
  return p.instruction === "Remove" ? (before?.sha256 ?? p.sha256) : p.sha256;
}

/** WSO2's TIME_STAMP text, as SQLite's CURRENT_TIMESTAMP writes it but with milliseconds (UTC). */
export function wso2TimeStamp(ms: number): string {
  return new Date(ms).toISOString().replace("T", " ").replace("Z", "");
}
