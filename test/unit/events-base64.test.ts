/**
 * decodeBase64's strict check (isStrictBase64) accepts exactly what the pattern it replaced accepted:
 * whole groups of the standard alphabet, padding only at the end (issue 19: the pattern backtracked
 * through every group of each event's base64 body).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { decodeBase64, isStrictBase64 } from "../../src/events/wire-json.js";

const OLD_PATTERN = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

describe("strict base64", () => {
  test("agrees with the old pattern on chosen cases", () => {
    for (const s of [
      "",
      "QQ==",
      "QUI=",
      "QUJD",
      "Q===",
      "====",
      "=",
      "==",
      "QQ=",
      "Q",
      "QQ",
      "QQQ",
      "QQ=A",
      "Q=Q=",
      "QUJD QQ==",
      "QUJD-_==",
      "QUJD\u00e9QQ=",
    ]) {
      assert.equal(isStrictBase64(s), OLD_PATTERN.test(s), JSON.stringify(s));
    }
    assert.equal(isStrictBase64(Buffer.from("hello world").toString("base64")), true);
  });

  test("agrees with the old pattern on random strings near base64", () => {
    const alphabet = fc.constantFrom(..."ABCXYZabcxyz0189+/=-_ \u00e9\n".split(""));
    let accepted = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: alphabet, maxLength: 24 }),
          fc.uint8Array({ maxLength: 20 }).map((b) => Buffer.from(b).toString("base64")),
        ),
        (s) => {
          const want = OLD_PATTERN.test(s);
          assert.equal(isStrictBase64(s), want, JSON.stringify(s));
          if (want) accepted++;
        },
      ),
      { numRuns: 20_000, seed: 19 },
    );
    assert.ok(accepted > 5_000, `only ${accepted} valid inputs generated`);
  });

  test("decodeBase64 still allows line breaks and refuses junk", () => {
    assert.deepEqual(decodeBase64("aGVs\r\nbG8="), Buffer.from("hello"));
    assert.equal(decodeBase64("aGVs bG8="), undefined);
    assert.equal(decodeBase64("aGVsbG8"), undefined);
  });
});
