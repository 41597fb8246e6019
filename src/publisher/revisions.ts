import { createTwoFilesPatch } from "diff";
import { filesOfDto } from "../artifacts/artifact-files.js";
import { parseGatewayApiDto } from "../artifacts/gateway-api-dto.js";
import { relPathOf } from "../artifacts/names.js";
import type { GatewayApiDto } from "../artifacts/types.js";
import { GwsyncError } from "../errors.js";
import type { ArtifactStore, RevisionRecord, StoredRevision } from "../store/types.js";

/** What `gwsync history` shows: the API and its revisions, newest first. */
export interface ApiHistory {
  apiId: string;
  name: string;
  version: string;
  revisions: RevisionRecord[];
}

/** One file that differs between two revisions (a path the gateway writes, or the DTO's own fields). */
export interface FileChange {
  path: string;
  status: "added" | "removed" | "modified";
}

/** What `gwsync diff` shows. */
export interface RevisionDiff {
  apiId: string;
  from: number;
  to: number;
  /** sha256 of each side: equal when the two revisions published the same bytes. */
  fromSha256: string;
  toSha256: string;
  files: FileChange[];
  /** Unified diff of every changed file (empty when nothing differs). */
  patch: string;
}

/** The pseudo-file that shows the DTO's fields other than the files (name, flags, credentials' aliases). */
export const DTO_FIELDS_FILE = "GatewayAPIDTO.json";
const MASK = "********";
/** Fields whose content is rendered as files of their own. */
const FILE_FIELDS = new Set([
  "apiDefinition",
  "defaultAPIDefinition",
  "sequenceToBeAdd",
  "endpointEntriesToBeAdd",
  "localEntriesToBeAdd",
]);

/**
 * A revision as the files a gateway would write (every one, whatever a gateway's skip list says) plus
 * the DTO's other fields, with credential passwords masked: a diff never shows a secret.
 */
export function revisionFiles(artifactJson: string): Map<string, string> {
  const dto = parseGatewayApiDto(artifactJson);
  const out = new Map<string, string>();
  for (const f of filesOfDto(dto, () => false)) out.set(relPathOf(f.kind, f.fileName), ensureNewline(f.content));
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(dto)) {
    if (FILE_FIELDS.has(k)) continue;
    rest[k] = k === "credentialsToBeAdd" ? maskCredentials(v) : v;
  }
  out.set(DTO_FIELDS_FILE, `${JSON.stringify(rest, null, 2)}\n`);
  return out;
}

function ensureNewline(text: string): string {
  return text.endsWith("\n") ? text : `${text}\n`;
}

function maskCredentials(v: unknown): unknown {
  if (!Array.isArray(v)) return MASK;
  return v.map((c) =>
    c !== null && typeof c === "object" ? { ...(c as Record<string, unknown>), password: MASK } : MASK,
  );
}

/** A unified diff of two revisions, file by file (`a/<path>` → `b/<path>`), in path order. */
export function diffRevisions(apiId: string, from: StoredRevision, to: StoredRevision): RevisionDiff {
  const a = revisionFiles(bytesOf(apiId, from));
  const b = revisionFiles(bytesOf(apiId, to));
  const paths = [...new Set([...a.keys(), ...b.keys()])].sort();
  const files: FileChange[] = [];
  let patch = "";
  const fromLabel = `revision ${from.record.revision}`;
  const toLabel = `revision ${to.record.revision}`;
  for (const path of paths) {
    const before = a.get(path);
    const after = b.get(path);
    if (before === after) continue;
    files.push({
      path,
      status: before === undefined ? "added" : after === undefined ? "removed" : "modified",
    });
    patch += createTwoFilesPatch(
      before === undefined ? "/dev/null" : `a/${path}`,
      after === undefined ? "/dev/null" : `b/${path}`,
      before ?? "",
      after ?? "",
      fromLabel,
      toLabel,
    );
  }
  return {
    apiId,
    from: from.record.revision,
    to: to.record.revision,
    fromSha256: from.record.sha256,
    toSha256: to.record.sha256,
    files,
    patch,
  };
}

function bytesOf(apiId: string, r: StoredRevision): string {
  if (r.artifactJson === undefined) throw contentGone(apiId, r.record.revision);
  return r.artifactJson;
}

export function contentGone(apiId: string, revision: number): GwsyncError {
  return new GwsyncError(
    "GWSYNC_NOT_FOUND",
    `the store no longer holds the artifact of API ${apiId} revision ${revision} (only its record): it cannot be rolled back to or diffed`,
    { details: { apiId, revision } },
  );
}

/** A revision the store must have; GWSYNC_NOT_FOUND naming what exists when it does not. */
export async function requireRevision(
  store: ArtifactStore,
  apiId: string,
  revision: number,
): Promise<StoredRevision> {
  if (!Number.isSafeInteger(revision) || revision < 1) {
    throw new GwsyncError("GWSYNC_USAGE", `a revision is a positive integer, got ${revision}`);
  }
  const r = await store.getRevision(apiId, revision);
  if (r !== undefined) return r;
  const latest = (await store.apiHistory(apiId, 1))[0];
  throw new GwsyncError(
    "GWSYNC_NOT_FOUND",
    latest === undefined
      ? `API ${apiId} has no revisions in the store`
      : `API ${apiId} has no revision ${revision} (its latest is ${latest.revision}; gwsync history lists them)`,
    { details: { apiId, revision } },
  );
}

/** The DTO a revision holds, checked to be the API asked for (a store is the authority, still checked). */
export function dtoOfRevision(apiId: string, r: StoredRevision): { dto: GatewayApiDto; artifactJson: string } {
  const artifactJson = bytesOf(apiId, r);
  const dto = parseGatewayApiDto(artifactJson);
  if (dto.apiId !== apiId) {
    throw new GwsyncError(
      "GWSYNC_STORE_FAILED",
      `revision ${r.record.revision} of API ${apiId} holds an artifact of API ${dto.apiId}: the store is inconsistent`,
      { retryable: false },
    );
  }
  return { dto, artifactJson };
}
