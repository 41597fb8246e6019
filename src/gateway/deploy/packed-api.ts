import { parseRelPath } from "../../artifacts/names.js";
import type { DeployedFile } from "../../artifacts/types.js";
import { GwsyncError } from "../../errors.js";
import type { DeployedApi } from "./deployer.js";

const SHA256_HEX = /^[0-9a-f]{64}$/;
/** A sha256 kept as its 32 bytes, one latin1 character each: half the heap of the hex form. */
const DIGEST_CHARS = 32;
/** Ends each text field: none can hold it (names are ASCII-only, XML has no NUL, the time is digits). */
const SEP = "\u0000";
/** name, version, provider, context, deployedAt: the text fields before the digests. */
const TEXT_FIELDS = 5;

/**
 * One deployed API as the registry keeps it, 100,000 times over: a few fields and two flat strings
 * instead of a record, a files array, a file object per file and hex strings. B6, 100,000 APIs: V8
 * heap 87 → 59 MB (~400 instead of ~680 bytes per API with its map entries). The other DeployedApi
 * fields are getters that decode on read; toJSON() gives the plain record (state file, IPC, logs).
 * Immutable: a change is a new PackedApi.
 */
export class PackedApi implements DeployedApi {
  readonly apiId: string;
  readonly labels: string[];
  readonly revision: number;
  readonly seq: number;
  /**
   * The TEXT_FIELDS, each ended by SEP, then the artifact sha256 (none after a partial deploy) and one
   * sha256 per file, as bytes.
   */
  readonly #packed: string;
  /** relPath of each file; the owner map's keys are these same strings. One file: the string itself. */
  readonly #paths: string | readonly string[];

  private constructor(
    from: Pick<DeployedApi, "apiId" | "labels" | "revision" | "seq">,
    packed: string,
    paths: string | readonly string[],
  ) {
    this.apiId = from.apiId;
    this.labels = from.labels;
    this.revision = from.revision;
    this.seq = from.seq;
    this.#packed = packed;
    this.#paths = paths;
  }

  /**
   * Packs a record; its sha256 must be lowercase hex (or empty), like every sha256 gwsync computes, and
   * its text fields must not hold NUL (validated names and XML attributes cannot).
   */
  static of(api: DeployedApi): PackedApi {
    if (api.sha256 !== "" && !SHA256_HEX.test(api.sha256)) {
      throw new GwsyncError(
        "GWSYNC_ARTIFACT_INVALID",
        `API ${api.apiId}: sha256 is not 64 lowercase hex digits`,
      );
    }
    const text = [api.name, api.version, api.provider, api.context, String(api.deployedAt)];
    if (text.some((t) => t.includes(SEP))) {
      throw new GwsyncError("GWSYNC_ARTIFACT_INVALID", `API ${api.apiId}: a name or the context holds NUL`);
    }
    const paths = api.files.length === 1 ? api.files[0]!.relPath : api.files.map((f) => f.relPath);
    const digests = [api.sha256, ...api.files.map((f) => f.sha256)].map(toBytes);
    return new PackedApi(api, flat(`${text.map((t) => t + SEP).join("")}${digests.join("")}`), paths);
  }

  /**
   * The same record in newly allocated strings (apiId and paths too), for DeployedRegistry.compact():
   * callers that key maps by apiId or relPath must take them from the copy, not the original.
   */
  copy(): PackedApi {
    const paths = typeof this.#paths === "string" ? flat(this.#paths) : this.#paths.map(flat);
    return new PackedApi({ ...this, apiId: flat(this.apiId) }, flat(this.#packed), paths);
  }

  get name(): string {
    return this.#field(0);
  }

  get version(): string {
    return this.#field(1);
  }

  get provider(): string {
    return this.#field(2);
  }

  get context(): string {
    return this.#field(3);
  }

  get deployedAt(): number {
    return Number(this.#field(4));
  }

  get sha256(): string {
    const digests = this.#digests();
    return toHex(digests.slice(0, digests.length - this.relPaths.length * DIGEST_CHARS));
  }

  /** The files' paths, without decoding their digests. */
  get relPaths(): readonly string[] {
    return typeof this.#paths === "string" ? [this.#paths] : this.#paths;
  }

  get files(): DeployedFile[] {
    const paths = this.relPaths;
    const digests = this.#digests();
    const first = digests.length - paths.length * DIGEST_CHARS;
    return paths.map((relPath, i) => ({
      kind: parseRelPath(relPath).kind,
      relPath,
      sha256: toHex(digests.slice(first + i * DIGEST_CHARS, first + (i + 1) * DIGEST_CHARS)),
    }));
  }

  toJSON(): DeployedApi {
    return {
      apiId: this.apiId,
      name: this.name,
      version: this.version,
      provider: this.provider,
      context: this.context,
      labels: this.labels,
      revision: this.revision,
      sha256: this.sha256,
      seq: this.seq,
      files: this.files,
      deployedAt: this.deployedAt,
    };
  }

  #field(i: number): string {
    return this.#packed.split(SEP, TEXT_FIELDS)[i] ?? "";
  }

  #digests(): string {
    let end = -1;
    for (let i = 0; i < TEXT_FIELDS; i++) end = this.#packed.indexOf(SEP, end + 1);
    return this.#packed.slice(end + 1);
  }
}

function toBytes(hex: string): string {
  return Buffer.from(hex, "hex").toString("latin1");
}

function toHex(bytes: string): string {
  return Buffer.from(bytes, "latin1").toString("hex");
}

/**
 * A fresh sequential copy: a joined or sliced string may be a rope or a view that keeps its parts (a
 * whole 5 KB XML document, for a context attribute) alive as long as the record.
 */
function flat(s: string): string {
  return Buffer.from(s, "utf16le").toString("utf16le");
}
