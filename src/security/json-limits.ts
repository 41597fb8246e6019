/**
 * Depth limit for JSON read from outside (the broker, HTTP bodies, data-API replies, state files).
 * V8's JSON.parse copes with any nesting, but JSON.stringify, zod and every recursive walk after it do
 * not: a key-manager config 20,000 levels deep overflowed the stack of each later save and every GET of
 * it. The text is measured before it is parsed, so nothing deeper than the limit ever becomes a value.
 */

/** WSO2's deepest payloads nest fewer than 10 levels. */
export const DEFAULT_MAX_JSON_DEPTH = 64;

/**
 * The end of a JSON string that started just before lastIndex: a quote not preceded by an escape. The
 * loop is unrolled (runs of plain characters, then one escape): it matches what `(?:[^"\\]|\\.)*"` does,
 * without a backtracking entry per character — a 5 KB artifact inside a JSON string took ~30 µs that way
 * on every gateway, for every fetched or inline artifact (issue 19).
 */
const STRING_END = /[^"\\]*(?:\\.[^"\\]*)*"/y;

const QUOTE = 0x22;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/**
 * The nesting depth of a JSON text ({ or [ open a level), stopping as soon as it passes `limit`.
 * Linear in the text; strings are skipped whole, so brackets inside them do not count. Malformed text
 * gets some depth too: JSON.parse refuses it afterwards. Outside strings it reads character codes (a
 * regex `exec` per bracket and quote allocated a match array each: ~0.8 µs of a gateway's CPU per
 * 200-byte token revocation, more than its JSON.parse, issue 19 B4; now ~0.4 µs); the string scan is
 * the same sticky regex as before (test/unit/decode-fast-paths.test.ts holds it to the old scan).
 */
export function jsonDepth(text: string, limit = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let max = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const ch = text.charCodeAt(i);
    if (ch === QUOTE) {
      STRING_END.lastIndex = i + 1;
      if (!STRING_END.test(text)) break; // unterminated string: malformed, JSON.parse says so
      i = STRING_END.lastIndex - 1;
    } else if (ch === OPEN_BRACE || ch === OPEN_BRACKET) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > limit) break;
      }
    } else if (ch === CLOSE_BRACE || ch === CLOSE_BRACKET) depth--;
  }
  STRING_END.lastIndex = 0;
  return max;
}

/** True when the JSON text nests deeper than `maxDepth`. */
export function tooDeep(text: string, maxDepth = DEFAULT_MAX_JSON_DEPTH): boolean {
  return jsonDepth(text, maxDepth) > maxDepth;
}

export type LimitedParse = { ok: true; value: unknown } | { ok: false; tooDeep: boolean; reason: string };

/** JSON.parse that refuses text nested deeper than `maxDepth` before parsing it; never throws. */
export function parseJsonWithin(text: string, maxDepth = DEFAULT_MAX_JSON_DEPTH): LimitedParse {
  if (tooDeep(text, maxDepth)) {
    return { ok: false, tooDeep: true, reason: `JSON nests deeper than ${maxDepth} levels (max_json_depth)` };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, tooDeep: false, reason: (err as Error).message };
  }
}

/** JSON nested deeper than its limit; `limit` names the configuration key for the alarm metric. */
export class JsonTooDeepError extends Error {
  readonly limit = "max_json_depth";
  constructor(maxDepth: number) {
    super(`JSON nests deeper than ${maxDepth} levels (max_json_depth)`);
    this.name = "JsonTooDeepError";
  }
}

/** JSON.parse that first refuses text nested deeper than `maxDepth` (JsonTooDeepError); throws as JSON.parse does. */
export function parseJsonText(text: string, maxDepth = DEFAULT_MAX_JSON_DEPTH): unknown {
  if (tooDeep(text, maxDepth)) throw new JsonTooDeepError(maxDepth);
  return JSON.parse(text);
}

/**
 * An object as JSON.parse makes it (Object.prototype, no own "__proto__" member): the only kind the
 * decoders' zod-free fast paths take; anything else goes to the schema, which accepts or words the
 * refusal (issue 19).
 */
export function isJsonRecord(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    Object.getPrototypeOf(value) === Object.prototype &&
    !Object.hasOwn(value, "__proto__")
  );
}
