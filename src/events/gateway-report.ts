import { z } from "zod";
import { parseJsonText } from "../security/json-limits.js";

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

/** Parse a report body; undefined when it is not one (never throws). */
export function decodeGatewayReport(body: Buffer): GatewayReport | undefined {
  if (body.length > MAX_REPORT_BYTES) return undefined;
  try {
    const r = gatewayReportSchema.safeParse(parseJsonText(body.toString("utf8")));
    return r.success && r.data.part <= r.data.parts ? r.data : undefined;
  } catch {
    return undefined;
  }
}
