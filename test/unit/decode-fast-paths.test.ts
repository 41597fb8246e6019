import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  notificationBaseSchema,
  notificationWrapperSchema,
  plainNotificationBase,
  plainNotificationWrapper,
} from "../../src/events/notification.js";
import { parseNotificationPayload, plainGatewayEvent } from "../../src/events/notification-payload.js";
import { plainRuntimeArtifacts, runtimeArtifactsSchema } from "../../src/gateway/retriever.js";
import { jsonDepth } from "../../src/security/json-limits.js";
import { headersSchema, plainHeaders } from "../../src/store/sqlite/rows.js";
import {
  plainTokenRevocationPayload,
  tokenRevocationPayloadSchema,
} from "../../src/events/token-revocation.js";
import {
  gatewayReportSchema,
  plainGatewayReport,
  reportEntrySchema,
} from "../../src/events/gateway-report.js";

/**
 * Issue 19's zod-free fast paths on the gateway's event path: each answers for its schema on the plain
 * case only. Whatever a fast path accepts, the schema accepts with the same values; everything else is
 * left to the schema (which then words the refusal as before).
 */
function agrees<T>(
  fast: (v: unknown) => T | undefined,
  schema: { safeParse(v: unknown): { success: boolean; data?: unknown } },
  value: unknown,
  read: (v: unknown) => unknown = (v) => v,
): "fast" | "schema" {
  const f = fast(value);
  if (f === undefined) return "schema";
  const parsed = schema.safeParse(value);
  assert.ok(
    parsed.success,
    `fast path accepted what the schema refuses: ${JSON.stringify(value)?.slice(0, 300)}`,
  );
  assert.deepStrictEqual(read(f), read(parsed.data));
  return "fast";
}

/** What the retriever reads of a runtime-artifacts reply (unknown members are never read). */
function readReply(v: unknown): unknown {
  const r = v as {
    count: number;
    list: string[];
    gwsync?: Record<string, unknown> & { items: Record<string, unknown>[] };
  };
  const pick = (o: Record<string, unknown>, keys: string[]) =>
    Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
  return {
    count: r.count,
    list: r.list,
    ...(r.gwsync === undefined
      ? {}
      : {
          gwsync: {
            ...pick(r.gwsync, ["head", "next", "total"]),
            items: r.gwsync.items.map((m) =>
              pick(m, ["apiId", "label", "revision", "sha256", "seq", "signature"]),
            ),
          },
        }),
  };
}
const agreesReply = (v: unknown) => agrees(plainRuntimeArtifacts, runtimeArtifactsSchema, v, readReply);

const VALUES: unknown[] = [
  undefined,
  null,
  "",
  "x",
  "y".repeat(257),
  0,
  -0,
  7,
  -1,
  1.5,
  2 ** 53,
  Number.NaN,
  true,
  [],
  ["a"],
  [1],
  {},
  { x: 1 },
  Object.create(null),
];

function mutations(base: Record<string, unknown>, keys: readonly string[]): unknown[] {
  const out: unknown[] = [base, JSON.parse(JSON.stringify(base))];
  for (const key of [...keys, "extra"]) {
    const { [key]: _gone, ...without } = base;
    out.push(without);
    for (const v of VALUES) out.push({ ...base, [key]: v });
  }
  out.push(null, [], "x", Object.assign(Object.create(null), base));
  out.push(JSON.parse(`{"__proto__":{"a":1},${JSON.stringify(base).slice(1)}`));
  return out;
}

function randomOver(base: Record<string, unknown>, keys: readonly string[], check: (v: unknown) => void) {
  fc.assert(
    fc.property(
      fc.dictionary(fc.constantFrom(...keys, "extra"), fc.oneof(fc.constantFrom(...VALUES), fc.jsonValue())),
      fc.boolean(),
      (members, withBase) => {
        check(withBase ? { ...base, ...members } : members);
      },
    ),
    { numRuns: 1000 },
  );
}

describe("decode fast paths answer as their schemas", () => {
  test("notification wrapper {eventType, timestamp, event}", () => {
    const base = { eventType: "DEPLOY_API_IN_GATEWAY", timestamp: 1733450000000, event: "e30=" };
    const keys = ["eventType", "timestamp", "event"];
    assert.equal(agrees(plainNotificationWrapper, notificationWrapperSchema, base), "fast");
    for (const v of mutations(base, keys)) agrees(plainNotificationWrapper, notificationWrapperSchema, v);
    randomOver(base, keys, (v) => agrees(plainNotificationWrapper, notificationWrapperSchema, v));
  });

  test("notification base {eventId, timeStamp, type, tenantId, tenantDomain}", () => {
    const base = {
      eventId: "e-1",
      timeStamp: 1733450000000,
      type: "X",
      tenantId: -1234,
      tenantDomain: "carbon.super",
    };
    const keys = ["eventId", "timeStamp", "type", "tenantId", "tenantDomain"];
    assert.equal(agrees(plainNotificationBase, notificationBaseSchema, base), "fast");
    for (const v of mutations(base, keys)) agrees(plainNotificationBase, notificationBaseSchema, v);
    randomOver(base, keys, (v) => agrees(plainNotificationBase, notificationBaseSchema, v));
  });

  test("token revocation payload {eventId, revokedToken, ttl, expiryTime, type, tenantId}", () => {
    const base = {
      eventId: "e-1",
      revokedToken: "jti-1",
      ttl: "3600",
      expiryTime: 1733450000000,
      type: "JWT",
      tenantId: -1234,
    };
    const keys = ["eventId", "revokedToken", "ttl", "expiryTime", "type", "tenantId"];
    const check = (v: unknown) => agrees(plainTokenRevocationPayload, tokenRevocationPayloadSchema, v);
    assert.equal(check(base), "fast");
    for (const ttl of ["", "0", "123456789012345", 0, 3600, null, undefined])
      assert.equal(check({ ...base, ttl }), "fast", `ttl ${JSON.stringify(ttl)}`);
    const { ttl: _ttl, ...noTtl } = base;
    assert.equal(check(noTtl), "fast");
    assert.equal(check({ ...base, extra: { a: [1] } }), "fast");
    // Refused by both (the fast path leaves them to the schema, which refuses).
    for (const ttl of ["1234567890123456", "-1", "1.5", " 1", "1\n", "x", -1, 1.5, 2 ** 53, true, {}])
      assert.equal(check({ ...base, ttl }), "schema", `ttl ${JSON.stringify(ttl)}`);
    for (const v of mutations(base, keys)) check(v);
    randomOver(base, keys, check);
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.integer(), fc.double(), fc.constantFrom(null, undefined)),
        (ttl) => {
          check({ ...base, ttl });
        },
      ),
      { numRuns: 2000 },
    );
  });

  test("DEPLOY/REMOVE payloads, 4.x and 3.2.0 shapes, with and without an inline artifact", () => {
    // The schema's answer, through parseNotificationPayload's zod path (plainGatewayEvent undefined).
    const viaSchema = {
      safeParse(v: unknown) {
        const r = parseNotificationPayload("DEPLOY_API_IN_GATEWAY", {
          __proto__: null,
          ...(v as object),
        } as never);
        return r.ok ? { success: true, data: r.payload } : { success: false };
      },
    };
    const fast = (v: unknown) => {
      const e = plainGatewayEvent(v);
      if (e === undefined) return undefined;
      const r = parseNotificationPayload("DEPLOY_API_IN_GATEWAY", v as never);
      assert.ok(r.ok);
      return r.payload;
    };
    const keys = [
      "apiId",
      "uuid",
      "name",
      "version",
      "context",
      "provider",
      "apiType",
      "gatewayLabels",
      "gwsyncArtifact",
    ];
    const x4 = {
      apiId: 12,
      uuid: "u-1",
      name: "A",
      version: "1",
      context: "/a",
      provider: "admin",
      apiType: "HTTP",
      gatewayLabels: ["default"],
    };
    const x3 = { apiId: "u-1", name: "A", version: "1", gatewayLabels: ["default", "eu"] };
    const inline = { ...x4, gwsyncArtifact: { name: "A", apiId: "u-1", list: [1, { a: null }] } };
    for (const base of [x4, x3, inline]) {
      assert.equal(agrees(fast, viaSchema, base), "fast");
      for (const v of mutations(base, keys)) agrees(fast, viaSchema, v);
      randomOver(base, keys, (v) => agrees(fast, viaSchema, v));
    }
    const e = plainGatewayEvent(inline)!;
    assert.notEqual(
      e.gwsyncArtifact,
      inline.gwsyncArtifact,
      "the artifact is copied, as the schema's record copies it",
    );
    assert.notEqual(e.gatewayLabels, inline.gatewayLabels);
  });

  test("the data API's runtime-artifacts reply", () => {
    const meta = { apiId: "u-1", label: "default", revision: 3, sha256: "a".repeat(64), seq: 9 };
    const base = { count: 1, list: ["{}"], gwsync: { head: 9, items: [meta], total: 1 } };
    assert.equal(agreesReply(base), "fast");
    assert.equal(agreesReply({ count: 0, list: [] }), "fast");
    for (const v of mutations(base, ["count", "list", "gwsync"])) agreesReply(v);
    const metaKeys = ["apiId", "label", "revision", "sha256", "seq", "signature"];
    for (const m of [
      ...mutations(meta, metaKeys),
      { ...meta, signature: "s" },
      { ...meta, signature: "s".repeat(64 * 1024 + 1) },
      { ...meta, sha256: "A".repeat(64) },
    ]) {
      agreesReply({ ...base, gwsync: { head: 1, items: [m] } });
    }
    for (const g of mutations(base.gwsync, ["head", "items", "next", "total"]))
      agreesReply({ ...base, gwsync: g });
    randomOver(base, ["count", "list", "gwsync"], (v) => agreesReply(v));
  });
});

describe("jsonDepth with the unrolled string scan", () => {
  // The scan as it was before issue 19 (one alternation per character). A copy of
  // src/security/json-limits.ts's jsonDepth kept here on purpose: it is the reference the property
  // test below holds the unrolled scan to, so it must stay as it is (not an import of the src version).
  function reference(text: string, limit = Number.POSITIVE_INFINITY): number {
    const structure = /["[\]{}]/g;
    const stringEnd = /(?:[^"\\]|\\.)*"/y;
    let depth = 0;
    let max = 0;
    for (let m = structure.exec(text); m !== null; m = structure.exec(text)) {
      const ch = m[0];
      if (ch === '"') {
        stringEnd.lastIndex = structure.lastIndex;
        if (!stringEnd.test(text)) break;
        structure.lastIndex = stringEnd.lastIndex;
      } else if (ch === "{" || ch === "[") {
        depth++;
        if (depth > max) {
          max = depth;
          if (max > limit) break;
        }
      } else depth--;
    }
    return max;
  }

  test("same depth as the old scan on JSON, on JSON inside JSON strings, and on malformed text", () => {
    const samples = [
      '{"a":"x\\"]]]\\\\"}',
      JSON.stringify({ list: [JSON.stringify({ xml: '<a b="[{"/>', deep: [[[1]]] })] }),
      '"unterminated [[[',
      '"bad escape \\\n [[["',
      '{"a":"\\\\\\"[",[[{}]]}',
    ];
    for (const s of samples) assert.equal(jsonDepth(s), reference(s), s);
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), (v) => {
        const once = JSON.stringify(v);
        const twice = JSON.stringify({ inner: once, also: [once] });
        assert.equal(jsonDepth(once), reference(once));
        assert.equal(jsonDepth(twice), reference(twice));
        assert.equal(jsonDepth(twice, 3), reference(twice, 3));
      }),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('"', "\\", "[", "]", "{", "}", "a", "\n") }), (s) => {
        assert.equal(jsonDepth(s), reference(s));
      }),
      { numRuns: 3000 },
    );
  });

  test("gateway report {nodeId, boot, seq, kind, part, parts, served, refused, apis, sentAt} and its entries", () => {
    const sha = "a".repeat(64);
    const served = { apiId: "api-1", served: { revision: 3, sha256: sha } };
    const refused = {
      apiId: "api-2",
      refusal: {
        revision: 4,
        code: "GWSYNC_ARTIFACT_INVALID",
        message: "bad",
        at: 1733450000000,
        fresh: true,
      },
    };
    const base = {
      nodeId: "gw-1",
      boot: "b00t",
      seq: 7,
      kind: "delta",
      part: 1,
      parts: 1,
      served: 1,
      refused: 1,
      apis: [served, refused],
      sentAt: 1733450000000,
    };
    const keys = ["nodeId", "boot", "seq", "kind", "part", "parts", "served", "refused", "apis", "sentAt"];
    const check = (v: unknown) => agrees(plainGatewayReport, gatewayReportSchema, v);
    assert.equal(check(base), "fast");
    assert.equal(check({ ...base, kind: "full", apis: [], extra: 1 }), "fast");
    for (const v of mutations(base, keys)) check(v);
    randomOver(base, keys, check);
    // Each entry, its served part and its refusal mutated inside an otherwise plain report.
    const refusal = refused.refusal;
    const variants: unknown[] = [
      ...mutations(served, ["apiId", "served", "refusal"]),
      ...mutations(refused, ["apiId", "served", "refusal"]),
      ...mutations(served.served, ["revision", "sha256"]).map((m) => ({ apiId: "a", served: m })),
      ...mutations(refusal, ["revision", "code", "message", "at", "fresh"]).map((m) => ({
        apiId: "a",
        refusal: m,
      })),
      { apiId: "a", served: { revision: 1, sha256: "A".repeat(64) } },
      { apiId: "a", refusal: { ...refusal, code: "c".repeat(65) } },
      { apiId: "a", refusal: { ...refusal, message: "m".repeat(513) } },
      { apiId: "x".repeat(256) },
    ];
    for (const e of variants) {
      check({ ...base, apis: [e] });
      agrees((v) => plainGatewayReport({ ...base, apis: [v] })?.apis[0], reportEntrySchema, e);
    }
    check({ ...base, parts: 100_001 });
    check({ ...base, apis: Array.from({ length: 251 }, () => served) });
    check({ ...base, apis: Array.from({ length: 250 }, () => served) });
    check({ ...base, seq: 0 });
    check({ ...base, kind: "other" });
  });

  test("outbox row headers {string: string | number}", () => {
    const base = { "x-gwsync-sha256": "a".repeat(64), "x-gwsync-revision": 3, "x-gwsync-seq": 12 };
    const keys = Object.keys(base);
    const check = (v: unknown) => agrees(plainHeaders, headersSchema, v);
    assert.equal(check(base), "fast");
    assert.equal(check({}), "fast");
    for (const v of mutations(base, keys)) check(v);
    for (const v of [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e308, -5, 0.5])
      check({ ...base, n: v });
    randomOver(base, keys, check);
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.double(), fc.integer(), fc.jsonValue())),
        (d) => {
          check(d);
          check(JSON.parse(JSON.stringify(d)));
        },
      ),
      { numRuns: 2000 },
    );
  });
});
