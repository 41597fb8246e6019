import { join } from "node:path";
import type { GwsyncConfig } from "../config/types.js";
import { TrustedKeys } from "../security/signing.js";
import type { ApiDeployer } from "./deploy/deployer.js";
import { FileDeployer } from "./deploy/file-deployer.js";
import { MemoryDeployer } from "./deploy/memory-deployer.js";
import type { TrustPolicy } from "./trust.js";

/** The gateway's parts that follow from its configuration alone. */

/** What of an event a gateway believes: inline artifacts by configuration, signatures by trusted keys. */
export function trustPolicyOf(config: GwsyncConfig): TrustPolicy {
  const trusted = config.gwsync.signing.trustedKeys;
  return {
    acceptInline: config.gateway.acceptInlineArtifacts,
    keys:
      trusted.length === 0 ? undefined : new TrustedKeys(trusted.map((k) => ({ pem: k.pem, what: k.file }))),
  };
}

/** Files under deployment_dir (save_artifacts_locally), else memory only. */
export function deployerOf(config: GwsyncConfig): ApiDeployer {
  return config.gateway.saveArtifactsLocally
    ? new FileDeployer({
        deploymentDir: config.gateway.deploymentDir,
        stateFile: join(config.gwsync.dataDir, "gateway-state.json"),
        skipList: config.gateway.skipList,
      })
    : // Memory-only mode tracks what is deployed (ids, revisions, sha256) without keeping every XML.
      new MemoryDeployer({ skipList: config.gateway.skipList, keepContent: false });
}
