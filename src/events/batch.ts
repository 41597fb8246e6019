import { z } from "zod";
import { zodReason } from "../zod-reason.js";
import { decodeEventValue, parseBody, tooLarge } from "./decode.js";
import { isTopic, RUNTIME_TOPICS } from "./topics.js";
import type { DecodeFailureCode, DecodeResult } from "./types.js";

/**
 * gwsync's batch of runtime-stream events (opt-in: `[gwsync] batch_runtime_events`). One AMQP message
 * carries many events of one stream, each exactly as WSO2 would put it alone on the wire, with its own
 * event id and timestamp:
 *
 *   {"gwsyncBatch":1,"events":[{"id":"<eventId>","ts":<ms>,"body":{"event":{"payloadData":{...}}}}, ...]}
 *
 * The message carries HEADER_BATCH (the count) and CONTENT_TYPE_BATCH. A broker routes, stores and
 * acknowledges one message instead of hundreds: that is what lifts token revocations past the broker's
 * per-message rate (BENCHMARKS.md, B4). WSO2's own consumers cannot read it, so it is off by default and
 * only the three flat runtime streams are ever batched; a lone event always goes out in WSO2's format.
 */
export const HEADER_BATCH = "x-gwsync-batch";
export const CONTENT_TYPE_BATCH = "application/vnd.gwsync.batch+json";
export const BATCH_VERSION = 1;
/** Largest number of events one batch may carry. */
export const MAX_BATCH_EVENTS = 10_000;

/** The runtime streams' events may share a message (notifications never: each is a deploy). */
export function isBatchable(topic: string): boolean {
  return (RUNTIME_TOPICS as readonly string[]).includes(topic);
}

/** One event of a batch: its id, timestamp and WSO2 body (UTF-8 JSON). */
export interface BatchPart {
  messageId: string;
  timestamp: number;
  body: Buffer;
}

const PREFIX = Buffer.from(`{"gwsyncBatch":${BATCH_VERSION},"events":[`);
const SUFFIX = Buffer.from("]}");

/** Bytes a batch adds around its parts' bodies (for the size cap of the sender). */
export function batchOverheadBytes(part: Pick<BatchPart, "messageId">): number {
  return `{"id":${JSON.stringify(part.messageId)},"ts":0000000000000,"body":},`.length;
}

export function batchEnvelopeBytes(): number {
  return PREFIX.length + SUFFIX.length;
}

/** Splices the parts' bodies (already valid JSON) into one batch body, without re-encoding them. */
export function encodeBatch(parts: readonly BatchPart[]): Buffer {
  const chunks: Buffer[] = [PREFIX];
  parts.forEach((p, i) => {
    chunks.push(
      Buffer.from(
        `${i > 0 ? "," : ""}{"id":${JSON.stringify(p.messageId)},"ts":${Math.trunc(p.timestamp)},"body":`,
      ),
    );
    chunks.push(p.body, Buffer.from("}"));
  });
  chunks.push(SUFFIX);
  return Buffer.concat(chunks);
}

const batchSchema = z.strictObject({
  gwsyncBatch: z.literal(BATCH_VERSION),
  events: z
    .array(
      z.strictObject({
        id: z.string().min(1).max(256),
        ts: z.number().int().nonnegative(),
        body: z.unknown(),
      }),
    )
    .min(1)
    .max(MAX_BATCH_EVENTS),
});

/** One decoded part: the event (or why it is invalid) and its original body, for a dead-letter copy. */
export interface DecodedPart {
  messageId: string;
  timestamp: number;
  result: DecodeResult;
  body: () => Buffer;
}

export type BatchDecodeResult =
  | { ok: true; parts: DecodedPart[] }
  | { ok: false; code: DecodeFailureCode; reason: string; limit?: string };

/**
 * Decodes a batch message of `topic`. The envelope must be valid as a whole (else the message is
 * refused); each part is then decoded and validated on its own, so one bad event is dead-lettered
 * alone while the others are applied. Never throws.
 */
export function decodeBatch(
  topic: string,
  body: Buffer,
  options: { maxBytes?: number; maxJsonDepth?: number } = {},
): BatchDecodeResult {
  try {
    const large = tooLarge(body, `${topic.slice(0, 64)} batch`, options.maxBytes);
    if (large) return large;
    if (!isTopic(topic) || !isBatchable(topic)) {
      return invalid(`routing key ${JSON.stringify(topic.slice(0, 64))} cannot carry a gwsync batch`);
    }
    const json = parseBody(body, `${topic} batch`, options.maxJsonDepth);
    if (!json.ok) return json;
    const batch = batchSchema.safeParse(json.value);
    if (!batch.success) return invalid(`${topic} batch: ${zodReason(batch.error, "(batch)")}`);
    const parts = batch.data.events.map((e): DecodedPart => {
      const r = decodeEventValue(topic, e.body, {
        messageId: e.id,
        ...(options.maxJsonDepth === undefined ? {} : { maxJsonDepth: options.maxJsonDepth }),
      });
      // The part's own eventId must be the id it travels under: dedup keys on it.
      const result: DecodeResult =
        r.ok && r.event.eventId !== e.id
          ? {
              ok: false,
              code: "GWSYNC_EVENT_INVALID",
              reason: `${topic}: batch id ${JSON.stringify(e.id.slice(0, 64))} differs from the event's eventId`,
            }
          : r;
      return { messageId: e.id, timestamp: e.ts, result, body: () => Buffer.from(JSON.stringify(e.body)) };
    });
    return { ok: true, parts };
  } catch (err) {
    return invalid(
      `${topic.slice(0, 64)} batch: could not be decoded (${err instanceof Error ? err.name : "unknown error"})`,
    );
  }
}

function invalid(reason: string): BatchDecodeResult {
  return { ok: false, code: "GWSYNC_EVENT_INVALID", reason };
}
