import { compileSkipList, type SkipList } from "../../artifacts/skip-list.js";
import type { DeployedFile, GatewayApiDto } from "../../artifacts/types.js";
import { DeployedRegistry } from "./deployed-registry.js";
import type { ApiDeployer, DeployedApi, DeployMeta, DeployOptions } from "./deployer.js";

export interface MemoryDeployerOptions {
  skipList?: Partial<SkipList>;
  /**
   * Keep each file's content (default true). 100,000 APIs of 5 KB XML are 500 MB of content alone; a
   * gateway that only needs to know what it serves (sha256 per file) passes false and stays near 40 MB.
   */
  keepContent?: boolean;
  now?: () => number;
}

/**
 * `save_artifacts_locally = false`: the same bookkeeping as FileDeployer (ownership, stale removal,
 * idempotence by apiId + sha256), with file contents kept in memory only. Kept lean for 100,000 APIs:
 * one string per file (the DTO's own string, not a copy) and the small DeployedApi record; nothing else.
 */
export class MemoryDeployer implements ApiDeployer {
  private readonly registry: DeployedRegistry;
  private readonly contents = new Map<string, string>();
  private readonly keepContent: boolean;

  constructor(options: MemoryDeployerOptions = {}) {
    this.registry = new DeployedRegistry(compileSkipList(options.skipList), options.now);
    this.keepContent = options.keepContent ?? true;
  }

  /** Nothing survives a restart in memory mode. */
  async load(): Promise<DeployedApi[]> {
    return this.registry.all();
  }

  deployed(): DeployedApi[] {
    return this.registry.all();
  }

  get size(): number {
    return this.registry.size;
  }

  get(apiId: string): DeployedApi | undefined {
    return this.registry.get(apiId);
  }

  compact(): void {
    this.registry.compact();
  }

  /** The deployed content at `relPath` (e.g. "api/admin--PizzaShackAPI_v1.0.0.xml"); undefined without keepContent. */
  content(relPath: string): string | undefined {
    return this.contents.get(relPath);
  }

  /** Files held in memory (0 without keepContent). */
  get fileCount(): number {
    return this.contents.size;
  }

  deploy(dto: GatewayApiDto, meta: DeployMeta, _options?: DeployOptions): Promise<DeployedFile[]> {
    return this.registry.serialize(dto.apiId, async () => {
      const plan = this.registry.plan(dto, meta);
      if (!plan.sameArtifact && this.keepContent) {
        for (const f of plan.files) if (!f.unchanged) this.contents.set(f.relPath, f.content);
        for (const f of plan.stale) this.contents.delete(f.relPath);
      }
      this.registry.commit(plan);
      return plan.record.files;
    });
  }

  undeploy(apiId: string, _options?: DeployOptions): Promise<void> {
    return this.registry.serialize(apiId, async () => {
      for (const f of this.registry.get(apiId)?.files ?? []) this.contents.delete(f.relPath);
      this.registry.remove(apiId);
    });
  }

  async flush(): Promise<void> {}
}
