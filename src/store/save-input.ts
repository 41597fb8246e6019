import { createHash } from "node:crypto";
import { z } from "zod";
import type { GatewayApiDto } from "../artifacts/types.js";
import { GwsyncError } from "../errors.js";
import { zodReason } from "../zod-reason.js";
import type { GatewayInstruction, NewOutboxMessage, SaveArtifactInput } from "./types.js";

/** WSO2's columns are varchar(255); a longer value would not fit a MySQL/PostgreSQL store later. */
export const MAX_KEY_LENGTH = 255;
/** WSO2 4.x writes api.getType() here; gwsync publishes REST APIs. */
export const DEFAULT_API_TYPE = "HTTP";

const key = () =>
  z.string().min(1, "must not be empty").max(MAX_KEY_LENGTH, `must be at most ${MAX_KEY_LENGTH} characters`);

/** A gateway label is matched byte for byte by gateways, so stray spaces would silently match nothing. */
const labelSchema = key().refine((l) => l === l.trim(), {
  message: "must not start or end with spaces",
});

const saveInputSchema = z.object({
  dto: z.looseObject({
    apiId: key(),
    name: key(),
    // An API may have no version: WSO2's own _OpenService_, default-version APIs.
    version: z.string().max(MAX_KEY_LENGTH),
    provider: z.string().max(MAX_KEY_LENGTH),
    tenantDomain: key(),
  }),
  labels: z.array(labelSchema).min(1, "must name at least one gateway label"),
  instruction: z.enum(["Publish", "Remove"]),
  artifactJson: z.string().min(1).optional(),
  files: z.array(z.string().min(1).max(1024)).max(10_000).optional(),
  apiType: key().optional(),
  origin: z
    .object({
      region: key(),
      seq: z.number().int().positive(),
      revision: z.number().int().positive().optional(),
    })
    .optional(),
  sourceCommit: z
    .string()
    .regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/, "must be a full git commit id (40 or 64 hex digits)")
    .optional(),
});

/** A save request after validation: labels de-duplicated, JSON and its digest computed once. */
export interface ParsedSave {
  dto: GatewayApiDto;
  apiId: string;
  labels: string[];
  instruction: GatewayInstruction;
  apiType: string;
  artifactJson: string;
  sha256: string;
  origin: { region: string; seq: number; revision?: number } | undefined;
  files: string[] | undefined;
  sourceCommit: string | undefined;
}

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

const isKey = (v: unknown): v is string =>
  typeof v === "string" && v.length >= 1 && v.length <= MAX_KEY_LENGTH;
const isShort = (v: unknown): v is string => typeof v === "string" && v.length <= MAX_KEY_LENGTH;
const isPositiveInt = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;
const COMMIT = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/**
 * True when `input` certainly passes saveInputSchema: the same rules, checked by hand, because zod
 * costs ~0.1 ms per publish on the REST call's path (B12). Anything it does not accept goes through
 * the schema, which decides and words the refusal: this check may only be stricter, never looser.
 */
function plainlyValidSave(input: SaveArtifactInput): boolean {
  const d = input.dto as unknown as Record<string, unknown> | null;
  if (typeof d !== "object" || d === null || Array.isArray(d)) return false;
  if (
    !isKey(d.apiId) ||
    !isKey(d.name) ||
    !isShort(d.version) ||
    !isShort(d.provider) ||
    !isKey(d.tenantDomain)
  )
    return false;
  const labels = input.labels as unknown;
  if (!Array.isArray(labels) || labels.length === 0) return false;
  for (const l of labels) if (!isKey(l) || l !== l.trim()) return false;
  if (input.instruction !== "Publish" && input.instruction !== "Remove") return false;
  const { artifactJson, files, apiType, origin, sourceCommit } = input;
  if (artifactJson !== undefined && (typeof artifactJson !== "string" || artifactJson.length === 0))
    return false;
  if (files !== undefined) {
    if (!Array.isArray(files) || files.length > 10_000) return false;
    for (const f of files) if (typeof f !== "string" || f.length === 0 || f.length > 1024) return false;
  }
  if (apiType !== undefined && !isKey(apiType)) return false;
  if (origin !== undefined) {
    if (typeof origin !== "object" || origin === null || !isKey(origin.region) || !isPositiveInt(origin.seq))
      return false;
    if (origin.revision !== undefined && !isPositiveInt(origin.revision)) return false;
  }
  if (sourceCommit !== undefined && (typeof sourceCommit !== "string" || !COMMIT.test(sourceCommit)))
    return false;
  return true;
}

/** Parse a SaveArtifactInput at the store's boundary; bad input is GWSYNC_ARTIFACT_INVALID. */
export function parseSaveInput(input: SaveArtifactInput): ParsedSave {
  if (!plainlyValidSave(input)) {
    const r = saveInputSchema.safeParse(input);
    if (!r.success) {
      throw new GwsyncError(
        "GWSYNC_ARTIFACT_INVALID",
        `cannot store the artifact: ${zodReason(r.error, "")}`,
      );
    }
  }
  const artifactJson = input.artifactJson ?? JSON.stringify(input.dto);
  return {
    dto: input.dto,
    apiId: input.dto.apiId,
    labels: [...new Set(input.labels)],
    instruction: input.instruction,
    apiType: input.apiType ?? DEFAULT_API_TYPE,
    artifactJson,
    sha256: sha256Hex(artifactJson),
    origin:
      input.origin === undefined
        ? undefined
        : {
            region: input.origin.region,
            seq: input.origin.seq,
            ...(input.origin.revision === undefined ? {} : { revision: input.origin.revision }),
          },
    files: input.files === undefined ? undefined : [...input.files],
    sourceCommit: input.sourceCommit,
  };
}

const outboxMessageSchema = z.object({
  topic: key(),
  messageId: key(),
  body: z.instanceof(Buffer, { message: "outbox body must be a Buffer" }),
  headers: z.record(z.string(), z.union([z.string(), z.number()])),
});

/** Check outbox rows before they are written; a bad row is a programming error upstream. */
export function parseOutboxMessages(messages: readonly NewOutboxMessage[]): NewOutboxMessage[] {
  // The rows gwsync builds itself pass this hand check (the schema's rules; zod cost ~0.15 ms per
  // publish, B12); anything else goes through the schema, which decides and words the refusal.
  if (Array.isArray(messages) && messages.every(plainlyValidMessage)) return messages.slice();
  const r = z.array(outboxMessageSchema).safeParse(messages);
  if (!r.success) {
    throw new GwsyncError("GWSYNC_EVENT_INVALID", `cannot enqueue the event: ${zodReason(r.error, "")}`);
  }
  return messages.slice();
}

function plainlyValidMessage(m: NewOutboxMessage): boolean {
  if (typeof m !== "object" || m === null) return false;
  if (!isKey(m.topic) || !isKey(m.messageId) || !Buffer.isBuffer(m.body)) return false;
  const h = m.headers as unknown;
  if (
    typeof h !== "object" ||
    h === null ||
    Array.isArray(h) ||
    Object.getPrototypeOf(h) !== Object.prototype
  )
    return false;
  for (const v of Object.values(h)) {
    if (typeof v !== "string" && !(typeof v === "number" && Number.isFinite(v))) return false;
  }
  return true;
}
