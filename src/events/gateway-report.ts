import { z } from "zod";
import { isJsonRecord, parseJsonText } from "../security/json-limits.js";

/**
 * gwsync's own topic (not a WSO2 stream): each gateway tells the control plane, per API, what it serves
 * (revision, sha256) and the last artifact it refused (revision, reason code, message, time). A full
 * snapshot goes out on every connect and every REPORT_FULL_EVERY heartbeats, in parts; between them,
 * deltas name only the APIs that changed. The publisher records it as a report, never as authority.
 */
export const REPORT_ROUTING_KEY = "gwsync.report";
/** APIs per report message: a full snapshot of 10,000 APIs is 40 messages. */
export const MAX_REPORT_ENTRIES = 250;
/** Refusal messages are cut to this many characters (the gateway's log has the whole line). */
export const MAX_REFUSAL_MESSAGE = 512;
/** 250 entries of an API id, a sha256 and a 512-character message fit with room to spare. */
export const MAX_REPORT_BYTES = 512 * 1024;

const refusalSchema = z.object({
  revision: z.number().int().nonnegative(),
  code: z.string().min(1).max(64),
  message: z.string().max(MAX_REFUSAL_MESSAGE),
  at: z.number().int().nonnegative(),
  /** Refused since the previous report (counted once by the publisher: gwsync_rollout_refused_total). */
  fresh: z.boolean().optional(),
});

export const reportEntrySchema = z.object({
  apiId: z.string().min(1).max(255),
  /** What the gateway serves of this API; absent when nothing. */
  served: z
    .object({ revision: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/) })
    .optional(),
  refusal: refusalSchema.optional(),
});

export const gatewayReportSchema = z.object({
  nodeId: z.string().min(1).max(128),
  /** Random per gateway process: the stream's sequence numbers start again with each boot. */
  boot: z.string().min(1).max(64),
  /** 1, 2, 3, ... per message of this boot: a gap means a lost message. */
  seq: z.number().int().positive(),
  kind: z.enum(["full", "delta"]),
  /** A full snapshot's part (1-based) and number of parts; a delta is part 1 of 1. */
  part: z.number().int().positive(),
  parts: z.number().int().positive().max(100_000),
  /** The gateway's counts when it sent this: APIs served, refusals it keeps. */
  served: z.number().int().nonnegative(),
  refused: z.number().int().nonnegative(),
  apis: z.array(reportEntrySchema).max(MAX_REPORT_ENTRIES),
  sentAt: z.number().int().nonnegative(),
});

export type GatewayReport = z.infer<typeof gatewayReportSchema>;
export type ReportEntry = z.infer<typeof reportEntrySchema>;
export type ReportRefusal = z.infer<typeof refusalSchema>;

const SHA256 = /^[0-9a-f]{64}$/;
const count = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const positive = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;
const text = (v: unknown, min: number, max: number): v is string =>
  typeof v === "string" && v.length >= min && v.length <= max;

function plainRefusal(v: unknown): ReportRefusal | undefined {
  if (!isJsonRecord(v)) return undefined;
  const { revision, code, message, at, fresh } = v;
  if (!count(revision) || !text(code, 1, 64) || !text(message, 0, MAX_REFUSAL_MESSAGE) || !count(at))
    return undefined;
  if (typeof fresh === "boolean") return { revision, code, message, at, fresh };
  // Absent, or the schema's to answer (another type, or present but undefined: not from JSON).
  return fresh === undefined && !Object.hasOwn(v, "fresh") ? { revision, code, message, at } : undefined;
}

function plainEntry(v: unknown): ReportEntry | undefined {
  if (!isJsonRecord(v)) return undefined;
  const { apiId, served, refusal } = v;
  if (!text(apiId, 1, 255)) return undefined;
  // A member present but undefined (not from JSON) is the schema's to answer.
  if (
    (served === undefined && Object.hasOwn(v, "served")) ||
    (refusal === undefined && Object.hasOwn(v, "refusal"))
  )
    return undefined;
  const entry: ReportEntry = { apiId };
  if (served !== undefined) {
    if (!isJsonRecord(served)) return undefined;
    const { revision, sha256 } = served;
    if (!count(revision) || typeof sha256 !== "string" || !SHA256.test(sha256)) return undefined;
    entry.served = { revision, sha256 };
  }
  if (refusal !== undefined) {
    const r = plainRefusal(refusal);
    if (r === undefined) return undefined;
    entry.refusal = r;
  }
  return entry;
}

/**
 * gatewayReportSchema's answer for the plain case, without zod (issue 19: the publisher decodes a
 * report from every gateway every ~200 ms while artifacts change; with zod that was a third of the
 * publisher's zod time in B1's profile). Members of their types give the schema's output (unknown
 * members dropped); anything else answers undefined and goes to the schema, which decides as before
 * (test/unit/decode-fast-paths.test.ts compares the two).
 */
export function plainGatewayReport(v: unknown): GatewayReport | undefined {
  if (!isJsonRecord(v)) return undefined;
  const { nodeId, boot, seq, kind, part, parts, served, refused, apis, sentAt } = v;
  if (
    !text(nodeId, 1, 128) ||
    !text(boot, 1, 64) ||
    !positive(seq) ||
    (kind !== "full" && kind !== "delta") ||
    !positive(part) ||
    !positive(parts) ||
    parts > 100_000 ||
    !count(served) ||
    !count(refused) ||
    !Array.isArray(apis) ||
    apis.length > MAX_REPORT_ENTRIES ||
    !count(sentAt)
  )
    return undefined;
  const entries: ReportEntry[] = [];
  for (const a of apis) {
    const e = plainEntry(a);
    if (e === undefined) return undefined;
    entries.push(e);
  }
  return { nodeId, boot, seq, kind, part, parts, served, refused, apis: entries, sentAt };
}

/** Parse a report body; undefined when it is not one (never throws). */
export function decodeGatewayReport(body: Buffer): GatewayReport | undefined {
  if (body.length > MAX_REPORT_BYTES) return undefined;
  try {
    const value = parseJsonText(body.toString("utf8"));
    const fast = plainGatewayReport(value);
    if (fast !== undefined) return fast.part <= fast.parts ? fast : undefined;
    const r = gatewayReportSchema.safeParse(value);
    return r.success && r.data.part <= r.data.parts ? r.data : undefined;
  } catch {
    return undefined;
  }
}
