import {
  type JmsMap,
  type JmsValue,
  MAX_MAP_ENTRIES,
  MAX_MAP_KEY_BYTES,
  type MapDecodeResult,
} from "./jms-value.js";
import { decodeUtf8 } from "./wire-json.js";

/**
 * The AMQP 0-10 map body, content type `amqp/map`: what the Andes client's `session.createMapMessage()`
 * produces unless the connection asks for the legacy format (`AMQSession.USE_AMQP_ENCODED_MAP_MESSAGE`,
 * `AMQPEncodedMapMessage.writeMapToData` → `BBEncoder.writeMap`). Layout: uint32 size of what follows,
 * uint32 entry count, then per entry a str8 key, a one-byte type code and the value. Type codes are
 * those of the AMQP 0-10 spec (`amqp.0-10-qpid-errata.xml`); `AbstractEncoder.ENCODINGS` maps Java's
 * String to str32, Long to int64, Integer to int32, Boolean to boolean and null to void.
 */
export const AMQP_TYPE = {
  bin8: 0x00,
  int8: 0x01,
  uint8: 0x02,
  char: 0x04,
  boolean: 0x08,
  int16: 0x11,
  uint16: 0x12,
  int32: 0x21,
  uint32: 0x22,
  float: 0x23,
  int64: 0x31,
  uint64: 0x32,
  double: 0x33,
  datetime: 0x38,
  uuid: 0x48,
  vbin8: 0x80,
  str8: 0x85,
  vbin16: 0x90,
  str16: 0x95,
  str32: 0x98,
  vbin32: 0xa0,
  map: 0xa8,
  list: 0xa9,
  array: 0xaa,
  void: 0xf0,
} as const;

/** Encodes entries as BBEncoder would write Java values of these types. */
export function encodeAmqpMap(map: JmsMap): Buffer {
  const parts: Buffer[] = [u32(map.length)];
  for (const [key, value] of map) {
    const k = Buffer.from(key, "utf8");
    if (k.length > MAX_MAP_KEY_BYTES)
      throw new RangeError(`map key of ${k.length} bytes is over the str8 limit`);
    parts.push(Buffer.from([k.length]), k, encodeValue(value));
  }
  const body = Buffer.concat(parts);
  return Buffer.concat([u32(body.length), body]);
}

function encodeValue(v: JmsValue): Buffer {
  switch (v.type) {
    case "boolean":
      return Buffer.from([AMQP_TYPE.boolean, v.value ? 1 : 0]);
    case "byte":
      return typed(AMQP_TYPE.int8, 1, (b) => b.writeInt8(v.value));
    case "short":
      return typed(AMQP_TYPE.int16, 2, (b) => b.writeInt16BE(v.value));
    case "char":
      // AbstractEncoder writes a Character as its low byte (CHAR is one iso-8859-15 octet).
      return Buffer.from([AMQP_TYPE.char, v.value.charCodeAt(0) & 0xff]);
    case "int":
      return typed(AMQP_TYPE.int32, 4, (b) => b.writeInt32BE(v.value));
    case "long":
      return typed(AMQP_TYPE.int64, 8, (b) => b.writeBigInt64BE(v.value));
    case "float":
      return typed(AMQP_TYPE.float, 4, (b) => b.writeFloatBE(v.value));
    case "double":
      return typed(AMQP_TYPE.double, 8, (b) => b.writeDoubleBE(v.value));
    case "string": {
      const s = Buffer.from(v.value, "utf8");
      return Buffer.concat([Buffer.from([AMQP_TYPE.str32]), u32(s.length), s]);
    }
    case "bytes":
      return Buffer.concat([Buffer.from([AMQP_TYPE.vbin32]), u32(v.value.length), v.value]);
    case "null":
      return Buffer.from([AMQP_TYPE.void]);
  }
}

function typed(code: number, width: number, write: (b: Buffer) => void): Buffer {
  const b = Buffer.alloc(width + 1);
  b[0] = code;
  write(b.subarray(1));
  return b;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/**
 * Decodes a body; never throws. Scalars of every 0-10 type a Java map value can have are read; nested
 * maps, lists and arrays are refused (no WSO2 stream carries one). A size of 0 is Java's null map.
 */
export function decodeAmqpMap(body: Buffer): MapDecodeResult {
  const r = new Reader(body);
  try {
    const size = r.u32();
    if (size !== r.left) return fail(`amqp/map: size says ${size} bytes, ${r.left} follow`);
    if (size === 0) return { ok: true, map: [] };
    const count = r.u32();
    if (count > MAX_MAP_ENTRIES) return fail(`amqp/map: entry count ${count} is over ${MAX_MAP_ENTRIES}`);
    if (count * 3 > r.left) return fail(`amqp/map: ${count} entries cannot fit in ${body.length} bytes`);
    const map: JmsMap = [];
    for (let i = 0; i < count; i++) {
      const key = r.text(r.take(1, "a key length")[0]!, "key");
      map.push([key, r.value()]);
    }
    if (r.left !== 0) return fail(`amqp/map: ${r.left} bytes after the last entry`);
    return { ok: true, map };
  } catch (err) {
    return fail(`amqp/map: ${(err as Error).message}`);
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

  take(n: number, what: string): Buffer {
    if (n > this.left) throw new Error(`${what} needs ${n} bytes, ${this.left} left`);
    const s = this.#b.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return s;
  }

  u32(): number {
    return this.take(4, "a uint32").readUInt32BE();
  }

  text(length: number, what: string): string {
    const text = decodeUtf8(this.take(length, what));
    if (text === undefined) throw new Error(`a ${what} is not valid UTF-8`);
    return text;
  }

  value(): JmsValue {
    const code = this.take(1, "a type code")[0];
    switch (code) {
      case AMQP_TYPE.boolean:
        return { type: "boolean", value: this.take(1, "a boolean")[0]! > 0 };
      case AMQP_TYPE.int8:
        return { type: "byte", value: this.take(1, "an int8").readInt8() };
      case AMQP_TYPE.uint8:
      case AMQP_TYPE.bin8:
        return { type: "short", value: this.take(1, "a uint8")[0]! };
      case AMQP_TYPE.char:
        return { type: "char", value: String.fromCharCode(this.take(1, "a char")[0]!) };
      case AMQP_TYPE.int16:
        return { type: "short", value: this.take(2, "an int16").readInt16BE() };
      case AMQP_TYPE.uint16:
        return { type: "int", value: this.take(2, "a uint16").readUInt16BE() };
      case AMQP_TYPE.int32:
        return { type: "int", value: this.take(4, "an int32").readInt32BE() };
      case AMQP_TYPE.uint32:
        return { type: "long", value: BigInt(this.take(4, "a uint32").readUInt32BE()) };
      case AMQP_TYPE.float:
        return { type: "float", value: this.take(4, "a float").readFloatBE() };
      case AMQP_TYPE.int64:
      case AMQP_TYPE.uint64:
      case AMQP_TYPE.datetime:
        return { type: "long", value: this.take(8, "an int64").readBigInt64BE() };
      case AMQP_TYPE.double:
        return { type: "double", value: this.take(8, "a double").readDoubleBE() };
      case AMQP_TYPE.uuid:
        return { type: "string", value: uuidText(this.take(16, "a uuid")) };
      case AMQP_TYPE.str8:
        return { type: "string", value: this.text(this.take(1, "a str8 length")[0]!, "str8") };
      case AMQP_TYPE.str16:
        return { type: "string", value: this.text(this.take(2, "a str16 length").readUInt16BE(), "str16") };
      case AMQP_TYPE.str32:
        return { type: "string", value: this.text(this.u32(), "str32") };
      case AMQP_TYPE.vbin8:
        return { type: "bytes", value: Buffer.from(this.take(this.take(1, "a vbin8 length")[0]!, "vbin8")) };
      case AMQP_TYPE.vbin16:
        return {
          type: "bytes",
          value: Buffer.from(this.take(this.take(2, "a length").readUInt16BE(), "vbin16")),
        };
      case AMQP_TYPE.vbin32:
        return { type: "bytes", value: Buffer.from(this.take(this.u32(), "vbin32")) };
      case AMQP_TYPE.void:
        return { type: "null" };
      case AMQP_TYPE.map:
      case AMQP_TYPE.list:
      case AMQP_TYPE.array:
        throw new Error(
          `nested ${code === AMQP_TYPE.map ? "map" : code === AMQP_TYPE.list ? "list" : "array"} values are not read`,
        );
      default:
        throw new Error(`unknown type code 0x${(code ?? 0).toString(16)}`);
    }
  }
}

function uuidText(b: Buffer): string {
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
