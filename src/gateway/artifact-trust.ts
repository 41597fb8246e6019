import { claimsMismatch, type TrustedKeys } from "../security/signing.js";
import type { RetrievedArtifact } from "./retriever.js";

/**
 * With [gwsync.signing] trusted_keys, an artifact fetched from the data API must carry the control
 * plane's signature of exactly that row: API, tenant, label, revision, content and changelog seq
 * (src/publisher/artifact-signature.ts). Returns why it is refused, or undefined. The retriever lists a
 * refused artifact as rejected: it is not deployed, and what was deployed of it before stays.
 */
export function fetchedArtifactRefusal(
  keys: TrustedKeys,
  item: RetrievedArtifact,
  signature: unknown,
): string | undefined {
  const v = keys.verify(signature);
  if (!v.ok) return `signature: ${v.reason}`;
  const mismatch = claimsMismatch(v.claims, {
    action: "deploy",
    apiId: item.apiId,
    sha256: item.sha256,
    tenant: item.dto.tenantDomain,
    labels: [item.label],
    revision: item.revision,
    seq: item.seq,
  });
  return mismatch === undefined ? undefined : `signature: ${mismatch}`;
}
