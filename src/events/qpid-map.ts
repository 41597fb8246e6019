import {
  type JmsMap,
  type JmsValue,
  MAX_MAP_ENTRIES,
  MAX_MAP_KEY_BYTES,
  type MapDecodeResult,
} from "./jms-value.js";
import { decodeUtf8 } from "./wire-json.js";

/**
 * The legacy Qpid 0-x map body, content type `jms/map-message`, as Andes writes and reads it
 * (`JMSMapMessage.writeMapToData` / `populateMapFromData`, `AbstractBytesTypedMessage`): a big-endian
 * int32 entry count, then per entry the key as UTF-8 with a NUL terminator (no type byte) and the value
 * as a one-byte type code followed by its bytes. Strings are UTF-8 with a NUL terminator, so a string
 * holding U+0000 cannot be written; a NULL_STRING type carries null.
 */
export const QPID_TYPE = {
  boolean: 1,
  byte: 2,
  bytes: 3,
  short: 4,
  char: 5,
  int: 6,
  long: 7,
  float: 8,
  double: 9,
  string: 10,
  null: 11,
} as const;

const NUL = 0;

/** Encodes entries in the given order; throws for a value Qpid cannot carry (a NUL inside a string). */
export function encodeQpidMap(map: JmsMap): Buffer {
  const parts: Buffer[] = [int32(map.length)];
  for (const [key, value] of map) {
    if (key === "") throw new RangeError("a map key cannot be empty (JMSMapMessage.checkPropertyName)");
    parts.push(cString(key, "key"), encodeValue(value));
  }
  return Buffer.concat(parts);
}

function encodeValue(v: JmsValue): Buffer {
  switch (v.type) {
    case "boolean":
      return Buffer.from([QPID_TYPE.boolean, v.value ? 1 : 0]);
    case "byte":
      return withType(QPID_TYPE.byte, 1, (b) => b.writeInt8(v.value));
    case "short":
      return withType(QPID_TYPE.short, 2, (b) => b.writeInt16BE(v.value));
    case "char":
      return withType(QPID_TYPE.char, 2, (b) => b.writeUInt16BE(v.value.charCodeAt(0)));
    case "int":
      return withType(QPID_TYPE.int, 4, (b) => b.writeInt32BE(v.value));
    case "long":
      return withType(QPID_TYPE.long, 8, (b) => b.writeBigInt64BE(v.value));
    case "float":
      return withType(QPID_TYPE.float, 4, (b) => b.writeFloatBE(v.value));
    case "double":
      return withType(QPID_TYPE.double, 8, (b) => b.writeDoubleBE(v.value));
    case "string":
      return Buffer.concat([Buffer.from([QPID_TYPE.string]), cString(v.value, "string value")]);
    case "bytes":
      return Buffer.concat([Buffer.from([QPID_TYPE.bytes]), int32(v.value.length), v.value]);
    case "null":
      return Buffer.from([QPID_TYPE.null]);
  }
}

function withType(type: number, width: number, write: (b: Buffer) => void): Buffer {
  const b = Buffer.alloc(width + 1);
  b[0] = type;
  write(b.subarray(1));
  return b;
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

function cString(text: string, what: string): Buffer {
  if (text.includes("\u0000"))
    throw new RangeError(`a ${what} cannot hold U+0000 in a Qpid map (it ends the string)`);
  return Buffer.concat([Buffer.from(text, "utf8"), Buffer.from([NUL])]);
}

/** Decodes a body; never throws. Every length is checked against what is left before it is read. */
export function decodeQpidMap(body: Buffer): MapDecodeResult {
  const r = new Reader(body);
  try {
    const count = r.int32();
    if (count < 0 || count > MAX_MAP_ENTRIES) {
      return fail(`jms/map-message: entry count ${count} is outside 0..${MAX_MAP_ENTRIES}`);
    }
    // Each entry takes at least 3 bytes (empty key's NUL is refused, so 2 + a one-byte value).
    if (count * 3 > r.left)
      return fail(`jms/map-message: ${count} entries cannot fit in ${body.length} bytes`);
    const map: JmsMap = [];
    for (let i = 0; i < count; i++) {
      const key = r.cString(MAX_MAP_KEY_BYTES, "key");
      if (key === "") return fail("jms/map-message: an empty map key");
      map.push([key, r.value()]);
    }
    if (r.left !== 0) return fail(`jms/map-message: ${r.left} bytes after the last entry`);
    return { ok: true, map };
  } catch (err) {
    return fail(`jms/map-message: ${(err as Error).message}`);
  }
}

function fail(reason: string): MapDecodeResult {
  return { ok: false, reason };
}

class Reader {
  #pos = 0;
  readonly #b: Buffer;

  constructor(b: Buffer) {
    this.#b = b;
  }

  get left(): number {
    return this.#b.length - this.#pos;
  }

  #take(n: number, what: string): Buffer {
    if (n > this.left) throw new Error(`${what} needs ${n} bytes, ${this.left} left`);
    const s = this.#b.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return s;
  }

  int32(): number {
    return this.#take(4, "an int").readInt32BE();
  }

  cString(maxBytes: number, what: string): string {
    const end = this.#b.indexOf(NUL, this.#pos);
    if (end === -1) throw new Error(`a ${what} has no NUL terminator`);
    if (end - this.#pos > maxBytes) throw new Error(`a ${what} is over ${maxBytes} bytes`);
    const text = decodeUtf8(this.#take(end - this.#pos, what));
    this.#pos++; // the NUL
    if (text === undefined) throw new Error(`a ${what} is not valid UTF-8`);
    return text;
  }

  value(): JmsValue {
    const type = this.#take(1, "a type code")[0];
    switch (type) {
      case QPID_TYPE.boolean:
        return { type: "boolean", value: this.#take(1, "a boolean")[0] !== 0 };
      case QPID_TYPE.byte:
        return { type: "byte", value: this.#take(1, "a byte").readInt8() };
      case QPID_TYPE.short:
        return { type: "short", value: this.#take(2, "a short").readInt16BE() };
      case QPID_TYPE.char:
        return { type: "char", value: String.fromCharCode(this.#take(2, "a char").readUInt16BE()) };
      case QPID_TYPE.int:
        return { type: "int", value: this.#take(4, "an int").readInt32BE() };
      case QPID_TYPE.long:
        return { type: "long", value: this.#take(8, "a long").readBigInt64BE() };
      case QPID_TYPE.float:
        return { type: "float", value: this.#take(4, "a float").readFloatBE() };
      case QPID_TYPE.double:
        return { type: "double", value: this.#take(8, "a double").readDoubleBE() };
      case QPID_TYPE.string:
        return { type: "string", value: this.cString(Number.MAX_SAFE_INTEGER, "string value") };
      case QPID_TYPE.null:
        return { type: "null" };
      case QPID_TYPE.bytes: {
        const length = this.int32();
        if (length === -1) return { type: "null" };
        if (length < 0) throw new Error(`a byte array has length ${length}`);
        return { type: "bytes", value: Buffer.from(this.#take(length, "a byte array")) };
      }
      default:
        throw new Error(`unknown type code ${type}`);
    }
  }
}
