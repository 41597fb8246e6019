/**
 * Tenant folders on the real broker (issue 12): a gwsync gateway beside a WSO2 gateway whose tenants
 * abc.com and xyz.org have the ids 1 and 2 deploys the super tenant's APIs in deployment_dir
 * (<CARBON_HOME>/repository/deployment/server/synapse-configs/default) and each tenant's in
 * <CARBON_HOME>/repository/tenants/<id>/synapse-configs/default, as a WSO2 gateway does
 * (carbon-apimgt GatewayStartupListener.java lines 87-89 @ 0105d86fc5c5). An API of a tenant it has no
 * id for is refused, and the control plane's rollout says so with the reason.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Gateway } from "../../src/gateway/gateway.js";
import type { Rollout } from "../../src/publisher/fleet-view.js";
import type { PublisherService } from "../../src/publisher/service.js";
import { authHeader, synapseApi, TestCluster } from "../harness/cluster.js";
import { waitFor } from "../harness/wait.js";

const LABEL = "Tenants";

function files(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .filter((p) => fs.statSync(path.join(dir, p)).isFile() && !p.endsWith(".json"))
    .map((p) => p.split(path.sep).join("/"))
    .sort();
}

describe("tenant folders: carbon.super in deployment_dir, each tenant in repository/tenants/<id>", () => {
  const cluster = new TestCluster();
  let svc: PublisherService;
  let gw: Gateway;
  const home = path.join(cluster.root, "wso2am");
  const superDir = cluster.deploymentDir("tenants");
  const tenantDir = (id: number) => path.join(home, "repository", "tenants", String(id), "synapse-configs", "default");

  async function publish(xml: string): Promise<string> {
    const res = await fetch(`${svc.httpUrl}/api/v1/artifacts?label=${LABEL}`, {
      method: "POST",
      headers: { authorization: authHeader(), "content-type": "application/xml" },
      body: xml,
    });
    assert.equal(res.status, 201, await res.clone().text());
    return ((await res.json()) as { apiId: string }).apiId;
  }

  async function rollout(apiId: string): Promise<Rollout> {
    const res = await fetch(`${svc.httpUrl}/api/v1/artifacts/${apiId}/rollout`, { headers: { authorization: authHeader() } });
    assert.equal(res.status, 200);
    return (await res.json()) as Rollout;
  }

  const statusOf = async (apiId: string) => (await rollout(apiId)).gateways[0]?.status;

  before(async () => {
    svc = await cluster.startPublisher();
    gw = await cluster.startGateway({
      name: "tenants",
      labels: [LABEL],
      // WSO2's <CARBON_HOME>/repository/tenants (derived when deployment_dir is WSO2's own folder).
      gwsyncExtra: `tenants_dir = ${JSON.stringify(path.join(home, "repository", "tenants"))}\n[gwsync.tenants]\n"abc.com" = 1\n"xyz.org" = 2`,
    });
  });
  after(() => cluster.close());

  test("each API lands in its tenant's folder; an unknown tenant's is refused with its reason in the fleet view", async () => {
    const sup = await publish(synapseApi({ name: "Sup" }));
    const abc = await publish(synapseApi({ provider: "admin-AT-abc.com", name: "Abc", context: "/t/abc.com/abc/1.0.0" }));
    const xyz = await publish(synapseApi({ provider: "admin-AT-xyz.org", name: "Xyz", context: "/t/xyz.org/xyz/1.0.0" }));
    const nope = await publish(synapseApi({ provider: "admin-AT-nope.com", name: "Nope", context: "/t/nope.com/nope/1.0.0" }));

    await waitFor(
      svc.publisher.events,
      ["report", "heartbeat"],
      async () =>
        (await statusOf(sup)) === "deployed" &&
        (await statusOf(abc)) === "deployed" &&
        (await statusOf(xyz)) === "deployed" &&
        (await statusOf(nope)) === "refused",
      "three deployed and one refused, as the gateway reports",
    );
    assert.deepEqual(files(superDir), ["api/admin--Sup_v1.0.0.xml"], "carbon.super: deployment_dir only");
    assert.deepEqual(files(tenantDir(1)), ["api/admin-AT-abc.com--Abc_v1.0.0.xml"]);
    assert.deepEqual(files(tenantDir(2)), ["api/admin-AT-xyz.org--Xyz_v1.0.0.xml"]);
    assert.deepEqual(
      files(path.join(home, "repository", "tenants")).filter((f) => /Nope/.test(f)),
      [],
      "nothing of the unknown tenant anywhere",
    );
    const refused = (await rollout(nope)).gateways[0]!;
    assert.equal(refused.refusal?.code, "GWSYNC_TENANT_UNKNOWN");
    assert.match(refused.refusal?.message ?? "", /tenant nope\.com has no tenant id on this gateway/);
    assert.equal(gw.deployer.get(nope), undefined);

    // A removal takes the file out of the tenant's folder.
    const res = await fetch(`${svc.httpUrl}/api/v1/artifacts/${abc}?label=${LABEL}`, {
      method: "DELETE",
      headers: { authorization: authHeader() },
    });
    assert.equal(res.status, 200, await res.clone().text());
    await waitFor(
      svc.publisher.events,
      ["report", "heartbeat"],
      async () => (await statusOf(abc)) === "removed",
      "the tenant API removed",
    );
    assert.deepEqual(files(tenantDir(1)), []);
    assert.deepEqual(files(tenantDir(2)), ["api/admin-AT-xyz.org--Xyz_v1.0.0.xml"], "the other tenant's stays");
  });
});
