import path from "node:path";

/**
 * Where a WSO2 gateway keeps each tenant's synapse artifacts: the super tenant's under
 * `<CARBON_HOME>/repository/deployment/server/synapse-configs/default/`, tenant T's under
 * `<CARBON_HOME>/repository/tenants/<T's tenant id>/synapse-configs/default/` (carbon-apimgt
 * GatewayStartupListener.java lines 87-89 @ 0105d86fc5c5; src/gateway/deploy/tenant-deployer.ts).
 */

export const SUPER_TENANT_DOMAIN = "carbon.super";

/** `<CARBON_HOME>/repository/tenants` when deployment_dir is WSO2's own super-tenant folder, else undefined. */
export function defaultTenantsDir(deploymentDir: string): string | undefined {
  const parts = path.resolve(deploymentDir).split(path.sep);
  const tail = ["repository", "deployment", "server", "synapse-configs", "default"];
  if (parts.length <= tail.length) return undefined;
  const end = parts.slice(-tail.length);
  if (end.some((p, i) => p !== tail[i])) return undefined;
  return path.join(parts.slice(0, -tail.length).join(path.sep) || path.sep, "repository", "tenants");
}

/** Tenant T's synapse-configs/default folder, as WSO2 lays it out. */
export function tenantDeploymentDir(tenantsDir: string, tenantId: number): string {
  return path.join(tenantsDir, String(tenantId), "synapse-configs", "default");
}
