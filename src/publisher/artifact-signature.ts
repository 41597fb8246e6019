import type { ArtifactSigner } from "../security/signing.js";
import type { StoredArtifact } from "../store/types.js";

/**
 * The signature the data API serves beside an artifact (gwsync's `items[i].signature`): the publisher
 * signs the row as its store holds it now, on that one label, with its changelog seq, so a gateway
 * that fetched it can check it came from this control plane unaltered (src/gateway/artifact-trust.ts).
 */
export function signStoredArtifact(signer: ArtifactSigner, row: StoredArtifact, region: string): string {
  return signer.sign({
    action: "deploy",
    apiId: row.apiId,
    tenant: row.tenantDomain,
    labels: [row.label],
    revision: row.revision,
    sha256: row.sha256,
    seq: row.seq,
    region,
  });
}
