import { z } from "zod";
import { HEADER_HOPS, HEADER_ORIGIN } from "./topics.js";
import { HEADER_JMS_DESTTYPE } from "./wire-format.js";

/** A region name is a file name: it also lands in AMQP headers and log lines. */
export const REGION_NAME = /^[A-Za-z0-9._-]+$/;

/** Where an event comes from and how many region boundaries it crossed. */
export interface RelayFacts {
  origin: string;
  hops: number;
}

/** No sane mesh is this deep; a larger value is a forged or corrupt header. */
const MAX_HOPS_VALUE = 64;

const originSchema = z.string().regex(REGION_NAME).max(255);
// amqplib returns numbers for numeric headers, but a Java/JMS producer may have written a string.
const hopsSchema = z.coerce.number().int().min(0).max(MAX_HOPS_VALUE);

/**
 * Reads x-gwsync-origin and x-gwsync-hops. Messages from WSO2 itself carry neither: they were born
 * here (origin = the local region, hops 0). A malformed header is treated as missing, except hops,
 * which then counts as "too far" so a corrupt message can never loop.
 */
export function readRelayFacts(
  headers: Record<string, unknown> | undefined,
  localRegion: string,
): RelayFacts {
  const h = headers ?? {};
  const origin = originSchema.safeParse(h[HEADER_ORIGIN]);
  const rawHops = h[HEADER_HOPS];
  let hops = 0;
  if (rawHops !== undefined && rawHops !== null) {
    const parsed = hopsSchema.safeParse(typeof rawHops === "object" ? String(rawHops) : rawHops);
    hops = parsed.success ? parsed.data : MAX_HOPS_VALUE;
  }
  return { origin: origin.success ? origin.data : localRegion, hops };
}

/** Why a message is not forwarded to a remote region, or undefined when it is. */
export function skipReason(facts: RelayFacts, remote: string, maxHops: number): string | undefined {
  if (facts.hops >= maxHops) return "hops";
  if (facts.origin === remote) return "origin";
  return undefined;
}

/**
 * The headers a forwarded message carries: every original one, the origin kept, one more hop. amqplib
 * reads header integers as plain numbers and writes them in the smallest type that holds them, so the
 * one header a WSO2 consumer reads by type (JMS_QPID_DESTTYPE, a 32-bit int for Andes'
 * `FieldTable.getInteger`) is written back as an int.
 */
export function forwardHeaders(
  headers: Record<string, unknown> | undefined,
  facts: RelayFacts,
): Record<string, unknown> {
  const out: Record<string, unknown> = {
    ...(headers ?? {}),
    [HEADER_ORIGIN]: facts.origin,
    [HEADER_HOPS]: facts.hops + 1,
  };
  const destType = out[HEADER_JMS_DESTTYPE];
  if (typeof destType === "number" && Number.isInteger(destType))
    out[HEADER_JMS_DESTTYPE] = { "!": "int", value: destType };
  return out;
}
