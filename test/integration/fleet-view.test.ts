import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { Gateway } from "../../src/gateway/gateway.js";
import type { FleetView, Rollout } from "../../src/publisher/fleet-view.js";
import type { PublisherService } from "../../src/publisher/service.js";
import { authHeader, synapseApi, TEST_PASSWORD, TEST_USER, TestCluster } from "../harness/cluster.js";
import { CHANGED, counter, waitFor } from "../harness/wait.js";

/**
 * Issue 18, apply feedback: each gateway reports what it serves and what it refused, the publisher
 * keeps it, and GET /api/v1/fleet, GET /api/v1/artifacts/{apiId}/rollout, `gwsync status [API]` and
 * /metrics show it. On the real broker, with the case a new user met: two APIs whose gateway file is
 * the same, published to two labels (the store's one-file-one-API check is per label), and a gateway
 * serving both labels refuses the second.
 */

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = path.join(ROOT, "bin", "gwsync.js");

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("GWSYNC_")) env[k] = v;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...env, GWSYNC_LOG_LEVEL: "warn", GWSYNC_HTTP_USERNAME: TEST_USER, GWSYNC_HTTP_PASSWORD: TEST_PASSWORD },
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 60_000,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("fleet view: what every gateway serves, what it refused and why", () => {
  const cluster = new TestCluster();
  let svc: PublisherService;
  let url: string;
  let both: Gateway;
  let one: Gateway;

  async function get<T>(p: string): Promise<T> {
    const res = await fetch(`${url}${p}`, { headers: { authorization: authHeader() } });
    assert.equal(res.status, 200, `${p}: ${await res.clone().text()}`);
    return (await res.json()) as T;
  }

  async function publish(body: string, label: string): Promise<{ apiId: string; revision: number; sha256: string }> {
    const res = await fetch(`${url}/api/v1/artifacts?label=${label}`, {
      method: "POST",
      headers: {
        authorization: authHeader(),
        "content-type": body.startsWith("{") ? "application/json" : "application/xml",
      },
      body,
    });
    assert.equal(res.status, 201, await res.clone().text());
    return (await res.json()) as { apiId: string; revision: number; sha256: string };
  }

  const rollout = (apiId: string) => get<Rollout>(`/api/v1/artifacts/${apiId}/rollout`);
  const until = (what: string, check: () => Promise<boolean>) =>
    waitFor(svc.publisher.events, ["report", "heartbeat"], check, what);

  before(async () => {
    svc = await cluster.startPublisher();
    url = svc.httpUrl!;
    both = await cluster.startGateway({ name: "both", labels: ["East", "West"] });
    one = await cluster.startGateway({ name: "one", labels: ["East"] });
  });
  after(() => cluster.close());

  test("a publish reaches both gateways: the rollout says deployed at the store's revision on each", async () => {
    const a = await publish(synapseApi({ provider: "a--b", name: "X", version: "1" }), "East");
    await until("both gateways to report API A deployed", async () => (await rollout(a.apiId)).counts.deployed === 2);
    const r = await rollout(a.apiId);
    assert.equal(r.complete, true);
    assert.deepEqual(
      r.gateways.map((g) => [g.nodeId, g.status, g.served?.revision, g.served?.sha256]).sort(),
      [both, one].map((g) => [g.config.gwsync.nodeId, "deployed", a.revision, a.sha256]).sort(),
    );
  });

  test("two APIs on one file: the second is refused on the gateway of both labels, and the control plane says so within one heartbeat", async () => {
    const a = (await svc.publisher.store.listArtifacts({ label: "East" }))[0]!;
    const node = both.config.gwsync.nodeId;
    // Counted from the moment the gateway refuses: the report must be recorded before its next beat but one.
    let beatsSinceRefusal: number | undefined;
    const beats = counter(svc.publisher.events, "heartbeat", (hb) => (hb as { nodeId: string }).nodeId === node);
    both.events.on("rejected", () => {
      beatsSinceRefusal ??= beats.count;
    });
    const refusedMetric = counter(svc.publisher.events, "report");
    // Two APIs (two ids, as WSO2's publisher sends them) whose synapse API is the same file: provider a +
    // name b--X and provider a--b + name X are both api/a--b--X_v1.xml.
    const b = await publish(
      JSON.stringify({
        apiId: "11111111-2222-4333-8444-555555555552",
        name: "b--X",
        version: "1",
        provider: "a",
        tenantDomain: "carbon.super",
        apiDefinition: synapseApi({ provider: "a--b", name: "X", version: "1" }),
      }),
      "West",
    );
    assert.notEqual(b.apiId, a.apiId);
    await until("the refusal of API B on the control plane", async () =>
      (await rollout(b.apiId)).gateways.some((g) => g.status === "refused"),
    );
    assert.ok(beatsSinceRefusal !== undefined, "the gateway refused it");
    assert.ok(
      beats.count - beatsSinceRefusal <= 1,
      `recorded within one heartbeat of the refusal (${beats.count - beatsSinceRefusal} beats later)`,
    );
    assert.ok(refusedMetric.count > 0);

    const r = await rollout(b.apiId);
    assert.equal(r.complete, false, "a live gateway of the labels does not serve it");
    assert.equal(r.gateways.length, 1, "only the gateway of label West has a say");
    const g = r.gateways[0]!;
    assert.equal(g.nodeId, node);
    assert.equal(g.status, "refused");
    assert.equal(g.served, undefined);
    assert.equal(g.refusal?.code, "GWSYNC_ARTIFACT_CONFLICT");
    assert.equal(g.refusal?.revision, b.revision);
    assert.match(g.refusal?.message ?? "", new RegExp(`already owned by API ${a.apiId}`));
    // API A is untouched on both.
    assert.equal((await rollout(a.apiId)).counts.deployed, 2);

    // The CLI says the same, as JSON and as text.
    const json = await run(["status", b.apiId, "--url", url, "--json"]);
    assert.equal(json.code, 0, json.stderr);
    const cli = JSON.parse(json.stdout) as Rollout;
    assert.deepEqual(
      cli.gateways.map((x) => [x.nodeId, x.status, x.refusal?.code]),
      [[node, "refused", "GWSYNC_ARTIFACT_CONFLICT"]],
    );
    const text = await run(["status", "b--X:1", "--url", url]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^ {2}${node} +REFUSED +ready`, "m"));
    assert.match(text.stdout, /refused r\d+ \d+s ago: GWSYNC_ARTIFACT_CONFLICT: file \S+ is already owned/);
    const status = await run(["status", "--url", url]);
    assert.match(status.stdout, new RegExp(`^ {2}${node} +ready .* REFUSED=1`, "m"));
    const aText = await run(["status", a.apiId, "--url", url]);
    for (const gw of [both, one])
      assert.match(aText.stdout, new RegExp(`^ {2}${gw.config.gwsync.nodeId} +deployed +ready +serves r${a.revision} `, "m"));

    // Prometheus: the refusal counted once, per reason code.
    const metrics = await (await fetch(`${url}/metrics`, { headers: { authorization: authHeader() } })).text();
    assert.match(metrics, /^gwsync_rollout_refused_total\{code="GWSYNC_ARTIFACT_CONFLICT",service="publisher"\} 1$/m);
    assert.match(metrics, /^gwsync_fleet_gateways\{state="ready",service="publisher"\} 2$/m);
  });

  test("the fleet: every gateway with labels, applied seq, lag, served and refused counts; a stopped one is stopped", async () => {
    const f = await get<FleetView>("/api/v1/fleet");
    const mine = f.gateways.filter((g) => g.nodeId.startsWith(cluster.id));
    assert.deepEqual(
      mine.map((g) => [g.nodeId, g.state, g.alive, g.labels, g.served, g.refused, g.report]).sort(),
      [
        [both.config.gwsync.nodeId, "ready", true, ["East", "West"], 1, 1, "complete"],
        [one.config.gwsync.nodeId, "ready", true, ["East"], 1, 0, "complete"],
      ].sort(),
    );
    for (const g of mine) {
      assert.equal(g.region, "test");
      assert.ok(g.lagSeq >= 0 && g.lagSeconds >= 0);
    }
    assert.equal(f.counts.ready, 2);

    const node = one.config.gwsync.nodeId;
    await cluster.stopGateway("one");
    await until("the stopped gateway", async () =>
      (await get<FleetView>("/api/v1/fleet")).gateways.some((g) => g.nodeId === node && g.state === "stopped"),
    );
    const after = await get<FleetView>("/api/v1/fleet");
    assert.deepEqual([after.counts.ready, after.counts.stopped], [1, 1]);
    const a = (await svc.publisher.store.listArtifacts({ label: "East" }))[0]!;
    const r = await rollout(a.apiId);
    assert.equal(r.gateways.find((g) => g.nodeId === node)?.state, "stopped");
    assert.equal(r.complete, true, "a stopped gateway that served it does not hold the rollout back");
  });

  test("the fleet endpoints need the credentials, and an unknown API is 404", async () => {
    for (const p of ["/api/v1/fleet", "/api/v1/artifacts/x/rollout"]) {
      const res = await fetch(`${url}${p}`);
      assert.equal(res.status, 401, p);
    }
    const res = await fetch(`${url}/api/v1/artifacts/nope/rollout`, { headers: { authorization: authHeader() } });
    assert.equal(res.status, 404);
    const cli = await run(["status", "nope", "--url", url]);
    assert.equal(cli.code, 4, cli.stderr);
  });

  test("a gateway that restarts reports afresh (a new boot's full snapshot): what it serves, and its refusal again", async () => {
    const node = both.config.gwsync.nodeId;
    const before = await svc.publisher.store.listGatewayReports({ nodeId: node });
    await cluster.stopGateway("both");
    const reports = counter(svc.publisher.events, "report", (r) => (r as { nodeId: string; kind: string }).nodeId === node);
    both = await cluster.startGateway({ name: "both", labels: ["East", "West"] });
    await waitFor(both.events, CHANGED, () => both.ready, "the restarted gateway");
    await until("a full report from the restarted gateway", async () => reports.count > 0);
    const cursor = (await svc.publisher.store.listReportCursors()).find((c) => c.nodeId === node);
    assert.equal(cursor?.boot, both.reports.boot, "the new boot's stream");
    const afterRows = await svc.publisher.store.listGatewayReports({ nodeId: node });
    const served = (rows: typeof before) => rows.filter((r) => r.served).map((r) => [r.apiId, r.served?.sha256]);
    assert.deepEqual(served(afterRows), served(before));
    const b = (await svc.publisher.store.listArtifacts({ label: "West" }))[0]!;
    await until("the refusal reported again after the restart's load", async () =>
      (await rollout(b.apiId)).gateways.some((g) => g.status === "refused" && g.refusal!.at > cursor!.updatedAt - 60_000),
    );
  });
});
