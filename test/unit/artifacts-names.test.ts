import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";
import fc from "fast-check";
import {
  apiFileName,
  checkName,
  isSafeName,
  parseRelPath,
  safeJoin,
  sequenceFileName,
} from "../../src/artifacts/names.js";
import { ARTIFACT_FOLDERS, type ArtifactKind } from "../../src/artifacts/types.js";
import { GwsyncError } from "../../src/errors.js";
import { tempDir } from "../harness/temp-dir.js";

const root = tempDir("gwsync-names-");
after(() => fs.rmSync(root, { recursive: true, force: true }));

function unsafe(err: unknown): boolean {
  assert.ok(err instanceof GwsyncError, `expected GwsyncError, got ${String(err)}`);
  assert.equal(err.code, "GWSYNC_ARTIFACT_NAME_UNSAFE");
  assert.match(err.message, /is not safe: /);
  return true;
}

const TRAVERSALS = [
  "../x",
  "..\\x",
  "/etc/passwd",
  "a/../../b",
  "a/b",
  "a\\b",
  "..",
  ".",
  "",
  "%2e%2e/",
  "%2e%2e%2fetc",
  "..%2f..%2fetc",
  "x\u0000.xml",
  "\u0000",
  "a".repeat(201),
  ".hidden",
  ".gwsync-1-1.tmp",
  "CON",
  "con.xml",
  "NUL",
  "com1",
  "LPT9.txt",
  "．．/x",
  "\uff0e\uff0e\uff0fetc",
  "a\u2215b",
  "a..b",
  "trailing.",
  "-leading-dash",
  "name with space",
  "tab\tname",
  "new\nline",
  "C:\\windows",
  "~root",
  "$HOME",
  "a*b",
  "file://x",
  "\u202etxt.exe",
];

describe("artifact names", () => {
  test(`refuses ${TRAVERSALS.length} traversal and unsafe names with GWSYNC_ARTIFACT_NAME_UNSAFE`, () => {
    for (const name of TRAVERSALS) {
      assert.equal(isSafeName(name), false, `${JSON.stringify(name)} should be unsafe`);
      assert.throws(() => checkName(name, "sequence name"), unsafe, JSON.stringify(name));
      assert.throws(() => sequenceFileName(name), unsafe, JSON.stringify(name));
      assert.throws(() => safeJoin(root, "sequence", name), unsafe, JSON.stringify(name));
    }
  });

  test("accepts the names WSO2 generates", () => {
    for (const name of [
      "admin--PizzaShackAPI",
      "abc-AT-abc.com--stockapi",
      "_OpenService_",
      "_production_key_error_",
      "admin--PizzaShack:v1.0.0--In",
      "PizzaShackAPI--v1.0.0_APIproductionEndpoint",
      "b3f9d3a6-0e0c-4c3e-9c2f-6c1d2e3f4a5b",
      "b3f9d3a6-0e0c-4c3e-9c2f-6c1d2e3f4a5b_graphQL",
      "ga-config-key",
      "user@tenant.com",
    ]) {
      checkName(name, "name");
    }
  });

  test("the error names the thing and the rule", () => {
    assert.throws(
      () => checkName("../x", "sequence name of API a/b:1"),
      /sequence name of API a\/b:1 "..\/x" is not safe: it may hold only/,
    );
  });

  test("API file names follow WSO2: <provider>--<name>_v<version>.xml, or <name>.xml without version", () => {
    assert.equal(
      apiFileName({ synapseName: "admin--PizzaShackAPI", version: "1.0.0" }),
      "admin--PizzaShackAPI_v1.0.0.xml",
    );
    assert.equal(apiFileName({ synapseName: "_OpenService_", version: "" }), "_OpenService_.xml");
    assert.throws(() => apiFileName({ synapseName: "a--b", version: "../1" }), unsafe);
    assert.throws(() => apiFileName({ synapseName: "a--b", version: "1/2" }), unsafe);
  });

  test("safeJoin puts a file directly in its kind's folder under root", () => {
    assert.equal(safeJoin(root, "api", "a--b_v1.xml"), path.join(root, "api", "a--b_v1.xml"));
    assert.equal(safeJoin(root, "localEntry", "k.xml"), path.join(root, "local-entries", "k.xml"));
    assert.throws(() => safeJoin(root, "api", "a--b_v1.txt"), unsafe);
  });

  test("safeJoin refuses a folder that is a symlink pointing out of root", () => {
    const outside = tempDir("gwsync-outside-");
    const linked = tempDir("gwsync-linked-");
    try {
      fs.symlinkSync(outside, path.join(linked, "sequences"));
      assert.throws(
        () => safeJoin(linked, "sequence", "s.xml"),
        (err) => unsafe(err) && /outside the deployment folder/.test((err as Error).message),
      );
      // A symlinked root itself is fine: the folder resolves inside the root's real path.
      const alias = path.join(linked, "alias");
      fs.symlinkSync(root, alias);
      assert.equal(safeJoin(alias, "api", "x.xml"), path.join(alias, "api", "x.xml"));
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
      fs.rmSync(linked, { recursive: true, force: true });
    }
  });

  test("parseRelPath accepts only <known folder>/<safe file>.xml", () => {
    assert.deepEqual(parseRelPath("api/a--b_v1.xml"), { kind: "api", fileName: "a--b_v1.xml" });
    assert.deepEqual(parseRelPath("local-entries/k.xml"), { kind: "localEntry", fileName: "k.xml" });
    for (const bad of [
      "../api/x.xml",
      "api/../x.xml",
      "api/a/b.xml",
      "etc/x.xml",
      "api",
      "/api/x.xml",
      "api/.x.xml",
    ]) {
      assert.throws(() => parseRelPath(bad), unsafe, bad);
    }
  });

  test("property: no string, as a name, yields a path outside root", () => {
    const kinds = Object.keys(ARTIFACT_FOLDERS) as ArtifactKind[];
    const pieces = fc.constantFrom(
      "..",
      ".",
      "/",
      "\\",
      "%2e",
      "\u0000",
      "．",
      "a",
      "Z",
      "_",
      "-",
      ":",
      "@",
      "CON",
      "x.xml",
      "~",
      " ",
    );
    const nameArb = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.string({ unit: "binary", maxLength: 40 }),
      fc.array(pieces, { maxLength: 12 }).map((p) => p.join("")),
    );
    fc.assert(
      fc.property(nameArb, fc.constantFrom(...kinds), (name, kind) => {
        let full: string;
        try {
          full = safeJoin(root, kind, `${name}.xml`);
        } catch (err) {
          return err instanceof GwsyncError && err.code === "GWSYNC_ARTIFACT_NAME_UNSAFE";
        }
        const folder = path.join(root, ARTIFACT_FOLDERS[kind]);
        return (
          path.dirname(full) === folder && !path.relative(root, full).startsWith("..") && isSafeName(name)
        );
      }),
      { numRuns: 3000 },
    );
  });
});
