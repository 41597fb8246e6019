import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Gateway } from "../../src/gateway/gateway.js";
import { synapseApi, TestCluster } from "../harness/cluster.js";
import { CHANGED, waitFor } from "../harness/wait.js";

describe("the watched folder form of the plugin hook", () => {
  const cluster = new TestCluster();
  const drop = join(cluster.root, "drop");
  let gw: Gateway;

  before(async () => {
    mkdirSync(drop, { recursive: true });
    await cluster.startPublisher(`[gwsync.watch]\ndir = ${JSON.stringify(drop)}\nlabels = ["W"]\n`);
    gw = await cluster.startGateway({ name: "gw", labels: ["W"] });
  });
  after(() => cluster.close());

  const deployedFile = () => join(cluster.deploymentDir("gw"), "api", "admin--Dropped_v1.0.0.xml");

  test("a synapse XML dropped in the folder is deployed; a change deploys the new revision; a delete undeploys it", async () => {
    const v1 = synapseApi({ name: "Dropped", revision: 1 });
    writeFileSync(join(drop, "dropped.xml"), v1);
    await waitFor(gw.events, CHANGED, () => existsSync(deployedFile()), "the dropped API to be deployed");
    assert.equal(readFileSync(deployedFile(), "utf8"), v1);

    const v2 = synapseApi({ name: "Dropped", revision: 2 });
    writeFileSync(join(drop, "dropped.xml"), v2);
    await waitFor(gw.events, CHANGED, () => existsSync(deployedFile()) && readFileSync(deployedFile(), "utf8") === v2, "revision 2");
    assert.equal(gw.deployer.deployed()[0]?.revision, 2);

    rmSync(join(drop, "dropped.xml"));
    await waitFor(gw.events, CHANGED, () => !existsSync(deployedFile()), "the API to be removed");
    assert.equal(gw.deployer.deployed().length, 0);
  });

  test("a bad file in the folder is refused and changes nothing; other files still publish", async () => {
    const head = await cluster.publisher!.publisher.store.headSeq();
    writeFileSync(
      join(drop, "evil.xml"),
      '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><api name="a--b" context="/b" version="1">&e;</api>',
    );
    writeFileSync(join(drop, "good.xml"), synapseApi({ name: "Good" }));
    await waitFor(
      gw.events,
      CHANGED,
      () => gw.deployer.deployed().some((d) => d.name === "Good"),
      "the good file",
    );
    assert.equal(
      await cluster.publisher!.publisher.store.headSeq(),
      head + 1,
      "only the good file was committed",
    );
  });
});
