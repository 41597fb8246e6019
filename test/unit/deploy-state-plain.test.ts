import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { plainDeployState, stateSchema } from "../../src/gateway/deploy/deploy-state.js";

/** One record as FileDeployer writes it. */
function record(i: number): Record<string, unknown> {
  return {
    apiId: `0b7d5c1e-5f4a-4c1b-9d2e-${String(i).padStart(12, "0")}`,
    name: `Api${i}`,
    version: "1.0.0",
    provider: "admin",
    context: `/api${i}/1.0.0`,
    labels: ["Default"],
    revision: 2,
    sha256: "a".repeat(64),
    seq: 20_000 + i,
    files: [
      { kind: "api", relPath: `api/admin--Api${i}_v1.0.0.xml`, sha256: "b".repeat(64) },
      { kind: "sequence", relPath: `sequences/s${i}.xml`, sha256: "c".repeat(64) },
    ],
    deployedAt: 1_796_574_309_340,
  };
}

/** What the schema decides: its records, or "refused". */
function bySchema(json: unknown): unknown {
  const parsed = stateSchema.safeParse(json);
  return parsed.success ? parsed.data.apis : "refused";
}

/** A state of three records, the middle one changed by `mutate`. */
function stateWith(mutate: (r: Record<string, unknown>) => void): unknown {
  const apis = [record(1), record(2), record(3)];
  mutate(apis[1]!);
  // Through JSON text, as the state file is read.
  return JSON.parse(JSON.stringify({ format: 1, apis }));
}

describe("the state file's zod-free reading (plainDeployState)", () => {
  test("a state as gwsync writes it: the schema's records, member for member and in its order", () => {
    const json = stateWith(() => undefined);
    const plain = plainDeployState(json);
    assert.ok(plain !== undefined);
    assert.deepEqual(plain, bySchema(json));
    assert.deepEqual(Object.keys(plain[0]!), Object.keys((bySchema(json) as object[])[0]!));
  });

  test("unknown members are dropped, as zod drops them", () => {
    const json = stateWith((r) => {
      r.extra = 1;
      (r.files as Record<string, unknown>[])[0]!.more = "x";
    });
    assert.deepEqual(plainDeployState(json), bySchema(json));
    assert.equal("extra" in plainDeployState(json)![1]!, false);
  });

  // Each is refused by the schema; the fast path must not accept it (it leaves it to the schema).
  const refused: [string, (r: Record<string, unknown>) => void][] = [
    ["an unsafe apiId", (r) => (r.apiId = "../x")],
    ["an empty apiId", (r) => (r.apiId = "")],
    ["a name holding NUL", (r) => (r.name = "a\u0000b")],
    ["a context that is a number", (r) => (r.context = 5)],
    ["a label that is not a string", (r) => (r.labels = ["Default", 3])],
    ["labels missing", (r) => delete r.labels],
    ["a revision that is not a number", (r) => (r.revision = "2")],
    ["an infinite seq (1e999 in the text)", (r) => (r.seq = "INF")],
    ["a sha256 in capitals", (r) => (r.sha256 = "A".repeat(64))],
    ["a file of an unknown kind", (r) => ((r.files as Record<string, unknown>[])[0]!.kind = "x")],
    ["a file path out of its folder", (r) => ((r.files as Record<string, unknown>[])[0]!.relPath = "api/../x.xml")],
    ["a file path in another kind's folder", (r) => ((r.files as Record<string, unknown>[])[1]!.relPath = "api/s.xml")],
    ["a file sha256 that is empty", (r) => ((r.files as Record<string, unknown>[])[0]!.sha256 = "")],
    ["files not an array", (r) => (r.files = {})],
    ["deployedAt missing", (r) => delete r.deployedAt],
  ];
  for (const [what, mutate] of refused) {
    test(`${what}: refused by the schema, and not taken by the fast path`, () => {
      let json = stateWith(mutate);
      if (what.startsWith("an infinite seq"))
        json = JSON.parse(JSON.stringify(json).replace('"INF"', "1e999"));
      assert.equal(bySchema(json), "refused");
      assert.equal(plainDeployState(json), undefined);
    });
  }

  test("another format, or apis that are not a list: left to the schema", () => {
    assert.equal(plainDeployState({ format: 2, apis: [] }), undefined);
    assert.equal(plainDeployState({ format: 1, apis: {} }), undefined);
    assert.deepEqual(plainDeployState({ format: 1, apis: [] }), []);
  });
});
