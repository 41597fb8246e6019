/**
 * WSO2's tenant folders (carbon-apimgt GatewayStartupListener.java lines 87-89 @ 0105d86fc5c5:
 * tenantsRootPath = CARBON_HOME/repository/tenants/, synapseDeploymentPath = synapse-configs/default;
 * the super tenant's repository is CARBON_HOME/repository/deployment/server): carbon.super's artifacts
 * stay in deployment_dir, tenant T's go to <tenants_dir>/<T's id>/synapse-configs/default, and a tenant
 * without an id in [gwsync.tenants] is refused (GWSYNC_TENANT_UNKNOWN) with nothing written anywhere.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";
import { defaultTenantsDir, tenantDeploymentDir } from "../../src/artifacts/tenant-folders.js";
import type { GatewayApiDto } from "../../src/artifacts/types.js";
import { loadConfig } from "../../src/config/load-config.js";
import { GwsyncError } from "../../src/errors.js";
import { FileDeployer } from "../../src/gateway/deploy/file-deployer.js";
import { TenantDeployer } from "../../src/gateway/deploy/tenant-deployer.js";
import { deployerOf } from "../../src/gateway/parts.js";
import { tempDir } from "../harness/temp-dir.js";

const root = tempDir("gwsync-tenants-");
after(() => fs.rmSync(root, { recursive: true, force: true }));

function dto(name: string, tenantDomain: string, apiId = `id-${name}`): GatewayApiDto {
  const provider = tenantDomain === "carbon.super" ? "admin" : `admin-AT-${tenantDomain}`;
  return {
    name,
    version: "1.0.0",
    provider,
    tenantDomain,
    apiId,
    apiDefinition: `<api xmlns="http://ws.apache.org/ns/synapse" name="${provider}--${name}" context="/t/${tenantDomain}/${name.toLowerCase()}/1.0.0" version="1.0.0" version-type="context"><resource methods="GET" url-mapping="/*"/></api>`,
  };
}

const meta = (n: number) => ({ revision: n, sha256: String(n).repeat(64).slice(0, 64), seq: n, labels: ["L"] });

function files(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .filter((p) => fs.statSync(path.join(dir, p)).isFile())
    .map((p) => p.split(path.sep).join("/"))
    .sort();
}

describe("tenant folders as a WSO2 gateway lays them out", () => {
  test("the tenants' root is derived from WSO2's own super-tenant folder, else unknown", () => {
    const home = path.join(root, "wso2am");
    assert.equal(
      defaultTenantsDir(path.join(home, "repository", "deployment", "server", "synapse-configs", "default")),
      path.join(home, "repository", "tenants"),
    );
    assert.equal(defaultTenantsDir(path.join(root, "gw", "synapse-configs", "default")), undefined);
    assert.equal(tenantDeploymentDir("/x/repository/tenants", 7), path.join("/x/repository/tenants/7/synapse-configs/default"));
  });

  test("carbon.super in deployment_dir, each known tenant in its id's folder, an unknown tenant refused and written nowhere", async () => {
    const home = path.join(root, "home1");
    const superDir = path.join(home, "repository", "deployment", "server", "synapse-configs", "default");
    const tenantsDir = path.join(home, "repository", "tenants");
    const state = path.join(root, "state1");
    fs.mkdirSync(state, { recursive: true });
    const d = new TenantDeployer({
      superTenant: new FileDeployer({ deploymentDir: superDir, stateFile: path.join(state, "super.json"), stateWriteDelayMs: 0 }),
      tenants: new Map([
        ["abc.com", 1],
        ["xyz.org", 2],
      ]),
      create: (id) =>
        new FileDeployer({
          deploymentDir: tenantDeploymentDir(tenantsDir, id),
          stateFile: path.join(state, `t${id}.json`),
          stateWriteDelayMs: 0,
        }),
    });
    await d.load();
    await d.deploy(dto("Sup", "carbon.super"), meta(1));
    await d.deploy(dto("Abc", "abc.com"), meta(2));
    await d.deploy(dto("Xyz", "xyz.org"), meta(3));
    assert.deepEqual(files(superDir), ["api/admin--Sup_v1.0.0.xml"]);
    assert.deepEqual(files(path.join(tenantsDir, "1", "synapse-configs", "default")), ["api/admin-AT-abc.com--Abc_v1.0.0.xml"]);
    assert.deepEqual(files(path.join(tenantsDir, "2", "synapse-configs", "default")), ["api/admin-AT-xyz.org--Xyz_v1.0.0.xml"]);
    assert.equal(d.size, 3);
    assert.equal(d.get("id-Abc")?.name, "Abc");

    const before = files(home);
    await assert.rejects(
      d.deploy(dto("Nope", "nope.com"), meta(4)),
      (err: unknown) =>
        err instanceof GwsyncError &&
        err.code === "GWSYNC_TENANT_UNKNOWN" &&
        !err.retryable &&
        /tenant nope\.com has no tenant id on this gateway: add it to \[gwsync\.tenants\]/.test(err.message),
    );
    assert.deepEqual(files(home), before, "nothing written for an unknown tenant");
    assert.equal(d.get("id-Nope"), undefined);

    // Undeploy finds the API in its tenant's folder; an API whose tenant changes moves.
    await d.undeploy("id-Abc");
    assert.deepEqual(files(path.join(tenantsDir, "1", "synapse-configs", "default")), []);
    await d.deploy(dto("Xyz", "abc.com", "id-Xyz"), meta(5));
    assert.deepEqual(files(path.join(tenantsDir, "2", "synapse-configs", "default")), []);
    assert.deepEqual(files(path.join(tenantsDir, "1", "synapse-configs", "default")), ["api/admin-AT-abc.com--Xyz_v1.0.0.xml"]);
    await d.flush();

    // A restart reads every tenant's last-known-good state back.
    const again = new TenantDeployer({
      superTenant: new FileDeployer({ deploymentDir: superDir, stateFile: path.join(state, "super.json") }),
      tenants: new Map([
        ["abc.com", 1],
        ["xyz.org", 2],
      ]),
      create: (id) =>
        new FileDeployer({ deploymentDir: tenantDeploymentDir(tenantsDir, id), stateFile: path.join(state, `t${id}.json`) }),
    });
    assert.deepEqual((await again.load()).map((a) => a.apiId).sort(), ["id-Sup", "id-Xyz"]);
  });

  const gatewayToml = (deploymentDir: string, extra: string) => `
[gwsync]
node_id = "gw"
data_dir = ${JSON.stringify(path.join(root, "data"))}
${extra}
[apim.sync_runtime_artifacts.gateway]
gateway_labels = ["L"]
deployment_dir = ${JSON.stringify(deploymentDir)}
[apim.event_hub]
service_url = "http://127.0.0.1:9763"
event_listening_endpoints = ["amqp://guest:guest@127.0.0.1:5672"]
`;

  test("[gwsync.tenants] in the configuration: a tenant deployer when there are ids, a problem when no folder can be found", () => {
    const wso2 = path.join(root, "home2", "repository", "deployment", "server", "synapse-configs", "default");
    const { config } = loadConfig({
      role: "gateway",
      env: {},
      text: gatewayToml(wso2, '[gwsync.tenants]\n"abc.com" = 1\n"xyz.org" = 2'),
    });
    assert.deepEqual([...config.gwsync.tenants.ids], [
      ["abc.com", 1],
      ["xyz.org", 2],
    ]);
    assert.ok(deployerOf(config) instanceof TenantDeployer);
    const plain = loadConfig({ role: "gateway", env: {}, text: gatewayToml(wso2, "") }).config;
    assert.ok(deployerOf(plain) instanceof FileDeployer, "no tenants: one folder, as before");

    assert.throws(
      () =>
        loadConfig({
          role: "gateway",
          env: {},
          text: gatewayToml(path.join(root, "plain", "synapse-configs", "default"), '[gwsync.tenants]\n"abc.com" = 1'),
        }),
      /gwsync\.tenants_dir/,
    );
    const explicit = loadConfig({
      role: "gateway",
      env: {},
      text: gatewayToml(
        path.join(root, "plain", "synapse-configs", "default"),
        `tenants_dir = ${JSON.stringify(path.join(root, "t"))}\n[gwsync.tenants]\n"abc.com" = 1`,
      ),
    }).config;
    assert.equal(explicit.gwsync.tenants.dir, path.join(root, "t"));
    assert.throws(
      () => loadConfig({ role: "gateway", env: {}, text: gatewayToml(wso2, '[gwsync.tenants]\n"abc.com" = 0') }),
      /tenants/,
      "a tenant id is a positive integer",
    );
  });
});
