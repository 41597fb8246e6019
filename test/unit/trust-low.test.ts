import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { validateDto } from "../../src/artifacts/gateway-api-dto.js";
import type { GatewayApiDto } from "../../src/artifacts/types.js";
import { isGwsyncError } from "../../src/errors.js";
import { sameSecret } from "../../src/security/exposure.js";
import { isSecretKey, looksLikeSecretValue, MASK, maskSecrets } from "../../src/security/secrets.js";
import { synapseApi } from "../harness/cluster.js";

function pizza(extra: Partial<GatewayApiDto>): GatewayApiDto {
  return {
    name: "PizzaShackAPI",
    version: "1.0.0",
    provider: "admin",
    tenantDomain: "carbon.super",
    apiId: "6a3a3bb3-6d2e-4c2b-9a3e-1f2d3c4b5a60",
    apiDefinition: synapseApi({ name: "PizzaShackAPI" }),
    ...extra,
  };
}

const invalid = (pattern: RegExp) => (err: unknown) =>
  isGwsyncError(err) && /GWSYNC_ARTIFACT_(INVALID|NAME_UNSAFE)/.test(err.code) && pattern.test(err.message);

/**
 * Issue "Low": a fragment is deployed by Synapse under the name in its XML, not its file name
 * (wso2-synapse SequenceDeployer.java:68, src/security/fragment-names.ts), so the two must agree.
 */
describe("fragment names are checked against their XML root", () => {
  test("sequences/notmain.xml holding <sequence name=\"main\"> is refused (it would replace main past the skip list)", () => {
    assert.throws(
      () => validateDto(pizza({ sequenceToBeAdd: [{ name: "notmain", content: '<sequence xmlns="http://ws.apache.org/ns/synapse" name="main"/>' }] })),
      invalid(/sequence "notmain".*declares name="main"/),
    );
  });

  test("an endpoint or local entry named otherwise in its XML, or with the wrong root, is refused", () => {
    assert.throws(() => validateDto(pizza({ endpointEntriesToBeAdd: [{ name: "ep1", content: '<endpoint name="ep2"/>' }] })), invalid(/declares name="ep2"/));
    assert.throws(() => validateDto(pizza({ localEntriesToBeAdd: [{ name: "k1", content: '<localEntry key="k2"/>' }] })), invalid(/declares key="k2"/));
    assert.throws(() => validateDto(pizza({ sequenceToBeAdd: [{ name: "s1", content: '<endpoint name="s1"/>' }] })), invalid(/must be <sequence>/));
    assert.throws(() => validateDto(pizza({ sequenceToBeAdd: [{ name: "s1", content: "<sequence/>" }] })), invalid(/declares name=null/));
  });

  test("matching names pass, with or without a namespace prefix", () => {
    validateDto(
      pizza({
        sequenceToBeAdd: [{ name: "admin--PizzaShackAPI:v1.0.0--In", content: '<syn:sequence xmlns:syn="http://ws.apache.org/ns/synapse" name="admin--PizzaShackAPI:v1.0.0--In"/>' }],
        endpointEntriesToBeAdd: [{ name: "ep", content: '<endpoint name="ep"><address uri="http://b/"/></endpoint>' }],
        localEntriesToBeAdd: [{ name: "k", content: '<localEntry key="k">x</localEntry>' }],
      }),
    );
  });
});

describe("client-certificate and credential aliases follow the artifact name rules", () => {
  test("../../../etc/cert and friends are refused, to add and to remove", () => {
    for (const alias of ["../../../etc/cert", "a/b", "", "x".repeat(300), "évil"]) {
      assert.throws(() => validateDto(pizza({ clientCertificatesToBeAdd: [{ name: alias, content: "-----BEGIN CERTIFICATE-----" }] })), invalid(/client certificate alias/));
      assert.throws(() => validateDto(pizza({ clientCertificatesToBeRemove: [alias] })), invalid(/client certificate alias to remove/));
      assert.throws(() => validateDto(pizza({ credentialsToBeAdd: [{ alias, password: "p" }] })), invalid(/credential alias/));
    }
    validateDto(pizza({ clientCertificatesToBeAdd: [{ name: "alias_-1234", content: "-----BEGIN CERTIFICATE-----" }] }));
  });
});

describe("key-manager secrets are masked by field name in any spelling and by value", () => {
  test("access_token, refresh_token, clientSecret, API-Key, private_key are masked; endpoints and token types are not", () => {
    for (const k of ["access_token", "refreshToken", "id_token", "token", "client_secret", "consumerSecret", "API-Key", "private_key", "password", "pwd", "Authorization"]) {
      assert.equal(isSecretKey(k), true, k);
    }
    for (const k of ["token_endpoint", "tokenType", "authorization_endpoint", "revoke_endpoint", "client_id", "issuer", "certificate_type", "token_url"]) {
      assert.equal(isSecretKey(k), false, k);
    }
  });

  test("JWTs, PEM private keys, Authorization values and URLs with passwords are masked wherever they sit", () => {
    const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl";
    const config = {
      client_id: "public-id",
      token_endpoint: "https://idp.example.com/oauth2/token",
      access_token: "opaque-7f3a",
      additionalProperties: { note: jwt, list: ["-----BEGIN PRIVATE KEY-----\nMIIE..."], hdr: "Bearer abcdefgh12345678" },
      introspect: "https://admin:Idp-S3cret@idp.example.com/introspect",
    };
    const masked = maskSecrets(config) as Record<string, unknown>;
    const text = JSON.stringify(masked);
    for (const secret of ["opaque-7f3a", jwt, "MIIE", "abcdefgh12345678", "Idp-S3cret"]) assert.ok(!text.includes(secret), `${secret} in ${text}`);
    assert.equal(masked.client_id, "public-id");
    assert.equal(masked.token_endpoint, "https://idp.example.com/oauth2/token");
    assert.equal(masked.access_token, MASK);
    assert.equal(looksLikeSecretValue("https://idp.example.com/oauth2/token"), false);
  });

  test("what is too deep to walk is masked whole (fail closed)", () => {
    let deep: unknown = { client_secret: "Deep-S3cret" };
    for (let i = 0; i < 30; i++) deep = { a: deep };
    assert.ok(!JSON.stringify(maskSecrets(deep)).includes("Deep-S3cret"));
  });
});

describe("credential compare", () => {
  test("equal, different, and different-length secrets compare right (hashes: no length early exit)", () => {
    assert.equal(sameSecret("a-long-enough-secret", "a-long-enough-secret"), true);
    assert.equal(sameSecret("a-long-enough-secreT", "a-long-enough-secret"), false);
    assert.equal(sameSecret("short", "a-long-enough-secret"), false);
    assert.equal(sameSecret("", ""), true);
  });
});
