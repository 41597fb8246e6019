import { z } from "zod";

/**
 * zod field builders for deployment.toml values. WSO2 writes many values as strings ("true", "15000",
 * "2.0"), so each builder coerces the string form first; every message reads after the key name:
 * `<key> must be a whole number, got "abc"`.
 */

const MAX_ECHO = 60;
const NUMERIC = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** How a value is quoted in a message; secrets show only their type so messages can be logged. */
export function describeValue(value: unknown, secret = false): string {
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return "a list";
  if (value instanceof Date) return "a date";
  if (value === null || typeof value === "object") return "a table";
  if (secret) return `a ${typeof value}`;
  if (typeof value === "string") {
    return JSON.stringify(value.length > MAX_ECHO ? `${value.slice(0, MAX_ECHO)}…` : value);
  }
  return String(value);
}

export function got(value: unknown, secret = false): string {
  return `got ${describeValue(value, secret)}`;
}

function toNumber(value: unknown): unknown {
  return typeof value === "string" && NUMERIC.test(value.trim()) ? Number(value.trim()) : value;
}

function toBoolean(value: unknown): unknown {
  if (typeof value !== "string") return value;
  const t = value.trim().toLowerCase();
  return t === "true" ? true : t === "false" ? false : value;
}

/** Numbers written where text is expected (node_id = 7) are taken as their text, as WSO2 does. */
function toText(value: unknown): unknown {
  return typeof value === "number" || typeof value === "bigint" ? String(value) : value;
}

/** A list may also come as one comma-separated string (the environment's form). */
function toList(value: unknown): unknown {
  return typeof value === "string"
    ? value
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "")
    : value;
}

export function bool() {
  return z.preprocess(toBoolean, z.boolean({ error: (iss) => `must be true or false, ${got(iss.input)}` }));
}

/** A whole number in [min, max]; `unit` is said in messages (" ms", " bytes"). */
export function int(min: number, max = Number.MAX_SAFE_INTEGER, unit = "") {
  const whole = (iss: { input?: unknown }) =>
    `must be a whole number${unit === "" ? "" : ` of${unit}`}, ${got(iss.input)}`;
  return z.preprocess(
    toNumber,
    z
      .number({ error: whole })
      .int({ error: whole })
      .min(min, { error: (iss) => `must be at least ${min}${unit}, ${got(iss.input)}` })
      .max(max, { error: (iss) => `must be at most ${max}${unit}, ${got(iss.input)}` }),
  );
}

export function num(min: number, max: number) {
  return z.preprocess(
    toNumber,
    z
      .number({ error: (iss) => `must be a number, ${got(iss.input)}` })
      .min(min, { error: (iss) => `must be at least ${min}, ${got(iss.input)}` })
      .max(max, { error: (iss) => `must be at most ${max}, ${got(iss.input)}` }),
  );
}

/** Non-empty text, trimmed. */
export function text() {
  return z.preprocess(
    toText,
    z
      .string({ error: (iss) => `must be a string, ${got(iss.input)}` })
      .trim()
      .min(1, { error: "must not be empty" }),
  );
}

/** Text matching a pattern; `rule` says in words what is allowed. */
export function name(pattern: RegExp, rule: string) {
  return z.preprocess(
    toText,
    z
      .string({ error: (iss) => `must be a string, ${got(iss.input)}` })
      .trim()
      .regex(pattern, { error: (iss) => `must ${rule}, ${got(iss.input)}` }),
  );
}

/** A password: any text (spaces kept); messages never echo it. */
export function secret() {
  return z.preprocess(toText, z.string({ error: (iss) => `must be a string, ${got(iss.input, true)}` }));
}

export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  const quoted = values.map((v) => JSON.stringify(v));
  const list = quoted.length === 1 ? quoted[0] : `${quoted.slice(0, -1).join(", ")} or ${quoted.at(-1)}`;
  return z.enum(values, { error: (iss) => `must be ${list}, ${got(iss.input)}` });
}

export function list<T extends z.ZodType>(item: T) {
  return z.preprocess(toList, z.array(item, { error: (iss) => `must be a list, ${got(iss.input)}` }));
}

export const TABLE_ERROR = { error: (iss: { input?: unknown }) => `must be a table, ${got(iss.input)}` };
