import { GwsyncError } from "../../errors.js";
import { type ParsedSave, parseOutboxMessages } from "../save-input.js";
import type { NewOutboxMessage, SaveArtifactResult } from "../types.js";
import { wso2TimeStamp } from "./rows.js";
import type { LabelStateRow, WriteStatements } from "./statements.js";

export interface SaveContext {
  w: WriteStatements;
  now: () => number;
  hasOriginChange: (region: string, seq: number) => boolean;
}

/** Whether a label's row must be written: new, other instruction, or (Publish) other content. */
function needsWrite(state: LabelStateRow | undefined, p: ParsedSave): boolean {
  if (state === undefined) return true;
  if (state.GATEWAY_INSTRUCTION !== p.instruction) return true;
  // A Remove keeps the row's last artifact, so a repeated Remove is unchanged whatever its sha256.
  return p.instruction === "Publish" && state.SHA256 !== p.sha256;
}

/**
 * The body of the save transaction (the caller runs it inside `db.transaction`). Writes the details,
 * artifact, state, changelog and outbox rows, or nothing at all when nothing changed.
 */
export function saveArtifactRows(
  ctx: SaveContext,
  p: ParsedSave,
  buildMessages: (result: SaveArtifactResult) => NewOutboxMessage[],
): SaveArtifactResult {
  const { w } = ctx;
  const storedRevision = w.apiRevision.get(p.apiId) ?? 0;
  const states = p.labels.map((label) => ({ label, state: w.labelState.get(label, p.apiId) }));

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

  const unchanged: SaveArtifactResult = {
    apiId: p.apiId,
    revision: storedRevision,
    sha256: p.sha256,
    seq: Math.max(0, ...states.map((s) => s.state?.SEQ ?? 0)),
    labels: [],
    changed: false,
  };
  const origin = p.origin;
  if (origin !== undefined) {
    if (ctx.hasOriginChange(origin.region, origin.seq)) return unchanged;
    // Regions share revision numbers for relayed APIs: an origin revision not above ours is older news.
    if (origin.revision !== undefined && origin.revision <= storedRevision) return unchanged;
  }
  const changedLabels = states.filter((s) => needsWrite(s.state, p));
  if (changedLabels.length === 0) return unchanged;

  const revision = origin?.revision ?? storedRevision + 1;
  const now = ctx.now();
  const timeStamp = wso2TimeStamp(now);
  w.upsertApiRevision.run(p.apiId, revision);
  if (p.instruction === "Publish") {
    const d = p.dto;
    w.upsertDetails.run(p.apiId, d.tenantDomain, d.provider, d.name, d.version, p.apiType);
  }
  const body = p.instruction === "Publish" ? Buffer.from(p.artifactJson, "utf8") : undefined;
  let seq = 0;
  for (const { label, state } of changedLabels) {
    // A Remove keeps the row's last artifact, so the row keeps that artifact's sha256 too.
    const rowSha = body === undefined ? (state?.SHA256 ?? p.sha256) : p.sha256;
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
    );
    seq = Number(change.lastInsertRowid);
    w.upsertLabelState.run(label, p.apiId, p.instruction, revision, rowSha, seq, now);
  }

  const result: SaveArtifactResult = {
    apiId: p.apiId,
    revision,
    sha256: p.sha256,
    seq,
    labels: changedLabels.map((s) => s.label),
    changed: true,
  };
  insertOutbox(w, parseOutboxMessages(buildMessages({ ...result, labels: [...result.labels] })), now);
  return result;
}

export function insertOutbox(w: WriteStatements, messages: readonly NewOutboxMessage[], now: number): void {
  for (const m of messages) {
    w.insertOutbox.run(m.topic, m.messageId, m.body, JSON.stringify(m.headers), now);
  }
}
