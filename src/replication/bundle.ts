import { createPrivateKey, createPublicKey, sign, verify } from "node:crypto";
import { z } from "zod";
import { canonicalJson, sha256Hex } from "../artifacts/gateway-api-dto.js";
import { GwsyncError } from "../errors.js";
import type { ArtifactStore } from "../store/types.js";

/**
 * A replication bundle: the master's state (full) or its changes since a sequence (incremental), for
 * a clone that has no link to its master (OAM's export/import). Self-describing: a manifest names the
 * master region, the labels, the sequence the bundle brings a clone to and every entry with its
 * sha256; the digest covers the manifest, and the master's Ed25519 signature covers the digest when
 * the master has a signing key ([gwsync.signing] private_key_file). Artifacts are keyed by sha256.
 */
export const BUNDLE_KIND = "gwsync.replication-bundle";
export const BUNDLE_VERSION = 1;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const EXPORT_PAGE = 500;
const CHANGES_PAGE = 10_000;

const entrySchema = z.strictObject({
  apiId: z.string().min(1).max(255),
  label: z.string().min(1).max(255),
  instruction: z.enum(["Publish", "Remove"]),
  /** The master's changelog sequence of this (api, label)'s state. */
  seq: z.number().int().nonnegative(),
  revision: z.number().int().nonnegative(),
  sha256: z.string().regex(SHA256_HEX),
});
export type BundleEntry = z.infer<typeof entrySchema>;

const manifestSchema = z.strictObject({
  masterRegion: z.string().min(1).max(255),
  createdAt: z.string(),
  labels: z.array(z.string().min(1).max(255)).min(1),
  /** Full: every API published to the labels. Incremental: the changes after `since`. */
  full: z.boolean(),
  since: z.number().int().nonnegative(),
  /** The master's sequence a clone stands at once it imported the bundle. */
  sequence: z.number().int().nonnegative(),
  entries: z.array(entrySchema),
});
export type BundleManifest = z.infer<typeof manifestSchema>;

const bundleSchema = z.strictObject({
  kind: z.literal(BUNDLE_KIND),
  version: z.literal(BUNDLE_VERSION),
  manifest: manifestSchema,
  /** sha256 hex of the manifest's canonical JSON. */
  digest: z.string().regex(SHA256_HEX),
  /** base64 Ed25519 signature of the digest's bytes (hex text) by the master, when it signs. */
  signature: z.string().max(1024).optional(),
  artifacts: z.record(z.string().regex(SHA256_HEX), z.string()),
});
export type Bundle = z.infer<typeof bundleSchema>;

function digestOf(manifest: BundleManifest): string {
  return sha256Hex(canonicalJson(manifest));
}

/** Export the store's state of `labels` (full) or its changes after `since` into a bundle. */
export async function exportBundle(
  store: ArtifactStore,
  o: { region: string; labels: string[]; since?: number; privateKeyPem?: string; now?: Date },
): Promise<Bundle> {
  if (o.labels.length === 0) throw new GwsyncError("GWSYNC_USAGE", "export needs at least one label");
  const head = await store.headSeq();
  const entries: BundleEntry[] = [];
  const artifacts: Record<string, string> = {};
  let sequence = head;
  if (o.since === undefined) {
    for (const label of o.labels) {
      let after = "";
      for (;;) {
        const page = await store.listArtifactPage(label, after, EXPORT_PAGE);
        for (const a of page) {
          entries.push({
            apiId: a.apiId,
            label,
            instruction: "Publish",
            seq: a.seq,
            revision: a.revision,
            sha256: a.sha256,
          });
          artifacts[a.sha256] = a.artifactJson;
        }
        if (page.length < EXPORT_PAGE) break;
        after = page.at(-1)!.apiId;
      }
    }
  } else {
    let since = o.since;
    for (;;) {
      const changes = await store.changesSince(since, o.labels, CHANGES_PAGE);
      for (const c of changes) {
        // Only each (api, label)'s current state: a superseded change is followed by the one that replaced it.
        const now = await store.getArtifact(c.apiId, c.label);
        if (now === undefined || now.seq !== c.seq) continue;
        entries.push({
          apiId: c.apiId,
          label: c.label,
          instruction: c.instruction,
          seq: c.seq,
          revision: c.revision,
          sha256: now.sha256,
        });
        if (c.instruction === "Publish") artifacts[now.sha256] = now.artifactJson;
      }
      if (changes.length < CHANGES_PAGE) break;
      since = changes.at(-1)!.seq;
    }
    sequence = Math.max(head, since, ...entries.map((e) => e.seq));
  }
  entries.sort((a, b) => a.seq - b.seq);
  const manifest: BundleManifest = {
    masterRegion: o.region,
    createdAt: (o.now ?? new Date()).toISOString(),
    labels: o.labels,
    full: o.since === undefined,
    since: o.since ?? 0,
    sequence,
    entries,
  };
  const digest = digestOf(manifest);
  const signature =
    o.privateKeyPem === undefined
      ? undefined
      : sign(null, Buffer.from(digest, "utf8"), createPrivateKey(o.privateKeyPem)).toString("base64");
  return {
    kind: BUNDLE_KIND,
    version: BUNDLE_VERSION,
    manifest,
    digest,
    ...(signature === undefined ? {} : { signature }),
    artifacts,
  };
}

/**
 * Check a bundle before anything is applied: its shape, the digest of its manifest, every Publish
 * entry's artifact present with its sha256, and, when the clone trusts keys ([gwsync.signing]
 * trusted_key_files), a signature by one of them. Throws GWSYNC_ARTIFACT_INVALID naming what fails.
 */
export function verifyBundle(input: unknown, trustedKeys: readonly { pem: string; file: string }[]): Bundle {
  const r = bundleSchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new GwsyncError(
      "GWSYNC_ARTIFACT_INVALID",
      `not a gwsync replication bundle: ${issue ? `${issue.path.join(".") || "value"} ${issue.message}` : "invalid"}`,
    );
  }
  const b = r.data;
  if (digestOf(b.manifest) !== b.digest) {
    throw new GwsyncError(
      "GWSYNC_ARTIFACT_INVALID",
      "bundle manifest does not match its digest (altered or truncated)",
    );
  }
  for (const [sha, text] of Object.entries(b.artifacts)) {
    if (sha256Hex(text) !== sha) {
      throw new GwsyncError(
        "GWSYNC_ARTIFACT_INVALID",
        `bundle artifact ${sha.slice(0, 12)}… does not match its sha256`,
      );
    }
  }
  for (const e of b.manifest.entries) {
    if (e.instruction === "Publish" && b.artifacts[e.sha256] === undefined) {
      throw new GwsyncError(
        "GWSYNC_ARTIFACT_INVALID",
        `bundle entry ${e.apiId} on "${e.label}" has no artifact ${e.sha256.slice(0, 12)}…`,
      );
    }
  }
  if (trustedKeys.length > 0) {
    if (b.signature === undefined) {
      throw new GwsyncError(
        "GWSYNC_ARTIFACT_INVALID",
        "bundle is not signed, and this publisher trusts signed artifacts only ([gwsync.signing] trusted_key_files)",
      );
    }
    const sig = Buffer.from(b.signature, "base64");
    const ok = trustedKeys.some((k) => {
      try {
        return verify(null, Buffer.from(b.digest, "utf8"), createPublicKey(k.pem), sig);
      } catch {
        return false;
      }
    });
    if (!ok) {
      throw new GwsyncError(
        "GWSYNC_ARTIFACT_INVALID",
        "bundle signature is not by a trusted key ([gwsync.signing] trusted_key_files)",
      );
    }
  }
  return b;
}
