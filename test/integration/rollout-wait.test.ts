import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { Gateway } from "../../src/gateway/gateway.js";
import { HttpArtifactRetriever, type RetrievedArtifact } from "../../src/gateway/retriever.js";
import type { WaitResult } from "../../src/publisher/rollout-wait.js";
import type { PublisherService } from "../../src/publisher/service.js";
import { authHeader, synapseApi, TEST_PASSWORD, TEST_USER, TestCluster } from "../harness/cluster.js";

/**
 * Issue 18, wait for a rollout: `gwsync publish … --wait [--timeout]`, `gwsync remove … --wait` and the
 * REST `?wait=` return when every live gateway of the labels serves what the store says, or say which
 * did not and why (exit 1, HTTP 202). On the real broker with two gateways of one label; a third
 * gateway, of two labels, refuses an API whose file another API owns there; a fourth never gets an API
 * it is made to fetch slowly.
 */

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = path.join(ROOT, "bin", "gwsync.js");
const SLOW_API = "22222222-3333-4444-8555-666666666666";

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("GWSYNC_")) env[k] = v;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...env, GWSYNC_LOG_LEVEL: "warn", GWSYNC_HTTP_USERNAME: TEST_USER, GWSYNC_HTTP_PASSWORD: TEST_PASSWORD },
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 120_000,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Fetches one API only once released: that gateway stays behind on it as long as the test wants. */
class HeldRetriever extends HttpArtifactRetriever {
  #release!: () => void;
  readonly released = new Promise<void>((r) => {
    this.#release = r;
  });
  release(): void {
    this.#release();
  }
  override async retrieveArtifact(apiId: string, label: string): Promise<RetrievedArtifact | undefined> {
    if (apiId === SLOW_API) await this.released;
    return super.retrieveArtifact(apiId, label);
  }
}

const dtoJson = (o: { apiId: string; provider: string; name: string; xml: string }) =>
  JSON.stringify({
    apiId: o.apiId,
    name: o.name,
    version: "1",
    provider: o.provider,
    tenantDomain: "carbon.super",
    apiDefinition: o.xml,
  });

describe("publish --wait: return when every live gateway of the labels serves it, or say which did not and why", () => {
  const cluster = new TestCluster();
  let svc: PublisherService;
  let url: string;
  let w1: Gateway;
  let w2: Gateway;
  let held: HeldRetriever;

  before(async () => {
    svc = await cluster.startPublisher();
    url = svc.httpUrl!;
    w1 = await cluster.startGateway({ name: "w1", labels: ["W"] });
    w2 = await cluster.startGateway({ name: "w2", labels: ["W"] });
    held = new HeldRetriever({ serviceUrl: url, username: TEST_USER, password: TEST_PASSWORD });
    await cluster.startGateway({ name: "slow", labels: ["S"] }, { retriever: held });
    await cluster.startGateway({ name: "two", labels: ["W", "V"] });
  });
  after(async () => {
    held.release();
    await cluster.close();
  });

  test("the CLI returns once both gateways serve the new revision (exit 0); so does a second revision", async () => {
    const file = path.join(cluster.root, "waited.xml");
    for (const revision of [1, 2]) {
      writeFileSync(file, synapseApi({ name: "Waited", revision }));
      const r = await run(["publish", file, "--label", "W", "--url", url, "--wait", "--json"]);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const res = (JSON.parse(r.stdout) as { results: { apiId: string; revision: number; rollout: WaitResult }[] }).results[0]!;
      assert.deepEqual([res.rollout.complete, res.rollout.gateways], [true, 3], "w1, w2 and two (label W)");
      // Returned only once they serve it: it is already on each, without waiting for anything.
      for (const gw of [w1, w2, cluster.gateways.get("two")!])
        assert.equal(gw.deployer.get(res.apiId)?.revision, res.revision, gw.config.gwsync.nodeId);
    }
    writeFileSync(file, synapseApi({ name: "Waited", revision: 3 }));
    const text = await run(["publish", file, "--label", "W", "--url", url, "--wait", "--timeout", "45s"]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^Waited:1\.0\.0 revision=\d+: live on 3 gateway\(s\) after \d+\.\ds$/m);
  });

  test("a gateway that refuses it: exit 1 at once (not at the timeout), naming the gateway, the code and the reason", async () => {
    const xml = synapseApi({ provider: "a--b", name: "Y", version: "1" });
    const first = path.join(cluster.root, "first.json");
    writeFileSync(first, dtoJson({ apiId: "33333333-0000-4000-8000-000000000001", provider: "a--b", name: "Y", xml }));
    assert.equal((await run(["publish", first, "--label", "W", "--url", url, "--wait"])).code, 0);
    const second = path.join(cluster.root, "second.json");
    writeFileSync(second, dtoJson({ apiId: "33333333-0000-4000-8000-000000000002", provider: "a", name: "b--Y", xml }));
    const r = await run(["publish", second, "--label", "V", "--url", url, "--wait", "--timeout", "90s", "--json"]);
    assert.equal(r.code, 1, r.stderr);
    const w = (JSON.parse(r.stdout) as { results: { rollout: WaitResult }[] }).results[0]!.rollout;
    assert.deepEqual([w.complete, w.refused, w.timedOut], [false, true, false]);
    assert.ok(w.waitedMs < 90_000);
    const two = cluster.gateways.get("two")!.config.gwsync.nodeId;
    assert.deepEqual(w.notDone.map((g) => [g.nodeId, g.status, g.refusal?.code]), [[two, "refused", "GWSYNC_ARTIFACT_CONFLICT"]]);
    assert.match(r.stderr, /1 API\(s\) not live on every gateway of V/);

    const text = await run(["publish", second, "--label", "V", "--url", url, "--wait"]);
    assert.equal(text.code, 1);
    assert.match(text.stdout, /NOT live on 1 of 1 gateway\(s\): refused/);
    assert.match(text.stdout, new RegExp(`^ {2}${two} +REFUSED .*\\n +refused r\\d+ .*GWSYNC_ARTIFACT_CONFLICT: file \\S+ is already owned by API 33333333-0000-4000-8000-000000000001`, "m"));
  });

  test("a gateway that does not get there in time: exit 1 after the timeout, the gateway pending; REST answers 202 and the same", async () => {
    const slow = cluster.gateways.get("slow")!.config.gwsync.nodeId;
    const file = path.join(cluster.root, "slow.json");
    writeFileSync(file, dtoJson({ apiId: SLOW_API, provider: "admin", name: "Slow", xml: synapseApi({ name: "Slow", version: "1" }) }));
    const r = await run(["publish", file, "--label", "S", "--url", url, "--timeout", "1500ms", "--json"]);
    assert.equal(r.code, 1, r.stderr);
    const w = (JSON.parse(r.stdout) as { results: { rollout: WaitResult }[] }).results[0]!.rollout;
    assert.deepEqual([w.complete, w.refused, w.timedOut], [false, false, true]);
    assert.ok(w.waitedMs >= 1500, `waited the timeout (${w.waitedMs} ms)`);
    assert.deepEqual(w.notDone.map((g) => [g.nodeId, g.status, g.served]), [[slow, "pending", undefined]]);

    const res = await fetch(`${url}/api/v1/artifacts?label=S&wait=1s`, {
      method: "POST",
      headers: { authorization: authHeader(), "content-type": "application/json" },
      body: dtoJson({ apiId: SLOW_API, provider: "admin", name: "Slow", xml: synapseApi({ name: "Slow", version: "1", revision: 2 }) }),
    });
    assert.equal(res.status, 202, "stored, not live everywhere");
    const body = (await res.json()) as { changed: boolean; rollout: WaitResult };
    assert.equal(body.changed, true);
    assert.deepEqual([body.rollout.timedOut, body.rollout.notDone.map((g) => g.nodeId)], [true, [slow]]);

    // Once the gateway gets it, the same wait succeeds.
    held.release();
    const again = await run(["publish", file, "--label", "S", "--url", url, "--wait"]);
    assert.equal(again.code, 0, again.stdout + again.stderr);
  });

  test("REST ?wait= answers 201 once live everywhere; a bad duration is 400; remove --wait returns once no gateway serves it", async () => {
    const res = await fetch(`${url}/api/v1/artifacts?label=W&wait=30s`, {
      method: "POST",
      headers: { authorization: authHeader(), "content-type": "application/xml" },
      body: synapseApi({ name: "RestWaited" }),
    });
    assert.equal(res.status, 201);
    const body = (await res.json()) as { apiId: string; revision: number; rollout: WaitResult };
    assert.deepEqual([body.rollout.complete, body.rollout.gateways, body.rollout.notDone], [true, 3, []]);
    assert.equal(w1.deployer.get(body.apiId)?.revision, body.revision);

    const bad = await fetch(`${url}/api/v1/artifacts?label=W&wait=soon`, {
      method: "POST",
      headers: { authorization: authHeader(), "content-type": "application/xml" },
      body: synapseApi({ name: "RestWaited2" }),
    });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { message: string }).message, /"soon" is not a duration/);
    assert.equal(
      (await svc.publisher.store.listArtifacts({ label: "W" })).some((a) => a.name.includes("RestWaited2")),
      false,
      "refused before anything was stored",
    );

    const rm = await run(["remove", body.apiId, "--label", "W", "--url", url, "--wait"]);
    assert.equal(rm.code, 0, rm.stderr);
    assert.match(rm.stdout, /removal: gone from 3 gateway\(s\)/);
    for (const gw of [w1, w2]) assert.equal(gw.deployer.get(body.apiId), undefined);
  });
});
