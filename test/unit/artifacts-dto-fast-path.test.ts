import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  dtoFromSynapseXml,
  gatewayApiDtoSchema,
  parseGatewayApiDto,
  plainGatewayApiDto,
} from "../../src/artifacts/gateway-api-dto.js";
import { synapseApi } from "../harness/cluster.js";

/**
 * plainGatewayApiDto (issue 19) answers for gatewayApiDtoSchema on the plain case: whatever it accepts,
 * the schema accepts with the same result (same members, same order); whatever else is left to the schema.
 */
function agrees(value: unknown): "fast" | "schema" {
  const fast = plainGatewayApiDto(value);
  const parsed = gatewayApiDtoSchema.safeParse(value);
  if (fast === undefined) return "schema";
  assert.ok(
    parsed.success,
    `fast path accepted what the schema refuses: ${JSON.stringify(value)?.slice(0, 300)}`,
  );
  assert.deepStrictEqual(fast, parsed.data);
  assert.deepStrictEqual(Object.keys(fast), Object.keys(parsed.data));
  return "fast";
}

const BASE = dtoFromSynapseXml(synapseApi({ name: "FastPathApi", size: 2048 }));
const FULL = {
  ...BASE,
  defaultAPIDefinition: "<api/>",
  override: true,
  sequenceToBeAdd: [{ name: "s1", content: "<sequence/>" }],
  sequencesToBeRemove: ["s0"],
  localEntriesToBeAdd: [{ name: "l1", content: "<localEntry/>" }],
  localEntriesToBeRemove: [],
  endpointEntriesToBeAdd: [{ name: "e1", content: "<endpoint/>" }],
  endpointEntriesToBeRemove: ["e0"],
  clientCertificatesToBeAdd: [{ name: "c1", content: "cert" }],
  clientCertificatesToBeRemove: ["c0"],
  credentialsToBeAdd: [{ alias: "a1", password: "p" }],
  credentialsToBeRemove: ["a0"],
  revision: "7",
  keyManagers: ["all"],
  vhosts: [{ host: "localhost" }],
};
const VALUES: unknown[] = [
  undefined,
  null,
  "",
  "x",
  0,
  7,
  1.5,
  -1,
  true,
  false,
  [],
  ["a"],
  [1],
  [null],
  ["a", 2],
  [{ name: "a", content: "b" }],
  [{ name: "a" }],
  [{ name: "a", content: "b", extra: 1 }],
  [{ alias: "a", password: "b" }],
  [{ alias: "a", password: 1 }],
  [Object.create(null)],
  {},
  { x: 1 },
];

describe("plainGatewayApiDto: the schema's answer without zod", () => {
  test("takes the DTOs gwsync and WSO2 write (the fast path is used)", () => {
    assert.equal(agrees(BASE), "fast");
    assert.equal(agrees(FULL), "fast");
    assert.equal(agrees(JSON.parse(JSON.stringify(FULL))), "fast");
    assert.equal(agrees({ ...BASE, revision: 12 }), "fast");
    assert.equal(plainGatewayApiDto({ ...BASE, revision: 12 })?.revision, "12");
  });

  test("each member replaced by each kind of value, removed, or nulled: never accepts what the schema refuses", () => {
    for (const base of [BASE, FULL]) {
      for (const key of [...Object.keys(gatewayApiDtoSchema.shape), "keyManagers", "other"]) {
        const { [key]: _gone, ...without } = base as Record<string, unknown>;
        agrees(without);
        for (const v of VALUES) agrees({ ...base, [key]: v });
      }
    }
  });

  test("odd objects go to the schema: arrays, null prototype, an own __proto__, class instances, non-objects", () => {
    for (const v of [null, undefined, "x", 1, [], [BASE]]) assert.equal(agrees(v), "schema");
    assert.equal(agrees(Object.assign(Object.create(null), BASE)), "schema");
    assert.equal(agrees(JSON.parse(`{"__proto__":{"x":1},${JSON.stringify(BASE).slice(1)}`)), "schema");
    class Dto {
      constructor() {
        Object.assign(this, BASE);
      }
    }
    assert.equal(agrees(new Dto()), "schema");
  });

  test("random objects over the members and values: fast ⊆ schema, same result", () => {
    const keys = [...Object.keys(gatewayApiDtoSchema.shape), "extra"];
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom(...keys), fc.oneof(fc.constantFrom(...VALUES), fc.jsonValue()), {
          minKeys: 3,
        }),
        fc.boolean(),
        (members, withRequired) => {
          agrees(withRequired ? { ...BASE, ...members } : members);
        },
      ),
      { numRuns: 1500 },
    );
  });

  test("parseGatewayApiDto keeps the schema's messages for what the fast path leaves to it", () => {
    assert.throws(() => parseGatewayApiDto({ ...BASE, name: "" }), /GatewayAPIDTO is invalid: name:/);
    assert.throws(
      () => parseGatewayApiDto({ ...BASE, sequenceToBeAdd: [{ name: 1 }] }),
      /sequenceToBeAdd\.0\.name/,
    );
    assert.deepStrictEqual(
      parseGatewayApiDto({ ...BASE, override: null }),
      gatewayApiDtoSchema.parse({ ...BASE, override: null }),
    );
  });
});
