import { z } from "zod";
import { parseJsonText } from "../security/json-limits.js";

/** gwsync's own topic (not a WSO2 stream): gateways announce themselves to the control plane. */
export const HEARTBEAT_ROUTING_KEY = "gwsync.heartbeat";
export const MAX_HEARTBEAT_BYTES = 16 * 1024;

export const heartbeatSchema = z.strictObject({
  nodeId: z.string().min(1).max(128),
  region: z.string().min(1).max(128),
  labels: z.array(z.string().max(255)).max(1000),
  appliedSeq: z.number().int().nonnegative(),
  deployed: z.number().int().nonnegative(),
  version: z.string().max(64),
  /** "stopped": the last beat of a gateway that shuts down cleanly (`gwsync status` shows it stopped, not missing). */
  status: z.enum(["starting", "ready", "stale", "stopped"]),
  intervalMs: z.number().int().positive(),
  sentAt: z.number().int().nonnegative(),
});

export type Heartbeat = z.infer<typeof heartbeatSchema>;

/** Parse a heartbeat body; undefined when it is not one (never throws). */
export function decodeHeartbeat(body: Buffer): Heartbeat | undefined {
  if (body.length > MAX_HEARTBEAT_BYTES) return undefined;
  try {
    const r = heartbeatSchema.safeParse(parseJsonText(body.toString("utf8")));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}
