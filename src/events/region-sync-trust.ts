import { parseGatewayApiDto } from "../artifacts/gateway-api-dto.js";
import { type ArtifactClaims, claimsMismatch, type TrustedKeys } from "../security/signing.js";
import type { RegionSyncChange, RegionSyncMessage } from "./region-sync.js";

/** What the relay signs of one change, as the receiving ingress checks it (src/publisher/region-ingress.ts). */
export function changeClaims(apiId: string, origin: string, tenant: string, c: RegionSyncChange): ArtifactClaims {
  return {
    action: c.instruction === "Publish" ? "deploy" : "remove",
    apiId,
    tenant,
    labels: c.labels,
    revision: c.revision,
    sha256: c.sha256,
    seq: c.originSeq,
    region: origin,
  };
}

/**
 * With [gwsync.signing] trusted_keys on the receiving publisher, every change of a region-sync message
 * must carry a valid signature of a trusted key (the origin relay's) naming exactly that change, or
 * nothing of the message is stored. Returns why not, or undefined.
 */
export function regionSyncRefusal(m: RegionSyncMessage, keys: TrustedKeys): string | undefined {
  for (const c of m.changes) {
    const v = keys.verify(c.signature);
    if (!v.ok) return `signature of API ${m.apiId} from ${m.origin}: ${v.reason}`;
    let tenant: string;
    try {
      tenant = parseGatewayApiDto(c.artifact).tenantDomain;
    } catch (err) {
      return (err as Error).message;
    }
    const expected = changeClaims(m.apiId, m.origin, tenant, c);
    const mismatch = claimsMismatch(v.claims, expected) ?? (v.claims.region === m.origin ? undefined : "signed in another region");
    if (mismatch !== undefined) return `signature of API ${m.apiId} from ${m.origin}: ${mismatch}`;
  }
  return undefined;
}
