import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, test } from "node:test";
import { renderConfigCheck } from "../../src/config/check.js";
import { loadConfig } from "../../src/config/load-config.js";
import { createLogger } from "../../src/log.js";
import { isSecretKey, MASK, maskSecrets, maskText } from "../../src/security/secrets.js";

const JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl";
const PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----";

/** One log record, as the logger writes it. */
function logged(fields: Record<string, unknown>, msg = "m"): string {
  let out = "";
  const destination = new Writable({
    write(chunk, _e, done) {
      out += String(chunk);
      done();
    },
  });
  createLogger({ destination }).info(fields, msg);
  return out;
}

describe("one secrets masker for logs, config check and HTTP snapshots", () => {
  test("a field is a secret by its name in any spelling; where a secret is, is not one", () => {
    for (const k of [
      "password",
      "Password",
      "revokedToken",
      "client-secret",
      "API_KEY",
      "authorization",
      "cookie",
    ])
      assert.equal(isSecretKey(k), true, k);
    for (const k of [
      "password_file",
      "passwordFile",
      "tokenType",
      "token_endpoint",
      "private_key_file",
      "username",
    ])
      assert.equal(isSecretKey(k), false, k);
  });

  test("a credential is masked by its value wherever it sits: logs, config check and snapshots alike", () => {
    const value = {
      note: JWT,
      list: [PEM],
      hdr: "Bearer abcdefgh12345678",
      url: "amqp://u:Url-S3cret@h:5672/",
    };
    const line = logged({ value });
    for (const secret of [JWT, "MIIEvQ", "abcdefgh12345678", "Url-S3cret"])
      assert.ok(!line.includes(secret), line);
    const masked = JSON.stringify(maskSecrets(value));
    for (const secret of [JWT, "MIIEvQ", "abcdefgh12345678", "Url-S3cret"])
      assert.ok(!masked.includes(secret), masked);
    // A URL keeps what operators need: only its password goes.
    assert.match(masked, /amqp:\/\/u:\*\*\*@h:5672\//);
  });

  test("a JWT quoted inside a text is masked in place; prose that merely starts like a scheme is kept", () => {
    assert.equal(maskText(`revoked ${JWT} at 12:00`), `revoked ${MASK} at 12:00`);
    assert.equal(
      maskText("Basic credentials refused by the publisher"),
      "Basic credentials refused by the publisher",
    );
    assert.equal(maskText(`Basic ${Buffer.from("admin:secret-pass").toString("base64")}`), MASK);
  });

  test("what is too deep to walk is masked whole in logs too (fail closed)", () => {
    let deep: unknown = { note: "Deep-S3cret-in-a-plain-field" };
    for (let i = 0; i < 30; i++) deep = { a: deep };
    assert.ok(!logged({ deep }).includes("Deep-S3cret"));
    assert.ok(!JSON.stringify(maskSecrets(deep)).includes("Deep-S3cret"));
  });

  test("a count under a plural secret name stays readable; a string under it does not", () => {
    assert.deepEqual(maskSecrets({ tokens: 3, maxRevokedTokens: 100_000, secrets: "s3cret" }), {
      tokens: 3,
      maxRevokedTokens: 100_000,
      secrets: MASK,
    });
  });

  test("config check shows limits named after tokens and masks a JWT given as any value", () => {
    const result = loadConfig({
      text: `[gwsync]\nnode_id = "n1"\nmax_revoked_tokens = 5000\n[apim.event_hub]\nusername = "${JWT}"\n`,
      env: {},
      baseDir: "/srv",
    });
    const text = renderConfigCheck(result);
    assert.match(text, /"maxRevokedTokens": 5000/);
    assert.ok(!text.includes(JWT), text);
  });
});
