/**
 * The values of a JMS MapMessage with their Java types. The 3.2.0 listeners cast what they read
 * (`(Long) map.get("timestamp")`, `(Boolean) map.get("enabled")`), so the type on the wire matters as
 * much as the value: gwsync writes each stream field in the type of its CEP stream definition.
 */
export type JmsValue =
  | { type: "boolean"; value: boolean }
  | { type: "byte" | "short" | "int" | "float" | "double"; value: number }
  | { type: "long"; value: bigint }
  | { type: "char"; value: string }
  | { type: "string"; value: string }
  | { type: "bytes"; value: Buffer }
  | { type: "null" };

/** A map message's entries in wire order (Java's HashMap has none; the order carries no meaning). */
export type JmsMap = [key: string, value: JmsValue][];

/** Limits every map decoder applies before allocating anything (a WSO2 stream has at most 17 fields). */
export const MAX_MAP_ENTRIES = 1024;
/** Longest map key, UTF-8 bytes (AMQP 0-10 keys are str8: 255). */
export const MAX_MAP_KEY_BYTES = 255;

export type MapDecodeResult = { ok: true; map: JmsMap } | { ok: false; reason: string };

export const string = (value: string): JmsValue => ({ type: "string", value });
export const long = (value: number | bigint): JmsValue => ({ type: "long", value: BigInt(value) });
export const int = (value: number): JmsValue => ({ type: "int", value });
export const boolean = (value: boolean): JmsValue => ({ type: "boolean", value });
export const NULL: JmsValue = { type: "null" };

/**
 * The map as a JSON object (what the 4.x envelope's payloadData would hold), or why it cannot be one:
 * a long beyond 2^53, a byte array, a duplicate key.
 */
export function mapToJson(
  map: JmsMap,
): { ok: true; value: Record<string, unknown> } | { ok: false; reason: string } {
  const out: Record<string, unknown> = Object.create(null);
  for (const [key, v] of map) {
    if (Object.hasOwn(out, key)) return { ok: false, reason: `map key ${JSON.stringify(key)} appears twice` };
    switch (v.type) {
      case "null":
        out[key] = null;
        break;
      case "long": {
        const n = Number(v.value);
        if (!Number.isSafeInteger(n)) {
          return { ok: false, reason: `map value ${JSON.stringify(key)} (${v.value}) is beyond 2^53` };
        }
        out[key] = n;
        break;
      }
      case "bytes":
        return {
          ok: false,
          reason: `map value ${JSON.stringify(key)} is a byte array; no WSO2 stream has one`,
        };
      default:
        out[key] = v.value;
    }
  }
  return { ok: true, value: { ...out } };
}
