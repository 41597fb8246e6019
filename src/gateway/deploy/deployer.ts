import type { DeployedFile, GatewayApiDto } from "../../artifacts/types.js";

/** What the gateway knows about an artifact besides its DTO: where it came from in the changelog. */
export interface DeployMeta {
  revision: number;
  /** sha256 hex of the stored artifact JSON: same apiId and sha256 means nothing to do. */
  sha256: string;
  seq: number;
  labels: string[];
}

export interface DeployOptions {
  /**
   * Leave the state file (and directory fsyncs) for an explicit flush(): a startup deploy of 10,000 APIs
   * flushes once at the end instead of rewriting the state 10,000 times. Files are still written atomically.
   */
  deferFlush?: boolean;
}

/** One API as deployed on this gateway: the last-known-good record a gateway restarts from. */
export interface DeployedApi {
  apiId: string;
  name: string;
  version: string;
  provider: string;
  context: string;
  labels: string[];
  revision: number;
  sha256: string;
  seq: number;
  files: DeployedFile[];
  /** Milliseconds since epoch of the deploy that last changed the files. */
  deployedAt: number;
}

/**
 * Where a gateway puts artifacts: files in WSO2's layout (FileDeployer) or memory only (MemoryDeployer,
 * `save_artifacts_locally = false`). Deploys of different APIs may run concurrently; calls for the same
 * API are applied in call order.
 */
export interface ApiDeployer {
  /** The last-known-good deployed APIs (from the state file; empty in memory mode). Called once at start. */
  load(): Promise<DeployedApi[]>;
  /** Deploys (or updates) one API; returns the files it owns afterwards. Idempotent by apiId + sha256. */
  deploy(dto: GatewayApiDto, meta: DeployMeta, options?: DeployOptions): Promise<DeployedFile[]>;
  /** Removes exactly the files this API deployed; unknown apiId is a no-op. */
  undeploy(apiId: string, options?: DeployOptions): Promise<void>;
  /** Makes deferred changes durable (directory fsyncs, then the state file). */
  flush(): Promise<void>;
  /** Packs the per-API bookkeeping densely after a bulk load (memory only; nothing observable changes). */
  compact?(): void;
  /**
   * Ends the background work before the process stops: the replaced and leftover temp files a bulk
   * load kept for later removal are removed now (files mode). Called once, after the last flush.
   */
  close?(): Promise<void>;
  deployed(): DeployedApi[];
  /** How many APIs are deployed, without listing them (metrics after every event: O(1), not O(APIs)). */
  readonly size: number;
  get(apiId: string): DeployedApi | undefined;
}
