import { z } from "zod";
import { GwsyncError } from "../../errors.js";
import { isJsonRecord } from "../../security/json-limits.js";
import type { ChangeRecord, OutboxMessage, StoredArtifact } from "../types.js";
import type { ArtifactRow, ChangeRow, OutboxRow } from "./statements.js";

export function toStoredArtifact(row: ArtifactRow): StoredArtifact {
  return {
    apiId: row.API_ID,
    label: row.GATEWAY_LABEL,
    instruction: row.GATEWAY_INSTRUCTION,
    artifactJson: row.BODY ? row.BODY.toString("utf8") : "",
    name: row.API_NAME ?? "",
    version: row.API_VERSION ?? "",
    provider: row.API_PROVIDER ?? "",
    tenantDomain: row.TENANT_DOMAIN ?? "",
    revision: row.REVISION,
    sha256: row.SHA256,
    seq: row.SEQ,
    updatedAt: row.UPDATED_AT,
  };
}

/** Local changes store NULL origins; the record reports this region and the local seq (types.ts). */
export function toChangeRecord(row: ChangeRow, localRegion: string): ChangeRecord {
  return {
    seq: row.SEQ,
    apiId: row.API_ID,
    label: row.GATEWAY_LABEL,
    instruction: row.GATEWAY_INSTRUCTION,
    revision: row.REVISION,
    sha256: row.SHA256,
    originRegion: row.ORIGIN_REGION ?? localRegion,
    originSeq: row.ORIGIN_SEQ ?? row.SEQ,
    createdAt: row.CREATED_AT,
  };
}

export const headersSchema = z.record(z.string(), z.union([z.string(), z.number()]));

/**
 * headersSchema's answer for the plain case, without zod (issue 19: the outbox reads every row it
 * publishes through it, once per publish): a plain object whose values are strings or finite numbers,
 * copied as the schema copies it. Anything else is undefined and goes to the schema
 * (test/unit/decode-fast-paths.test.ts compares the two).
 */
export function plainHeaders(v: unknown): Record<string, string | number> | undefined {
  if (!isJsonRecord(v)) return undefined;
  const out: Record<string, string | number> = {};
  for (const key of Object.keys(v)) {
    const value = v[key];
    if (typeof value === "string" || (typeof value === "number" && Number.isFinite(value))) out[key] = value;
    else return undefined;
  }
  return out;
}

/** The outbox file is a boundary too: a row whose headers do not parse is named, not passed on. */
export function toOutboxMessage(row: OutboxRow): OutboxMessage {
  let headers: Record<string, string | number>;
  try {
    const parsed: unknown = JSON.parse(row.HEADERS);
    headers = plainHeaders(parsed) ?? headersSchema.parse(parsed);
  } catch (cause) {
    throw new GwsyncError(
      "GWSYNC_STORE_FAILED",
      `outbox row ${row.ID} has unreadable HEADERS (not a JSON object of strings and numbers): delete the row`,
      { cause, retryable: false, details: { id: row.ID } },
    );
  }
  return {
    id: row.ID,
    topic: row.TOPIC,
    messageId: row.MESSAGE_ID,
    body: row.BODY,
    headers,
    createdAt: row.CREATED_AT,
    attempts: row.ATTEMPTS,
  };
}
