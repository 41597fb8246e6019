import { DEFAULT_MAX_JSON_DEPTH, parseJsonWithin } from "../security/json-limits.js";

/**
 * JSON and base64 helpers that reproduce what WSO2 writes and refuse what it never would.
 */

/** Standard base64 with padding (java.util.Base64 / commons-codec); line breaks of chunked encoders allowed. */
const BASE64_PATTERN = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const LINE_BREAKS = /[\r\n]/g;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Decodes strict base64; undefined when the text is not base64 (Buffer.from would silently skip junk). */
export function decodeBase64(text: string): Buffer | undefined {
  const compact = text.replace(LINE_BREAKS, "");
  if (!BASE64_PATTERN.test(compact)) return undefined;
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
