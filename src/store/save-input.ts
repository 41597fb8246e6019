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

/** Parse a SaveArtifactInput at the store's boundary; bad input is GWSYNC_ARTIFACT_INVALID. */
export function parseSaveInput(input: SaveArtifactInput): ParsedSave {
  const r = saveInputSchema.safeParse(input);
  if (!r.success) {
    throw new GwsyncError("GWSYNC_ARTIFACT_INVALID", `cannot store the artifact: ${zodReason(r.error, "")}`);
  }
  const artifactJson = input.artifactJson ?? JSON.stringify(input.dto);
  return {
    dto: input.dto,
    apiId: r.data.dto.apiId,
    labels: [...new Set(r.data.labels)],
    instruction: r.data.instruction,
    apiType: r.data.apiType ?? DEFAULT_API_TYPE,
    artifactJson,
    sha256: sha256Hex(artifactJson),
    origin: r.data.origin,
    files: r.data.files,
    sourceCommit: r.data.sourceCommit,
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
  const r = z.array(outboxMessageSchema).safeParse(messages);
  if (!r.success) {
    throw new GwsyncError("GWSYNC_EVENT_INVALID", `cannot enqueue the event: ${zodReason(r.error, "")}`);
  }
  return messages.slice();
}
