import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from "node:crypto";
import { GwsyncError } from "../errors.js";

/**
 * Signed artifacts (docs/production.md, "Signed artifacts"). A publisher signs what it announces and
 * serves with Ed25519 (node:crypto); gateways, relays and region ingresses hold the trusted public
 * keys and refuse what is unsigned or badly signed. The signature travels as one compact token,
 *
 *   gws1.<key id>.<base64url(canonical claims JSON)>.<base64url(Ed25519 signature of that JSON)>
 *
 * in the x-gwsync-signature header of DEPLOY/REMOVE events, beside each item of the data API and in
 * each change of a region-sync message. The claims name the artifact completely (API, tenant, labels,
 * revision, sha256) and where it sits in its store's changelog (region, seq): a replayed old message is
 * recognised by its revision (not above what the gateway applied) or by its seq (not above what the
 * gateway has read from the store since), and then the store is asked instead.
 */
export const SIGNATURE_VERSION = "gws1";
/** What the signature is for: a token signed for anything else never verifies as an artifact. */
export const ARTIFACT_PURPOSE = "gwsync.artifact";
/** A token is a few hundred bytes; anything much larger is not one (bounded before it is parsed). */
export const MAX_TOKEN_LENGTH = 64 * 1024;

export interface ArtifactClaims {
  action: "deploy" | "remove";
  apiId: string;
  tenant: string;
  /** The gateway labels the signer published this revision to (sorted, unique). */
  labels: string[];
  revision: number;
  /** sha256 hex of the GatewayAPIDTO JSON exactly as stored and served. */
  sha256: string;
  /** The changelog sequence of this change in the signer's store. */
  seq: number;
  /** The region whose store the seq belongs to. */
  region: string;
}

/** The bytes signed: JSON with a fixed key order and sorted labels, so signer and verifier agree. */
export function canonicalClaims(c: ArtifactClaims): Buffer {
  return Buffer.from(
    JSON.stringify({
      v: SIGNATURE_VERSION,
      purpose: ARTIFACT_PURPOSE,
      action: c.action,
      apiId: c.apiId,
      tenant: c.tenant,
      labels: [...new Set(c.labels)].sort(),
      revision: c.revision,
      sha256: c.sha256,
      seq: c.seq,
      region: c.region,
    }),
    "utf8",
  );
}

/** A key's id: the first 16 hex digits of the sha256 of its public key (SPKI DER). */
export function keyIdOf(key: KeyObject): string {
  const publicKey = key.type === "private" ? createPublicKey(key) : key;
  return createHash("sha256").update(publicKey.export({ type: "spki", format: "der" })).digest("hex").slice(0, 16);
}

function b64url(buf: Buffer): string {
  return buf.toString("base64url");
}

function invalidKey(what: string, cause: unknown): GwsyncError {
  return new GwsyncError("GWSYNC_CONFIG_INVALID", `${what} is not an Ed25519 key in PEM form (gwsync keys generate writes one)`, {
    cause,
  });
}

/** A publisher's (or relay's) signing key. */
export class ArtifactSigner {
  readonly keyId: string;
  readonly #key: KeyObject;

  constructor(privateKeyPem: string | Buffer, what = "private_key_file") {
    let key: KeyObject;
    try {
      key = createPrivateKey(privateKeyPem);
    } catch (err) {
      throw invalidKey(what, err);
    }
    if (key.asymmetricKeyType !== "ed25519") throw invalidKey(what, undefined);
    this.#key = key;
    this.keyId = keyIdOf(key);
  }

  sign(claims: ArtifactClaims): string {
    const payload = canonicalClaims(claims);
    const signature = sign(null, payload, this.#key);
    return `${SIGNATURE_VERSION}.${this.keyId}.${b64url(payload)}.${b64url(signature)}`;
  }
}

export type VerifyResult = { ok: true; claims: ArtifactClaims; keyId: string } | { ok: false; reason: string };

const CLAIM_KEYS = ["v", "purpose", "action", "apiId", "tenant", "labels", "revision", "sha256", "seq", "region"];

function claimsOf(value: unknown): ArtifactClaims | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const v = value as Record<string, unknown>;
  if (Object.keys(v).join() !== CLAIM_KEYS.join()) return undefined;
  const { action, apiId, tenant, labels, revision, sha256, seq, region } = v;
  if (v.v !== SIGNATURE_VERSION || v.purpose !== ARTIFACT_PURPOSE) return undefined;
  if (action !== "deploy" && action !== "remove") return undefined;
  if (typeof apiId !== "string" || typeof tenant !== "string" || typeof region !== "string") return undefined;
  if (typeof sha256 !== "string" || !/^[0-9a-f]{64}$/.test(sha256)) return undefined;
  if (!Number.isSafeInteger(revision) || !Number.isSafeInteger(seq)) return undefined;
  if (!Array.isArray(labels) || !labels.every((l) => typeof l === "string")) return undefined;
  return { action, apiId, tenant, labels, revision: revision as number, sha256, seq: seq as number, region };
}

/** The public keys a verifier trusts, by key id: several at once, so keys can be rotated. */
export class TrustedKeys {
  readonly #keys = new Map<string, KeyObject>();

  constructor(publicKeyPems: readonly { pem: string | Buffer; what: string }[]) {
    for (const { pem, what } of publicKeyPems) {
      let key: KeyObject;
      try {
        key = createPublicKey(pem);
      } catch (err) {
        throw invalidKey(what, err);
      }
      if (key.asymmetricKeyType !== "ed25519") throw invalidKey(what, undefined);
      this.#keys.set(keyIdOf(key), key);
    }
  }

  get size(): number {
    return this.#keys.size;
  }

  get keyIds(): string[] {
    return [...this.#keys.keys()];
  }

  /** Checks a token's form, key and signature; the caller then compares the claims with the artifact. */
  verify(token: unknown): VerifyResult {
    if (typeof token !== "string" || token === "") return { ok: false, reason: "unsigned" };
    if (token.length > MAX_TOKEN_LENGTH) return { ok: false, reason: "signature token too long" };
    const parts = token.split(".");
    if (parts.length !== 4 || parts[0] !== SIGNATURE_VERSION) return { ok: false, reason: "malformed signature" };
    const [, keyId = "", payloadText = "", signatureText = ""] = parts;
    const key = this.#keys.get(keyId);
    if (key === undefined) return { ok: false, reason: `signed by untrusted key ${keyId.slice(0, 16)}` };
    const payload = Buffer.from(payloadText, "base64url");
    const signature = Buffer.from(signatureText, "base64url");
    if (!verify(null, payload, key, signature)) return { ok: false, reason: "bad signature" };
    let claims: ArtifactClaims | undefined;
    try {
      claims = claimsOf(JSON.parse(payload.toString("utf8")));
    } catch {
      claims = undefined;
    }
    // The signature held, so the claims are the signer's; only an incompatible signer writes others.
    if (claims === undefined) return { ok: false, reason: "signature claims are not gwsync artifact claims" };
    return { ok: true, claims, keyId };
  }
}

/** What a verifier knows about the artifact in hand, to compare with the signed claims. */
export interface ArtifactFacts {
  action: "deploy" | "remove";
  apiId: string;
  /** sha256 of the artifact in hand (deploys; a remove names no content). */
  sha256?: string;
  tenant?: string;
  /** Labels the artifact is being applied to: each must be among the signed ones. */
  labels: readonly string[];
  revision?: number;
  seq?: number;
}

/** Why verified claims do not describe this artifact, or undefined when they do. */
export function claimsMismatch(c: ArtifactClaims, f: ArtifactFacts): string | undefined {
  if (c.action !== f.action) return `signed for a ${c.action}, not a ${f.action}`;
  if (c.apiId !== f.apiId) return "signed for another API";
  if (f.sha256 !== undefined && c.sha256 !== f.sha256) return "signed for other content (sha256)";
  if (f.tenant !== undefined && c.tenant !== f.tenant) return "signed for another tenant";
  if (f.revision !== undefined && c.revision !== f.revision) return "signed for another revision";
  if (f.seq !== undefined && c.seq !== f.seq) return "signed for another changelog seq";
  const signed = new Set(c.labels);
  const foreign = f.labels.filter((l) => !signed.has(l));
  if (foreign.length > 0) return `not signed for label ${JSON.stringify(foreign[0])}`;
  return undefined;
}

/** A bounded label for the signature metric (the reason itself may name a key or a label). */
export function signatureReasonLabel(reason: string): string {
  if (/unsigned/.test(reason)) return "unsigned";
  if (/untrusted key/.test(reason)) return "untrusted-key";
  if (/bad signature/.test(reason)) return "bad-signature";
  if (/malformed|too long|not gwsync artifact claims/.test(reason)) return "malformed";
  return "mismatch";
}

/** A new Ed25519 key pair as PEM (PKCS#8 private, SPKI public) and its key id. */
export function generateSigningKeyPair(): { privateKeyPem: string; publicKeyPem: string; keyId: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
    keyId: keyIdOf(publicKey),
  };
}
