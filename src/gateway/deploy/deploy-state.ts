import { z } from "zod";
import { nameProblem, parseRelPath } from "../../artifacts/names.js";
import { GwsyncError } from "../../errors.js";
import { isJsonRecord, parseJsonText } from "../../security/json-limits.js";
import { writeFileAtomic } from "../../security/safe-write.js";
import type { DeployFs } from "./deploy-fs.js";
import type { DeployedApi } from "./deployer.js";

/** Bumped when the state file's shape changes incompatibly. */
export const STATE_FORMAT_VERSION = 1;

const deployedFileSchema = z
  .object({
    kind: z.enum(["api", "sequence", "endpoint", "localEntry"]),
    relPath: z.string(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
  })
  // The state file is a boundary too: a path in it must be one the deployer could have written.
  .refine((f) => safeRelPathOf(f.relPath, f.kind), { message: "not a safe <folder>/<file>.xml path" });

// The deployer packs these NUL-separated (PackedApi); no valid name or XML attribute holds NUL.
const text = z.string().refine((s) => !s.includes("\u0000"), { message: "holds NUL" });

const deployedApiSchema = z.object({
  apiId: z.string().refine((id) => nameProblem(id) === undefined, { message: "not a safe apiId" }),
  name: text,
  version: text,
  provider: text,
  context: text,
  labels: z.array(z.string()),
  revision: z.number(),
  // Empty after a partial deploy: the next deploy of the API rewrites every file.
  sha256: z.string().regex(/^([0-9a-f]{64})?$/),
  seq: z.number(),
  files: z.array(deployedFileSchema),
  deployedAt: z.number(),
});

export const stateSchema = z.object({
  format: z.literal(STATE_FORMAT_VERSION),
  apis: z.array(deployedApiSchema),
});

function safeRelPathOf(relPath: string, kind: string): boolean {
  try {
    return parseRelPath(relPath).kind === kind;
  } catch {
    return false;
  }
}

/** Reads the last-known-good state; a missing file is an empty state. */
export async function readDeployState(fs: DeployFs, stateFile: string): Promise<DeployedApi[]> {
  let text: string;
  try {
    text = await fs.readFile(stateFile, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new GwsyncError(
      "GWSYNC_DEPLOY_IO",
      `cannot read deploy state ${stateFile}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  let json: unknown;
  try {
    json = parseJsonText(text);
  } catch (err) {
    throw corrupt(stateFile, (err as Error).message, err);
  }
  const plain = plainDeployState(json);
  if (plain !== undefined) return plain;
  const parsed = stateSchema.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw corrupt(stateFile, `${first?.path.join(".") ?? ""}: ${first?.message ?? "invalid"}`, parsed.error);
  }
  return parsed.data.apis;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;
const SHA256_HEX_OR_EMPTY = /^([0-9a-f]{64})?$/;
const FILE_KINDS: ReadonlySet<unknown> = new Set(deployedFileSchema.shape.kind.options);
const isText = (v: unknown): v is string => typeof v === "string" && !v.includes("\u0000");
const isNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/**
 * stateSchema's answer for a state file as gwsync writes it, without zod (issue 19, B7: zod took ~0.1 s
 * of a restart with 10,000 APIs, before anything else could start): the same checks, and objects with
 * the schema's members only, as zod gives them. Undefined for anything unusual, which the schema then
 * decides and words.
 */
export function plainDeployState(json: unknown): DeployedApi[] | undefined {
  if (!isJsonRecord(json) || json.format !== STATE_FORMAT_VERSION || !Array.isArray(json.apis)) return undefined;
  const out: DeployedApi[] = [];
  for (const a of json.apis as unknown[]) {
    if (!isJsonRecord(a)) return undefined;
    const { apiId, name, version, provider, context, labels, revision, sha256, seq, files, deployedAt } = a;
    if (typeof apiId !== "string" || nameProblem(apiId) !== undefined) return undefined;
    if (!isText(name) || !isText(version) || !isText(provider) || !isText(context)) return undefined;
    if (!Array.isArray(labels) || !labels.every((l) => typeof l === "string")) return undefined;
    if (!isNumber(revision) || !isNumber(seq) || !isNumber(deployedAt)) return undefined;
    if (typeof sha256 !== "string" || !SHA256_HEX_OR_EMPTY.test(sha256)) return undefined;
    if (!Array.isArray(files)) return undefined;
    const outFiles: DeployedApi["files"] = [];
    for (const f of files as unknown[]) {
      if (!isJsonRecord(f)) return undefined;
      const { kind, relPath, sha256: fileSha } = f;
      if (!FILE_KINDS.has(kind) || typeof relPath !== "string") return undefined;
      if (typeof fileSha !== "string" || !SHA256_HEX.test(fileSha)) return undefined;
      if (!safeRelPathOf(relPath, kind as string)) return undefined;
      outFiles.push({ kind: kind as DeployedApi["files"][number]["kind"], relPath, sha256: fileSha });
    }
    out.push({
      apiId,
      name,
      version,
      provider,
      context,
      labels: labels.slice() as string[],
      revision,
      sha256,
      seq,
      files: outFiles,
      deployedAt,
    });
  }
  return out;
}

/** APIs per chunk of the state file: ~200 KB strings instead of one of ~40 MB for 100,000 APIs. */
const STATE_CHUNK_APIS = 500;

export async function writeDeployState(
  fs: DeployFs,
  stateFile: string,
  apis: readonly DeployedApi[],
  fsync: boolean,
): Promise<void> {
  await writeFileAtomic(fs, stateFile, stateChunks(apis), { fsync });
}

/** The same JSON as JSON.stringify({ format, apis }), one API per line, produced a chunk at a time. */
function* stateChunks(apis: readonly DeployedApi[]): Generator<string> {
  yield `{"format":${STATE_FORMAT_VERSION},"apis":[`;
  for (let i = 0; i < apis.length; i += STATE_CHUNK_APIS) {
    const lines = apis.slice(i, i + STATE_CHUNK_APIS).map((api) => JSON.stringify(api));
    yield `${i === 0 ? "" : ","}\n${lines.join(",\n")}`;
  }
  yield "\n]}\n";
}

function corrupt(stateFile: string, why: string, cause: unknown): GwsyncError {
  return new GwsyncError(
    "GWSYNC_DEPLOY_IO",
    `deploy state ${stateFile} is not valid (${why}); move it away and restart to redeploy everything from the control plane`,
    { cause, retryable: false },
  );
}
