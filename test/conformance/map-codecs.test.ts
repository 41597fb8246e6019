/**
 * The two MapMessage bodies a 3.2.0 event hub carries, against WSO2's own code: `amqp/map` against
 * bytes Andes' BBEncoder wrote (test/fixtures/wso2/README.md), `jms/map-message` against the layout of
 * ANDES message/JMSMapMessage.java and message/AbstractBytesTypedMessage.java (ANDES =
 * wso2/andes @ 72655e00 modules/andes-core/client/src/main/java/org/wso2/andes/client/).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import fc from "fast-check";
import { decodeAmqpMap, encodeAmqpMap } from "../../src/events/amqp-map.js";
import { toHubWire } from "../../src/events/dialect.js";
import { encodeNotification, encodeTokenRevocation } from "../../src/events/encode.js";
import {
  boolean,
  int,
  type JmsMap,
  type JmsValue,
  long,
  MAX_MAP_ENTRIES,
  NULL,
  string,
} from "../../src/events/jms-value.js";
import { decodeQpidMap, encodeQpidMap, QPID_TYPE } from "../../src/events/qpid-map.js";

const FIXTURES = new URL("../fixtures/wso2/events/", import.meta.url);
const hexFixture = (name: string) => Buffer.from(readFileSync(new URL(name, FIXTURES), "utf8").trim(), "hex");

/** The maps test/fixtures/wso2/README.md says the WSO2 bytes were made from (a TreeMap: sorted keys). */
const DEPLOY_EVENT =
  "eyJhcGlJZCI6ImMwMjVhNjE0LTJmNzctNGM5Mi1hOWI5LWIyM2RmN2E2MzBmNSIsImdhdGV3YXlMYWJlbHMiOlsiUHJvZHVjdGlvbiBhbmQgU2FuZGJveCJdLCJldmVudElkIjoiNDBkNTdiN2ItYmRmNi00NmVmLWI0NDgtM2ZmNmNiYWM3YWYyIiwidGltZVN0YW1wIjoxNjAwMDAwMDAwMDAwLCJ0eXBlIjoiREVQTE9ZX0FQSV9JTl9HQVRFV0FZIiwidGVuYW50SWQiOjAsInRlbmFudERvbWFpbiI6ImNhcmJvbi5zdXBlciJ9";
const WSO2_MAPS: Record<string, JmsMap> = {
  "notification-DEPLOY_API_IN_GATEWAY-3.2.0.amqp-map.hex": [
    ["event", string(DEPLOY_EVENT)],
    ["eventType", string("DEPLOY_API_IN_GATEWAY")],
    ["timestamp", long(1_600_000_000_000)],
  ],
  "tokenRevocation-JWT-3.2.0.amqp-map.hex": [
    ["eventId", string("0f7a4e2c-1d5b-4c38-9b6e-5a2f7c9d1e30")],
    ["expiryTime", long(1_900_000_000_000)],
    ["revokedToken", string("1fdc5b0e-jti")],
    ["tenantId", int(-1234)],
    ["ttl", string("3600")],
    ["type", string("JWT")],
  ],
  "keyManager-add-3.2.0.amqp-map.hex": [
    ["action", string("add")],
    ["enabled", boolean(true)],
    ["event_type", string("key_manager_configuration")],
    ["name", string("Okta")],
    ["tenantDomain", string("carbon.super")],
    ["type", string("Okta")],
    ["value", string("eyJpc3N1ZXIiOiJodHRwczovL29rdGEudGVzdCJ9")],
  ],
  "null-value.amqp-map.hex": [
    ["a", NULL],
    ["b", string("x")],
  ],
};

describe("conformance: amqp/map is Andes' AMQPEncodedMapMessage encoding", () => {
  for (const [file, map] of Object.entries(WSO2_MAPS)) {
    test(`WSO2's bytes (${file}) decode to the map, and gwsync writes the same bytes`, () => {
      const wso2 = hexFixture(file);
      // ANDES message/AMQPEncodedMapMessage.java:88-102 populateMapFromData → BBDecoder.readMap.
      assert.deepEqual(decodeAmqpMap(wso2), { ok: true, map });
      // ANDES message/AMQPEncodedMapMessage.java:104-110 writeMapToData → AbstractEncoder.writeMap (:357-379).
      assert.deepEqual(encodeAmqpMap(map), wso2);
    });
  }

  test("gwsync's 3.2.0 token revocation is byte for byte what WSO2's CEP map publisher writes", () => {
    const json = encodeTokenRevocation({
      eventId: "0f7a4e2c-1d5b-4c38-9b6e-5a2f7c9d1e30",
      revokedToken: "1fdc5b0e-jti",
      ttl: 3600,
      expiryTime: 1_900_000_000_000,
      type: "JWT",
    }).body;
    const wire = toHubWire("3.2.0", "tokenRevocation", json, "amqp/map");
    assert.equal(wire.contentType, "amqp/map");
    assert.deepEqual(wire.body, hexFixture("tokenRevocation-JWT-3.2.0.amqp-map.hex"));
  });

  test("gwsync's 3.2.0 DEPLOY_API_IN_GATEWAY map is WSO2's, down to the inner 3.2.0 event class", () => {
    // IMPL3 notifier/events/DeployAPIInGatewayEvent.java: apiId is the UUID; Gson writes the base Event fields after.
    const inner = {
      apiId: 0,
      uuid: "c025a614-2f77-4c92-a9b9-b23df7a630f5",
      name: "PizzaShackAPI",
      version: "1.0.0",
      provider: "admin",
      apiType: "HTTP",
      gatewayLabels: ["Production and Sandbox"],
      associatedApis: [],
      context: "/pizzashack/1.0.0",
      eventId: "40d57b7b-bdf6-46ef-b448-3ff6cbac7af2",
      timeStamp: 1_600_000_000_000,
      type: "DEPLOY_API_IN_GATEWAY",
      tenantId: 0,
      tenantDomain: "carbon.super",
    };
    const json = encodeNotification(inner, { timestamp: 1_600_000_000_000 }).body;
    assert.deepEqual(
      toHubWire("3.2.0", "notification", json, "amqp/map").body,
      hexFixture("notification-DEPLOY_API_IN_GATEWAY-3.2.0.amqp-map.hex"),
    );
  });
});

describe("conformance: jms/map-message is Andes' legacy JMSMapMessage layout", () => {
  test("count, then NUL-terminated keys and typed values (JMSMapMessage.java:481-510, AbstractBytesTypedMessage.java:641-723)", () => {
    const bytes = encodeQpidMap([
      ["timestamp", long(1)],
      ["eventType", string("X")],
      ["enabled", boolean(true)],
      ["tenantId", int(-1234)],
      ["secret", NULL],
    ]);
    const expected = Buffer.concat([
      Buffer.from([0, 0, 0, 5]), // writeIntImpl(size), :485
      Buffer.from("timestamp\0"), // writeStringImpl(key), :490 and :717-723: UTF-8 then a NUL
      Buffer.from([QPID_TYPE.long, 0, 0, 0, 0, 0, 0, 0, 1]), // LONG_TYPE = 7, :56 and :676-680
      Buffer.from("eventType\0"),
      Buffer.from([QPID_TYPE.string]), // STRING_TYPE = 10, :62 and :694-715
      Buffer.from("X\0"),
      Buffer.from("enabled\0"),
      Buffer.from([QPID_TYPE.boolean, 1]), // BOOLEAN_TYPE = 1, :44 and :641-645
      Buffer.from("tenantId\0"),
      Buffer.from([QPID_TYPE.int, 0xff, 0xff, 0xfb, 0x2e]), // INT_TYPE = 6, :54 and :665-674
      Buffer.from("secret\0"),
      Buffer.from([QPID_TYPE.null]), // NULL_STRING_TYPE = 11 for a null (writeObject(null) → writeString(null)), :64, :696-699
    ]);
    assert.deepEqual(bytes, expected);
    assert.equal(QPID_TYPE.long, 7);
    assert.equal(QPID_TYPE.string, 10);
    assert.equal(QPID_TYPE.null, 11);
    assert.deepEqual(decodeQpidMap(bytes), {
      ok: true,
      map: [
        ["timestamp", long(1)],
        ["eventType", string("X")],
        ["enabled", boolean(true)],
        ["tenantId", int(-1234)],
        ["secret", NULL],
      ],
    });
  });

  test("a string with U+0000 cannot be written (the reader would end it there): refused, not corrupted", () => {
    assert.throws(() => encodeQpidMap([["k", string("a\u0000b")]]), /U\+0000/);
  });
});

describe("both map decoders refuse what Andes could not have written, and never throw", () => {
  const value = fc.oneof(
    fc
      .string()
      .filter((s) => !s.includes("\u0000"))
      .map((v) => string(v)),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((v): JmsValue => ({ type: "long", value: v })),
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map(int),
    fc.boolean().map(boolean),
    fc.constant(NULL),
  );
  const maps = fc.uniqueArray(
    fc.tuple(
      fc.string({ minLength: 1, maxLength: 40 }).filter((k) => !k.includes("\u0000")),
      value,
    ),
    {
      selector: ([k]) => k,
      maxLength: 20,
    },
  );

  test("encode → decode is the identity for both formats", () => {
    fc.assert(
      fc.property(maps, (map) => {
        assert.deepEqual(decodeQpidMap(encodeQpidMap(map)), { ok: true, map });
        assert.deepEqual(decodeAmqpMap(encodeAmqpMap(map)), { ok: true, map });
      }),
      { numRuns: 300 },
    );
  });

  test("every truncation of a valid body is refused with a reason", () => {
    fc.assert(
      fc.property(
        maps.filter((m) => m.length > 0),
        fc.nat(),
        (map, cut) => {
          for (const encoded of [encodeQpidMap(map), encodeAmqpMap(map)]) {
            const at = cut % encoded.length;
            const decode = encoded === encodeQpidMap(map) ? decodeQpidMap : decodeAmqpMap;
            const r = decode(encoded.subarray(0, at));
            assert.equal(r.ok, false, `a body cut at ${at} of ${encoded.length} was accepted`);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  test("random bytes never throw; huge counts are refused before any allocation", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const b = Buffer.from(bytes);
        assert.doesNotThrow(() => decodeQpidMap(b));
        assert.doesNotThrow(() => decodeAmqpMap(b));
      }),
      { numRuns: 1000 },
    );
    const many = Buffer.alloc(8);
    many.writeInt32BE(MAX_MAP_ENTRIES + 1);
    assert.match(String((decodeQpidMap(many) as { reason: string }).reason), /entry count/);
    const amqp = Buffer.alloc(8);
    amqp.writeUInt32BE(4);
    amqp.writeUInt32BE(0xffffffff, 4);
    assert.match(String((decodeAmqpMap(amqp) as { reason: string }).reason), /entry count/);
  });
});
