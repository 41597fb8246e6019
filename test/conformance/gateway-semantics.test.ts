/**
 * A gwsync sidecar next to a WSO2 4.x gateway (carbon-apimgt 4.x @ 68732448b122): the WSO2 gateway's
 * start wipes synapse-configs/default but its skip list; gwsync notices, is not ready meanwhile, and puts
 * every file back.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ALWAYS_SKIPPED } from "../../src/artifacts/skip-list.js";
import type { Gateway } from "../../src/gateway/gateway.js";
import { synapseApi } from "../harness/cluster.js";
import { FaultControlPlane } from "../harness/fault-http.js";
import { waitFor } from "../harness/wait.js";
import { FaultWorld, PASSWORD, USER } from "../faults/world.js";
import { wso2x4CleanDeployment } from "./wso2-model.js";

const LABEL = "Sidecar";
const xmlNames = (names: string[]) => names.map((n) => `${n}.xml`);

describe("files a WSO2 gateway's start wipes", () => {
  const world = new FaultWorld();
  const cp = new FaultControlPlane(() => world.publisherUrl);
  let gw: Gateway;
  let dir = "";
  const ids: string[] = [];

  before(async () => {
    await world.startPublisher();
    await cp.up();
    gw = await world.startGateway({ name: "side", labels: [LABEL], serviceUrl: cp.url });
    dir = world.deploymentDir("side");
    // The WSO2 gateway's own files, which its skip list keeps.
    mkdirSync(join(dir, "api"), { recursive: true });
    mkdirSync(join(dir, "sequences"), { recursive: true });
    writeFileSync(join(dir, "api", "_OpenService_.xml"), "<api/>");
    writeFileSync(join(dir, "sequences", "fault.xml"), "<sequence/>");
    const p = world.publisher!.publisher;
    for (const name of ["WipedA", "WipedB"])
      ids.push((await p.deployApi(synapseApi({ name }), [LABEL])).apiId);
    await waitFor(
      gw.events,
      "applied",
      () => ids.every((id) => gw.deployer.get(id) !== undefined),
      "both deployed",
    );
  });
  after(async () => {
    await cp.down();
    await world.close();
  });

  test("gwsync notices the wipe, answers /readyz 503 until every file is back, and restores them", async () => {
    const files = ids.flatMap((id) => gw.deployer.get(id)!.files.map((f) => f.relPath));
    const before = new Map(files.map((f) => [f, readFileSync(join(dir, f), "utf8")]));
    // The redeploy's fetches answer late, so the not-ready window can be looked at from outside.
    cp.rule = (r) => (r.apiId !== undefined && ids.includes(r.apiId) ? { delayMs: 1500 } : "forward");
    const deleted = wso2x4CleanDeployment(dir, {
      apis: xmlNames(ALWAYS_SKIPPED.apis),
      sequences: xmlNames(ALWAYS_SKIPPED.sequences),
      endpoints: [],
      localEntries: [],
    });
    assert.deepEqual(deleted.sort(), [...files].sort(), "exactly gwsync's files went; WSO2's own stayed");
    assert.ok(existsSync(join(dir, "api", "_OpenService_.xml")));
    assert.ok(existsSync(join(dir, "sequences", "fault.xml")));
    await waitFor(gw.events, "restore", () => gw.restoring, "the wipe to be noticed");
    const auth = { authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}` };
    const notReady = await fetch(`${gw.httpUrl}/readyz`, { headers: auth });
    const body = (await notReady.json()) as { status: string };
    assert.equal(notReady.status, 503, "not ready while files are missing");
    assert.equal(body.status, "restoring");
    await waitFor(gw.events, "restore", () => !gw.restoring, "every file back");
    for (const [f, content] of before) assert.equal(readFileSync(join(dir, f), "utf8"), content, f);
    const ready = await fetch(`${gw.httpUrl}/readyz`, { headers: auth });
    await ready.body?.cancel();
    assert.equal(ready.status, 200);
    cp.rule = () => "forward";
  });
});
