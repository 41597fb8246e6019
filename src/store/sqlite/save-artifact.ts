import { GwsyncError } from "../../errors.js";
import { type ParsedSave, parseOutboxMessages } from "../save-input.js";
import { type LabelState, planSave, rowSha256, type SavePlan, wso2TimeStamp } from "../save-rules.js";
import type { NewOutboxMessage, SaveArtifactResult } from "../types.js";
import type { LabelStateRow, WriteStatements } from "./statements.js";

export interface SaveContext {
  w: WriteStatements;
  now: () => number;
  hasOriginChange: (region: string, seq: number) => boolean;
  /** The origin sequence of changelog row `seq` when it came from `region` (undefined otherwise). */
  originSeqOf: (seq: number, region: string) => number | undefined;
}

/**
 * What a store built on this one adds to a save (the Git store, src/store/git/). @internal
 */
export interface SaveExtension {
  /** Keep the artifact's bytes in GWSYNC_ARTIFACT_BODIES (false: another backend keeps every revision). */
  keepBodies: boolean;
  /** The commit that holds the change: SaveArtifactResult.commit, which buildMessages sees. */
  commit?: string;
  /**
   * Runs inside the transaction once the rows are written, before buildMessages, with the changelog
   * sequence number each label got (in plan order). Throwing rolls the whole save back.
   */
  written?: (rows: readonly { label: string; seq: number }[], result: SaveArtifactResult) => void;
}

function toLabelState(row: LabelStateRow | undefined): LabelState | undefined {
  return row === undefined
    ? undefined
    : { instruction: row.GATEWAY_INSTRUCTION, revision: row.REVISION, sha256: row.SHA256, seq: row.SEQ };
}

/** The save's decision from the rows as they are (save-rules.ts); reads only. */
export function planRows(ctx: SaveContext, p: ParsedSave): SavePlan {
  const { w } = ctx;
  const storedRevision = w.apiRevision.get(p.apiId) ?? 0;
  const states = p.labels.map((label) => ({ label, state: toLabelState(w.labelState.get(label, p.apiId)) }));
  const origin = p.origin;
  // A pulled change (no origin revision) older than what a label holds from that origin is skipped too
  // (sql-store.ts, #newerFromOrigin).
  const stale =
    origin !== undefined &&
    (ctx.hasOriginChange(origin.region, origin.seq) ||
      (origin.revision === undefined &&
        states.some(
          ({ state }) => state !== undefined && (ctx.originSeqOf(state.seq, origin.region) ?? 0) > origin.seq,
        )));
  return planSave(p, storedRevision, states, stale);
}

/**
 * The body of the save transaction (the caller runs it inside `db.transaction`). Writes the details,
 * artifact, state, changelog and outbox rows, or nothing at all when nothing changed (save-rules.ts).
 */
export function saveArtifactRows(
  ctx: SaveContext,
  p: ParsedSave,
  buildMessages: (result: SaveArtifactResult) => NewOutboxMessage[],
  ext?: SaveExtension,
): SaveArtifactResult {
  const { w } = ctx;
  const origin = p.origin;
  const plan = planRows(ctx, p);
  if (plan.kind === "unchanged") return plan.result;
  if (p.instruction === "Publish" && p.files !== undefined) refuseFileConflicts(w, p, plan.labels, p.files);

  const { revision } = plan;
  const now = ctx.now();
  const timeStamp = wso2TimeStamp(now);
  w.upsertApiRevision.run(p.apiId, revision);
  if (p.instruction === "Publish") {
    const d = p.dto;
    w.upsertDetails.run(p.apiId, d.tenantDomain, d.provider, d.name, d.version, p.apiType);
  }
  const body = p.instruction === "Publish" ? Buffer.from(p.artifactJson, "utf8") : undefined;
  if (body !== undefined && ext?.keepBodies !== false) w.insertBody.run(p.sha256, body);
  let seq = 0;
  const written: { label: string; seq: number }[] = [];
  for (const { label, state } of plan.labels) {
    const rowSha = rowSha256(p, state);
    if (body === undefined) w.markRemoved.run(timeStamp, label, p.apiId);
    else w.upsertArtifact.run(p.apiId, body, label, timeStamp);
    const change = w.insertChange.run(
      p.apiId,
      label,
      p.instruction,
      revision,
      rowSha,
      origin?.region ?? null,
      origin?.seq ?? null,
      now,
      p.sourceCommit ?? null,
    );
    seq = Number(change.lastInsertRowid);
    written.push({ label, seq });
    w.upsertLabelState.run(label, p.apiId, p.instruction, revision, rowSha, seq, now);
    // The API's files on this label: now these (Publish, when known), or none (Remove). An update
    // that keeps the same files (nearly every one) rewrites nothing: two pages fewer in the commit.
    if (p.instruction === "Remove") w.releaseFiles.run(label, p.apiId);
    else if (p.files !== undefined && !sameFiles(w.filesOf.all(p.apiId, label), p.files)) {
      w.releaseFiles.run(label, p.apiId);
      for (const f of p.files) w.claimFile.run(label, f, p.apiId);
    }
  }

  const result: SaveArtifactResult = {
    apiId: p.apiId,
    revision,
    sha256: p.sha256,
    seq,
    labels: plan.labels.map((s) => s.label),
    changed: true,
    ...(ext?.commit === undefined ? {} : { commit: ext.commit }),
  };
  ext?.written?.(written, result);
  insertOutbox(w, parseOutboxMessages(buildMessages({ ...result, labels: [...result.labels] })), now);
  return result;
}

/** The same set of files (the stored ones are unique per label and API). */
function sameFiles(stored: readonly string[], files: readonly string[]): boolean {
  const wanted = new Set(files);
  return stored.length === wanted.size && stored.every((f) => wanted.has(f));
}

export function insertOutbox(w: WriteStatements, messages: readonly NewOutboxMessage[], now: number): void {
  for (const m of messages) {
    w.insertOutbox.run(m.topic, m.messageId, m.body, JSON.stringify(m.headers), now);
  }
}

/** One file, one API: a Publish that would write a file another API owns on a label is refused whole. */
export function refuseFileConflicts(
  w: WriteStatements,
  p: ParsedSave,
  labels: readonly { label: string }[],
  files: readonly string[],
): void {
  for (const { label } of labels) {
    for (const file of files) {
      const owner = w.fileOwner.get(label, file);
      if (owner !== undefined && owner !== p.apiId) {
        throw new GwsyncError(
          "GWSYNC_ARTIFACT_CONFLICT",
          `API ${p.apiId} would write ${file} on label "${label}", which API ${owner} owns there; rename one of them (one file, one API)`,
          { details: { apiId: p.apiId, owner, label, file } },
        );
      }
    }
  }
}
