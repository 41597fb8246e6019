import { SUPER_TENANT_DOMAIN } from "../../artifacts/tenant-folders.js";
import type { DeployedFile, GatewayApiDto } from "../../artifacts/types.js";
import { GwsyncError } from "../../errors.js";
import type { ApiDeployer, DeployedApi, DeployMeta, DeployOptions } from "./deployer.js";
import type { FileDeployer } from "./file-deployer.js";

/**
 * WSO2's tenant folders. A WSO2 gateway deploys the super tenant's artifacts under
 * `<CARBON_HOME>/repository/deployment/server/synapse-configs/default/` and tenant T's under
 * `<CARBON_HOME>/repository/tenants/<T's tenant id>/synapse-configs/default/` (carbon-apimgt
 * GatewayStartupListener.java: `tenantsRootPath` = CARBON_HOME/repository/tenants/ and
 * `synapseDeploymentPath` = synapse-configs/default, lines 87-89 @ 0105d86fc5c5; each tenant's
 * configuration context is cleaned and deployed at its own `getAxisConfiguration().getRepository()`,
 * createdConfigurationContext). The id is WSO2's database id of the tenant: the gateway resolves it from
 * the domain through the realm's TenantManager (InMemoryAPIDeployer.deployAllAPIsAtGatewayStartup,
 * `setTenantDomain(tenantDomain, true)`; carbon-kernel TenantAxisUtils.createTenantConfigurationContext,
 * `getTenantId(tenantDomain)`, "Tenant … does not exist" for an unknown one). A gwsync gateway has no
 * tenant database, so `[gwsync.tenants]` maps each domain to its id; an artifact of a tenant it does not
 * know is refused (GWSYNC_TENANT_UNKNOWN, reported in the fleet view), never written elsewhere.
 */

export class TenantDeployer implements ApiDeployer {
  /** The super tenant's deployer (deployment_dir). */
  readonly superTenant: FileDeployer;
  readonly #ids: ReadonlyMap<string, number>;
  readonly #byTenant = new Map<string, FileDeployer>();

  constructor(o: {
    superTenant: FileDeployer;
    /** Tenant domain → WSO2 tenant id. */
    tenants: ReadonlyMap<string, number>;
    /** A tenant's deployer (its folder and state file). */
    create: (tenantId: number) => FileDeployer;
  }) {
    this.superTenant = o.superTenant;
    this.#ids = o.tenants;
    for (const [domain, id] of o.tenants) {
      if (domain !== SUPER_TENANT_DOMAIN) this.#byTenant.set(domain, o.create(id));
    }
  }

  #all(): FileDeployer[] {
    return [this.superTenant, ...this.#byTenant.values()];
  }

  /** The deployer of an artifact's tenant; GWSYNC_TENANT_UNKNOWN when `[gwsync.tenants]` lacks it. */
  deployerFor(tenantDomain: string | undefined): FileDeployer {
    const domain = tenantDomain === undefined || tenantDomain === "" ? SUPER_TENANT_DOMAIN : tenantDomain;
    if (domain.toLowerCase() === SUPER_TENANT_DOMAIN) return this.superTenant;
    const d = this.#byTenant.get(domain) ?? this.#byTenant.get(domain.toLowerCase());
    if (d !== undefined) return d;
    throw new GwsyncError(
      "GWSYNC_TENANT_UNKNOWN",
      `tenant ${domain} has no tenant id on this gateway: add it to [gwsync.tenants] ("${domain}" = <its WSO2 tenant id>), ` +
        `or serve it from a gateway that has it (known: ${[SUPER_TENANT_DOMAIN, ...this.#ids.keys()].join(", ")})`,
      { details: { tenantDomain: domain } },
    );
  }

  #holder(apiId: string): FileDeployer | undefined {
    return this.#all().find((d) => d.get(apiId) !== undefined);
  }

  async load(): Promise<DeployedApi[]> {
    const lists = await Promise.all(this.#all().map((d) => d.load()));
    return lists.flat();
  }

  async deploy(dto: GatewayApiDto, meta: DeployMeta, options?: DeployOptions): Promise<DeployedFile[]> {
    const target = this.deployerFor(dto.tenantDomain);
    // An API that moved to another tenant leaves the old tenant's folder.
    const before = this.#holder(dto.apiId);
    if (before !== undefined && before !== target) await before.undeploy(dto.apiId, options);
    return target.deploy(dto, meta, options);
  }

  async undeploy(apiId: string, options?: DeployOptions): Promise<void> {
    await this.#holder(apiId)?.undeploy(apiId, options);
  }

  async flush(): Promise<void> {
    await Promise.all(this.#all().map((d) => d.flush()));
  }

  compact(): void {
    for (const d of this.#all()) d.compact();
  }

  async close(): Promise<void> {
    await Promise.all(this.#all().map((d) => d.close()));
  }

  deployed(): DeployedApi[] {
    return this.#all().flatMap((d) => d.deployed());
  }

  get size(): number {
    return this.#all().reduce((n, d) => n + d.size, 0);
  }

  get(apiId: string): DeployedApi | undefined {
    for (const d of this.#all()) {
      const api = d.get(apiId);
      if (api !== undefined) return api;
    }
    return undefined;
  }
}
