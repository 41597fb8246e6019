import { filesOfDto } from "../../artifacts/artifact-files.js";
import { sha256Hex } from "../../artifacts/digest.js";
import { validateDto } from "../../artifacts/gateway-api-dto.js";
import { relPathOf } from "../../artifacts/names.js";
import type { SkipMatcher } from "../../artifacts/skip-list.js";
import type { ArtifactKind, DeployedFile, GatewayApiDto } from "../../artifacts/types.js";
import { GwsyncError } from "../../errors.js";
import type { DeployedApi, DeployMeta } from "./deployer.js";
import { PackedApi } from "./packed-api.js";

/** A file of a deploy plan: what to write, and whether the API already has exactly this content there. */
export interface PlannedFile extends DeployedFile {
  fileName: string;
  content: string;
  unchanged: boolean;
}

export interface DeployPlan {
  apiId: string;
  previous: DeployedApi | undefined;
  /** Same apiId and sha256 as deployed: only the metadata (labels, seq, revision) may change. */
  sameArtifact: boolean;
  files: PlannedFile[];
  /** Files the previous deploy of this API owned that the new one does not. */
  stale: DeployedFile[];
  /** Paths this deploy claimed that nobody owned before (released again if the deploy fails). */
  claimed: string[];
  record: PackedApi;
}

/**
 * The bookkeeping both deployers share: which API is deployed with what, which API owns each file,
 * and one queue per API so calls for the same API apply in order while different APIs run concurrently.
 */
export class DeployedRegistry {
  private records = new Map<string, PackedApi>();
  private owners = new Map<string, string>();
  private readonly queues = new Map<string, Promise<unknown>>();
  // Most APIs share one of a few label sets: keep one array per set instead of one per API.
  private readonly labelSets = new Map<string, string[]>();

  constructor(
    private readonly skip: SkipMatcher,
    private readonly now: () => number = Date.now,
  ) {}

  get(apiId: string): PackedApi | undefined {
    return this.records.get(apiId);
  }

  all(): PackedApi[] {
    return [...this.records.values()];
  }

  get size(): number {
    return this.records.size;
  }

  ownerOf(relPath: string): string | undefined {
    return this.owners.get(relPath);
  }

  /** Runs `task` after every earlier task of the same API has settled. */
  serialize<T>(apiId: string, task: () => Promise<T>): Promise<T> {
    const before = this.queues.get(apiId) ?? Promise.resolve();
    const run = before.then(task, task);
    const tail = run.catch(() => undefined);
    this.queues.set(apiId, tail);
    void tail.then(() => {
      if (this.queues.get(apiId) === tail) this.queues.delete(apiId);
    });
    return run;
  }

  /**
   * Validates the DTO, computes its files and claims their paths. Throws before anything is written:
   * a bad name or XML, or a file another API owns (GWSYNC_ARTIFACT_CONFLICT "already owned by API Y").
   */
  plan(dto: GatewayApiDto, meta: DeployMeta): DeployPlan {
    const apiId = dto.apiId;
    const previous = this.records.get(apiId);
    // Same artifact as deployed (a redelivery, a restart): skip even the XML checks, it passed them before.
    if (previous !== undefined && previous.sha256 === meta.sha256 && meta.sha256 !== "") {
      const record = PackedApi.of({ ...previous.toJSON(), ...this.metaOf(meta) });
      return { apiId, previous, sameArtifact: true, files: [], stale: [], claimed: [], record };
    }
    const { api } = validateDto(dto);

    // An empty sha256 marks a record that may not match the disk (partial deploy, missing file): rewrite all.
    const trusted = previous !== undefined && previous.sha256 !== "" ? previous.files : [];
    const previousSha = new Map(trusted.map((f) => [f.relPath, f.sha256]));
    const files: PlannedFile[] = filesOfDto(dto, this.skip).map((f) => {
      const relPath = relPathOf(f.kind, f.fileName);
      const sha256 = sha256Hex(f.content);
      return {
        kind: f.kind,
        relPath,
        sha256,
        fileName: f.fileName,
        content: f.content,
        unchanged: previousSha.get(relPath) === sha256,
      };
    });
    const record = PackedApi.of({
      apiId,
      name: dto.name,
      version: dto.version,
      provider: dto.provider,
      context: api.context,
      ...this.metaOf(meta),
      files,
      deployedAt: this.now(),
    });
    // Claimed last: nothing may throw between the claim and the return (abandon() releases it).
    const claimed = this.claim(apiId, files);
    const kept = new Set(files.map((f) => f.relPath));
    const stale = (previous?.files ?? []).filter((f) => !kept.has(f.relPath));
    return { apiId, previous, sameArtifact: false, files, stale, claimed, record };
  }

  /**
   * Records a finished deploy: the record replaces the previous one. Stale paths are released here unless
   * the caller still has to delete them (then it calls releasePath after each delete, so no other API can
   * claim a path before the old file is gone).
   */
  commit(plan: DeployPlan, options: { releaseStale: boolean } = { releaseStale: true }): void {
    if (options.releaseStale) for (const f of plan.stale) this.release(plan.apiId, f.relPath);
    this.records.set(plan.apiId, plan.record);
  }

  releasePath(apiId: string, relPath: string): void {
    this.release(apiId, relPath);
  }

  /** Undoes the claims of a plan that failed before any file was renamed into place. */
  abandon(plan: DeployPlan): void {
    for (const relPath of plan.claimed) this.release(plan.apiId, relPath);
  }

  /** Records that `record`'s API owns exactly `files` on disk after a partial deploy; an empty sha256 makes the next deploy rewrite. */
  recordPartial(record: PackedApi, files: readonly DeployedFile[]): void {
    const { apiId } = record;
    const owned = new Set(files.map((f) => f.relPath));
    for (const [relPath, owner] of this.owners) {
      if (owner === apiId && !owned.has(relPath)) this.owners.delete(relPath);
    }
    for (const relPath of owned) if (!this.owners.has(relPath)) this.owners.set(relPath, apiId);
    this.records.set(apiId, PackedApi.of({ ...record.toJSON(), files: [...files], sha256: "" }));
  }

  remove(apiId: string): void {
    const record = this.records.get(apiId);
    if (record === undefined) return;
    for (const relPath of record.relPaths) this.release(apiId, relPath);
    this.records.delete(apiId);
  }

  /**
   * Re-allocates every record, its strings and both maps in one go. Records made during a bulk load
   * are promoted into the old generation between the load's garbage (data-API pages, XML, DTOs), and
   * each one pins a mostly empty page there: at 100,000 APIs the heap kept ~2× its live size after a
   * full GC (B6). Copied in one pass, they fill few pages and the load's pages can be given back.
   */
  compact(): void {
    const records = new Map<string, PackedApi>();
    const owners = new Map<string, string>();
    for (const record of this.records.values()) {
      const copy = record.copy();
      records.set(copy.apiId, copy);
      for (const relPath of copy.relPaths) {
        if (this.owners.get(relPath) === copy.apiId) owners.set(relPath, copy.apiId);
      }
    }
    // Paths claimed by a deploy still in flight (or owned otherwise) keep their owner as they are.
    for (const [relPath, owner] of this.owners) if (!owners.has(relPath)) owners.set(relPath, owner);
    this.records = records;
    this.owners = owners;
  }

  /** Adds a record read from the state file; a path already owned by another API is dropped from it. */
  restore(record: DeployedApi): PackedApi {
    const files = record.files.filter((f) => {
      const owner = this.owners.get(f.relPath);
      if (owner !== undefined && owner !== record.apiId) return false;
      this.owners.set(f.relPath, record.apiId);
      return true;
    });
    const restored = PackedApi.of({ ...record, labels: this.internLabels(record.labels), files });
    this.records.set(record.apiId, restored);
    return restored;
  }

  private claim(apiId: string, files: readonly { relPath: string; kind: ArtifactKind }[]): string[] {
    for (const f of files) {
      const owner = this.owners.get(f.relPath);
      if (owner !== undefined && owner !== apiId) {
        throw new GwsyncError(
          "GWSYNC_ARTIFACT_CONFLICT",
          `file ${f.relPath} is already owned by API ${owner}; API ${apiId} cannot deploy it — rename the ${f.kind} in one of them`,
          { details: { relPath: f.relPath, owner, apiId } },
        );
      }
    }
    const claimed: string[] = [];
    for (const f of files) {
      if (this.owners.get(f.relPath) === undefined) {
        this.owners.set(f.relPath, apiId);
        claimed.push(f.relPath);
      }
    }
    return claimed;
  }

  private release(apiId: string, relPath: string): void {
    if (this.owners.get(relPath) === apiId) this.owners.delete(relPath);
  }

  private metaOf(meta: DeployMeta): Pick<DeployedApi, "labels" | "revision" | "sha256" | "seq"> {
    return {
      labels: this.internLabels(meta.labels),
      revision: meta.revision,
      sha256: meta.sha256,
      seq: meta.seq,
    };
  }

  private internLabels(labels: readonly string[]): string[] {
    const key = labels.join("\n");
    let shared = this.labelSets.get(key);
    if (shared === undefined) {
      shared = Object.freeze([...labels]) as string[];
      this.labelSets.set(key, shared);
    }
    return shared;
  }
}
