import { DEFAULT_MAX_JSON_DEPTH, parseJsonWithin } from "../security/json-limits.js";

/**
 * JSON and base64 helpers that reproduce what WSO2 writes and refuse what it never would.
 */

const LINE_BREAKS = /[\r\n]/g;
const NOT_BASE64_ALPHABET = /[^A-Za-z0-9+/]/;
const EQUALS = 0x3d;

/**
 * Standard base64 with padding (java.util.Base64 / commons-codec): whole 4-character groups of the
 * alphabet, the last one ending in `==` or `=` at most. What
 * `/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/` accepts (the pattern used before,
 * which backtracked through every 4-character group: ~0.1 ms of a gateway's CPU per 7 KB event under
 * B1's load, issue 19), with one scan of the alphabet (test/unit/events-base64.test.ts compares them).
 */
export function isStrictBase64(text: string): boolean {
  const n = text.length;
  if (n % 4 !== 0) return false;
  let end = n;
  if (n > 0 && text.charCodeAt(n - 1) === EQUALS) end = text.charCodeAt(n - 2) === EQUALS ? n - 2 : n - 1;
  return !NOT_BASE64_ALPHABET.test(end === n ? text : text.slice(0, end));
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Decodes strict base64; undefined when the text is not base64 (Buffer.from would silently skip junk). */
export function decodeBase64(text: string): Buffer | undefined {
  // Line breaks of chunked encoders are allowed.
  const compact = text.includes("\n") || text.includes("\r") ? text.replace(LINE_BREAKS, "") : text;
  if (!isStrictBase64(compact)) return undefined;
  return Buffer.from(compact, "base64");
}

/** UTF-8 text of bytes, or undefined when they are not valid UTF-8. */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** JSON.parse without throwing; text nested deeper than `maxDepth` is refused unparsed (tooDeep). */
export function parseJson(
  text: string,
  maxDepth = DEFAULT_MAX_JSON_DEPTH,
): { ok: true; value: unknown } | { ok: false; tooDeep?: boolean } {
  const r = parseJsonWithin(text, maxDepth);
  return r.ok ? r : { ok: false, tooDeep: r.tooDeep };
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * `new Gson().toJson(x)`: html-safe escaping of < > & = ' and the JS line separators, nulls dropped at the
 * top level. These characters only ever occur inside JSON strings, so escaping the whole text is safe.
 */
const GSON_ESCAPES: Record<string, string> = {
  "<": "\\u003c",
  ">": "\\u003e",
  "&": "\\u0026",
  "=": "\\u003d",
  "'": "\\u0027",
  "\u2028": "\\u2028",
  "\u2029": "\\u2029",
};
const GSON_ESCAPED = /[<>&='\u2028\u2029]/g;

export function gsonJson(value: Record<string, unknown>): string {
  // Null prototype: a received "__proto__" key stays a plain field instead of replacing the prototype.
  const withoutNulls: Record<string, unknown> = Object.create(null);
  for (const [key, field] of Object.entries(value)) {
    if (field !== null && field !== undefined) withoutNulls[key] = field;
  }
  return JSON.stringify(withoutNulls).replace(GSON_ESCAPED, (ch) => GSON_ESCAPES[ch] ?? ch);
}

/** Base64 of the UTF-8 JSON of a value (keyManager.value, custom revocation tokens). */
export function base64Json(value: unknown): string {
  return Buffer.from(JSON.stringify(value), "utf8").toString("base64");
}
