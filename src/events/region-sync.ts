import { z } from "zod";
import { GwsyncError } from "../errors.js";
import { zodReason } from "../zod-reason.js";
import { REGION_NAME } from "./relay-headers.js";
import { decodeUtf8, parseJson } from "./wire-json.js";

/**
 * `gwsync.region-sync`: an artifact change crossing from its origin region into another region's
 * ingress queue. It carries the artifact itself (the exact stored JSON, so its sha256 is the same in
 * every region) because the receiving region must store it before its gateways hear of it.
 *
 * One message per notification: the API's current state on each label the event named, grouped into
 * changes (labels that share one commit in the origin share instruction, revision and sha256).
 */
export const REGION_SYNC_KIND = "gwsync.region-sync";
export const REGION_SYNC_VERSION = 1;
export const REGION_SYNC_CONTENT_TYPE = "application/vnd.gwsync.region-sync+json";
const MAX_KEY_LENGTH = 255;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const MAX_SIGNATURE_LENGTH = 64 * 1024;

const label = z.string().min(1).max(MAX_KEY_LENGTH);

const changeSchema = z.strictObject({
  labels: z.array(label).min(1).max(1000),
  instruction: z.enum(["Publish", "Remove"]),
  /** The API's revision in the origin region; the receiving store adopts it (older ones are skipped). */
  revision: z.number().int().positive(),
  /** The origin changelog's sequence of this change (highest of its labels): the dedup key. */
  originSeq: z.number().int().positive(),
  sha256: z.string().regex(SHA256_HEX),
  /** The GatewayAPIDTO JSON exactly as the origin stored it. */
  artifact: z.string().min(2),
  /** The origin relay's signature of this change (src/security/signing.ts), when it has a key. */
  signature: z.string().max(MAX_SIGNATURE_LENGTH).optional(),
});

const messageSchema = z.strictObject({
  kind: z.literal(REGION_SYNC_KIND),
  version: z.literal(REGION_SYNC_VERSION),
  origin: z.string().regex(REGION_NAME).max(MAX_KEY_LENGTH),
  /** The eventId of the notification that triggered it (logs, tracing). */
  eventId: z.string().min(1).max(MAX_KEY_LENGTH),
  apiId: z.string().min(1).max(MAX_KEY_LENGTH),
  changes: z.array(changeSchema).min(1).max(1000),
});

export type RegionSyncChange = z.infer<typeof changeSchema>;
export type RegionSyncMessage = z.infer<typeof messageSchema>;

export function encodeRegionSync(m: Omit<RegionSyncMessage, "kind" | "version">): Buffer {
  const message: RegionSyncMessage = { kind: REGION_SYNC_KIND, version: REGION_SYNC_VERSION, ...m };
  return Buffer.from(JSON.stringify(message), "utf8");
}

/**
 * Parses a region-sync body (size-capped first). Throws GWSYNC_EVENT_TOO_LARGE or GWSYNC_EVENT_INVALID
 * naming the field; a message that fails here can never become valid, so it is dead-lettered.
 */
export function decodeRegionSync(body: Buffer, maxBytes: number): RegionSyncMessage {
  if (body.length > maxBytes) {
    throw new GwsyncError(
      "GWSYNC_EVENT_TOO_LARGE",
      `region-sync message is ${body.length} bytes, over the ${maxBytes}-byte limit ([gwsync] max_message_bytes)`,
    );
  }
  const text = decodeUtf8(body);
  const json = text === undefined ? undefined : parseJson(text);
  if (!json?.ok) throw new GwsyncError("GWSYNC_EVENT_INVALID", "region-sync message is not UTF-8 JSON");
  const r = messageSchema.safeParse(json.value);
  if (!r.success) {
    throw new GwsyncError(
      "GWSYNC_EVENT_INVALID",
      `region-sync message is invalid: ${zodReason(r.error, "")}`,
    );
  }
  return r.data;
}
