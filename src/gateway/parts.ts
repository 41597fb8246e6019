import { join } from "node:path";
import type { GwsyncConfig } from "../config/types.js";
import { GwsyncError } from "../errors.js";
import { TrustedKeys } from "../security/signing.js";
import type { ApiDeployer } from "./deploy/deployer.js";
import { FileDeployer } from "./deploy/file-deployer.js";
import { MemoryDeployer } from "./deploy/memory-deployer.js";
import { defaultTenantsDir, tenantDeploymentDir } from "../artifacts/tenant-folders.js";
import { TenantDeployer } from "./deploy/tenant-deployer.js";
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

/**
 * Files under deployment_dir (save_artifacts_locally), else memory only. With [gwsync.tenants], each
 * listed tenant's artifacts go to its own WSO2 folder (src/gateway/deploy/tenant-deployer.ts).
 */
export function deployerOf(config: GwsyncConfig): ApiDeployer {
  if (!config.gateway.saveArtifactsLocally)
    // Memory-only mode tracks what is deployed (ids, revisions, sha256) without keeping every XML.
    return new MemoryDeployer({ skipList: config.gateway.skipList, keepContent: false });
  const superTenant = new FileDeployer({
    deploymentDir: config.gateway.deploymentDir,
    stateFile: join(config.gwsync.dataDir, "gateway-state.json"),
    skipList: config.gateway.skipList,
  });
  const { ids, dir } = config.gwsync.tenants;
  if (ids.size === 0) return superTenant;
  const tenantsDir = dir ?? defaultTenantsDir(config.gateway.deploymentDir);
  if (tenantsDir === undefined) {
    throw new GwsyncError(
      "GWSYNC_CONFIG_INVALID",
      `[gwsync.tenants] needs [gwsync] tenants_dir (WSO2's <CARBON_HOME>/repository/tenants): deployment_dir ${config.gateway.deploymentDir} is not <CARBON_HOME>/repository/deployment/server/synapse-configs/default, so it cannot be derived`,
    );
  }
  return new TenantDeployer({
    superTenant,
    tenants: ids,
    create: (id) =>
      new FileDeployer({
        deploymentDir: tenantDeploymentDir(tenantsDir, id),
        stateFile: join(config.gwsync.dataDir, `gateway-state.tenant-${id}.json`),
        skipList: config.gateway.skipList,
      }),
  });
}
