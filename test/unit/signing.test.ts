import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { sha256Hex } from "../../src/artifacts/gateway-api-dto.js";
import type { GatewayApiDto } from "../../src/artifacts/types.js";
import { HEADER_REVISION, HEADER_SEQ, HEADER_SIGNATURE } from "../../src/events/topics.js";
import { judgeGatewayEvent, type TrustPolicy } from "../../src/gateway/trust.js";
import {
  type ArtifactClaims,
  ArtifactSigner,
  canonicalClaims,
  claimsMismatch,
  generateSigningKeyPair,
  TrustedKeys,
} from "../../src/security/signing.js";
import { synapseApi } from "../harness/cluster.js";

const k1 = generateSigningKeyPair();
const k2 = generateSigningKeyPair();
const attacker = generateSigningKeyPair();
const signer1 = new ArtifactSigner(k1.privateKeyPem);
const trust = (...pairs: { publicKeyPem: string }[]) => new TrustedKeys(pairs.map((p, i) => ({ pem: p.publicKeyPem, what: `k${i}` })));

const dto: GatewayApiDto = {
  name: "Signed",
  version: "1.0.0",
  provider: "admin",
  tenantDomain: "carbon.super",
  apiId: "0b7d5c1e-5f4a-4c1b-9d2e-3a4b5c6d7e8f",
  apiDefinition: synapseApi({ name: "Signed" }),
};
const json = JSON.stringify(dto);
const claims: ArtifactClaims = {
  action: "deploy",
  apiId: dto.apiId,
  tenant: "carbon.super",
  labels: ["B", "A"],
  revision: 3,
  sha256: sha256Hex(json),
  seq: 42,
  region: "r1",
};

describe("Ed25519 artifact signatures (src/security/signing.ts)", () => {
  test("a token verifies with the signer's public key and gives back the claims (labels sorted)", () => {
    const v = trust(k1).verify(signer1.sign(claims));
    assert.ok(v.ok);
    assert.deepEqual(v.claims, { ...claims, labels: ["A", "B"] });
    assert.equal(v.keyId, k1.keyId);
  });

  test("the signed bytes do not depend on label order or duplicates", () => {
    assert.deepEqual(canonicalClaims(claims), canonicalClaims({ ...claims, labels: ["A", "B", "A"] }));
  });

  test("no signature, another key, a flipped bit, a swapped payload and junk are each refused with their reason", () => {
    const keys = trust(k1);
    const token = signer1.sign(claims);
    const [v, kid, payload, sig] = token.split(".");
    assert.deepEqual(keys.verify(undefined), { ok: false, reason: "unsigned" });
    assert.deepEqual(keys.verify(""), { ok: false, reason: "unsigned" });
    assert.match(String((keys.verify(new ArtifactSigner(attacker.privateKeyPem).sign(claims)) as { reason: string }).reason), /untrusted key/);
    const flipped = Buffer.from(sig!, "base64url");
    flipped[0]! ^= 1;
    assert.deepEqual(keys.verify([v, kid, payload, flipped.toString("base64url")].join(".")), { ok: false, reason: "bad signature" });
    const other = signer1.sign({ ...claims, revision: 99 }).split(".")[2];
    assert.deepEqual(keys.verify([v, kid, other, sig].join(".")), { ok: false, reason: "bad signature" });
    // An attacker's own key id in the token cannot get past a key the verifier does not hold.
    const forged = new ArtifactSigner(attacker.privateKeyPem).sign(claims).split(".");
    assert.match(String((keys.verify([forged[0], k1.keyId, forged[2], forged[3]].join(".")) as { reason: string }).reason), /bad signature/);
    for (const junk of ["gws1.x", "gws2.a.b.c", "x".repeat(70_000), 42]) assert.equal(keys.verify(junk).ok, false);
  });

  test("rotation: a verifier holding the old and the new key accepts both; after the old one is dropped, only the new", () => {
    const signer2 = new ArtifactSigner(k2.privateKeyPem);
    const both = trust(k1, k2);
    assert.ok(both.verify(signer1.sign(claims)).ok);
    assert.ok(both.verify(signer2.sign(claims)).ok);
    const newOnly = trust(k2);
    assert.equal(newOnly.verify(signer1.sign(claims)).ok, false);
    assert.ok(newOnly.verify(signer2.sign(claims)).ok);
  });

  test("claims must name the artifact in hand: API, content, tenant, action, labels", () => {
    const facts = { action: "deploy" as const, apiId: dto.apiId, sha256: claims.sha256, tenant: "carbon.super", labels: ["A"] };
    assert.equal(claimsMismatch(claims, facts), undefined);
    assert.match(String(claimsMismatch(claims, { ...facts, apiId: "other" })), /another API/);
    assert.match(String(claimsMismatch(claims, { ...facts, sha256: "0".repeat(64) })), /other content/);
    assert.match(String(claimsMismatch(claims, { ...facts, tenant: "evil.com" })), /another tenant/);
    assert.match(String(claimsMismatch(claims, { ...facts, action: "remove" })), /signed for a deploy/);
    assert.match(String(claimsMismatch(claims, { ...facts, labels: ["A", "C"] })), /label "C"/);
  });

  test("a private key that is not Ed25519 PEM is refused", () => {
    assert.throws(() => new ArtifactSigner("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), /not an Ed25519 key/);
  });
});

describe("what a gateway believes of a DEPLOY/REMOVE event (src/gateway/trust.ts)", () => {
  const base = {
    action: "deploy" as const,
    apiId: dto.apiId,
    tenantDomain: "carbon.super",
    labels: ["A"],
    storeSeq: 10,
  };
  const fetchMode: TrustPolicy = { acceptInline: false, keys: undefined };
  const inlineMode: TrustPolicy = { acceptInline: true, keys: undefined };
  const signedInline: TrustPolicy = { acceptInline: true, keys: trust(k1) };

  test("fetch mode: an inline artifact is ignored and no header revision is trusted (issue items 1 and 2)", () => {
    const forged = { ...base, headers: { [HEADER_REVISION]: 999_999, [HEADER_SEQ]: 9_007_199_254_740_991 }, inline: dto };
    assert.deepEqual(judgeGatewayEvent(forged, fetchMode), { kind: "apply", inlineIgnored: "not-accepted" });
    assert.deepEqual(judgeGatewayEvent({ ...forged, action: "remove", inline: undefined }, fetchMode), { kind: "apply" });
  });

  test("inline accepted, signing off: the broker is trusted by configuration", () => {
    const v = judgeGatewayEvent({ ...base, headers: { [HEADER_REVISION]: 3, [HEADER_SEQ]: 11 }, inline: dto }, inlineMode);
    assert.equal(v.kind === "apply" && v.inline?.revision, 3);
  });

  test("signing on: unsigned and badly signed events are refused; a signed one gives its revision and seq", () => {
    const headers = { [HEADER_SIGNATURE]: signer1.sign(claims), [HEADER_REVISION]: 999_999 };
    const ok = judgeGatewayEvent({ ...base, headers, inline: dto }, signedInline);
    assert.ok(ok.kind === "apply" && ok.inline !== undefined);
    assert.equal(ok.inline!.revision, 3, "the signed revision, not the header");
    assert.equal(ok.inline!.seq, 42);
    const unsigned = judgeGatewayEvent({ ...base, headers: {}, inline: dto }, signedInline);
    assert.deepEqual(unsigned, { kind: "refuse", reason: "signature: unsigned", signature: true });
    const tampered = judgeGatewayEvent({ ...base, headers, inline: { ...dto, apiDefinition: dto.apiDefinition.replace("gwsync.revision", "x") } }, signedInline);
    assert.equal(tampered.kind, "refuse");
    const otherTenant = judgeGatewayEvent({ ...base, tenantDomain: "evil.com", headers, inline: dto }, signedInline);
    assert.equal(otherTenant.kind, "refuse");
    const otherLabel = judgeGatewayEvent({ ...base, labels: ["Z"], headers, inline: dto }, signedInline);
    assert.equal(otherLabel.kind, "refuse");
  });

  test("a replayed signed artifact older than what the gateway read from its store is fetched, not applied", () => {
    const headers = { [HEADER_SIGNATURE]: signer1.sign(claims) };
    assert.deepEqual(judgeGatewayEvent({ ...base, storeSeq: 42, headers, inline: dto }, signedInline), {
      kind: "apply",
      inlineIgnored: "older-than-store",
    });
  });
});
