import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Gateway } from "../../src/gateway/gateway.js";
import type { ArtifactStore } from "../../src/store/types.js";
import { authHeader, synapseApi, TestCluster } from "../harness/cluster.js";
import { CHANGED, waitFor } from "../harness/wait.js";

/** A tiny deterministic PRNG so a failing run can be replayed. */
function prng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** What the store holds per API: each label's own artifact (WSO2 keeps one row per API and label). */
interface Expected {
  name: string;
  labels: Map<string, { revision: number; sha256: string }>;
}

function apiFiles(dir: string): string[] {
  try {
    return readdirSync(join(dir, "api")).filter((f) => !f.startsWith(".")).sort();
  } catch {
    return [];
  }
}

/** A gateway serving several labels deploys the newest revision among its labels' artifacts. */
function expectedFor(model: Map<string, Expected>, labels: string[]): Map<string, { name: string; sha256: string }> {
  const out = new Map<string, { name: string; sha256: string }>();
  for (const [id, e] of model) {
    let best: { revision: number; sha256: string } | undefined;
    for (const l of labels) {
      const a = e.labels.get(l);
      if (a && (!best || a.revision > best.revision)) best = a;
    }
    if (best) out.set(id, { name: e.name, sha256: best.sha256 });
  }
  return out;
}

/**
 * The Git store's branch holds what the store holds: per label folder exactly one file per published
 * API, with the stored bytes; one commit per change (API, revision) of the changelog; git fsck clean.
 */
async function checkRepository(store: ArtifactStore, repo: string, labels: string[]): Promise<void> {
  // Asynchronous on purpose: a blocked event loop would keep the HTTP client's pooled sockets past the
  // server's keep-alive timeout, and the next test's request would meet a closed socket.
  const run = promisify(execFile);
  const git = async (...args: string[]) =>
    (await run("git", [`--git-dir=${repo}`, ...args], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 })).stdout;
  const tree = (await git("ls-tree", "-r", "--name-only", "main")).split("\n").filter((l) => l !== "");
  const want: string[] = [];
  for (const label of labels) {
    for (const a of await store.listArtifacts({ label, withBody: true })) {
      const path = `${label}/admin--${a.name}_v1.0.0.json`;
      want.push(path);
      assert.equal(await git("show", `main:${path}`), a.artifactJson, path);
    }
  }
  assert.deepEqual(tree.sort(), want.sort());
  const changes = await store.changesSince(0, labels);
  const revisions = new Set(changes.map((c) => `${c.apiId}:${c.revision}`));
  assert.equal(Number((await git("rev-list", "--count", "main")).trim()), revisions.size);
  await git("fsck", "--strict", "--no-dangling");
}

function converged(gw: Gateway, expected: Map<string, { sha256: string }>): boolean {
  const deployed = gw.deployer.deployed();
  if (deployed.length !== expected.size) return false;
  return deployed.every((d) => expected.get(d.apiId)?.sha256 === d.sha256);
}

// The same tests on the SQLite store and on the Git store (whose artifacts and history live in a repository).
for (const store of ["sqlite", "git"] as const) describe(`core (${store} store): publish on the control plane, deployed on exactly the right gateways`, () => {
  const cluster = new TestCluster({ store });
  const specs = [
    { name: "g1", labels: ["A"] },
    { name: "g2", labels: ["B"] },
    { name: "g3", labels: ["A", "C"] },
  ];

  before(async () => {
    await cluster.startPublisher();
    for (const s of specs) await cluster.startGateway(s);
  });
  after(() => cluster.close());

  test("three gateways hold exactly the APIs of their labels after 100 mixed publishes, updates and removes", async () => {
    const pub = cluster.publisher!.publisher;
    const rnd = prng(42);
    const names = Array.from({ length: 20 }, (_, i) => `Api${i}`);
    const allLabels = ["A", "B", "C"];
    const model = new Map<string, Expected>();
    let revisionMark = 0;
    for (let op = 0; op < 100; op++) {
      const name = names[Math.floor(rnd() * names.length)]!;
      const existingId = [...model.entries()].find(([, e]) => e.name === name)?.[0];
      const existing = existingId ? model.get(existingId) : undefined;
      const r = rnd();
      if (existing && existing.labels.size > 0 && r < 0.25) {
        const label = [...existing.labels.keys()][Math.floor(rnd() * existing.labels.size)]!;
        // Half by id, half by name:version: both forms of the hook.
        await pub.removeApi(rnd() < 0.5 ? existingId! : `${name}:1.0.0`, [label]);
        existing.labels.delete(label);
      } else {
        const labels = allLabels.filter(() => rnd() < 0.5);
        if (labels.length === 0) labels.push("A");
        revisionMark++;
        const res = await pub.deployApi(synapseApi({ name, revision: revisionMark, size: 2000 }), labels);
        const e = model.get(res.apiId) ?? { name, labels: new Map() };
        for (const l of res.labels) e.labels.set(l, { revision: res.revision, sha256: res.sha256 });
        model.set(res.apiId, e);
      }
    }
    for (const s of specs) {
      const gw = cluster.gateways.get(s.name)!;
      const expected = expectedFor(model, s.labels);
      await waitFor(gw.events, CHANGED, () => converged(gw, expected), `${s.name} to converge on ${expected.size} APIs`).catch(
        (err: Error) => {
          // Show what differs, not just that it timed out.
          const actual = Object.fromEntries(gw.deployer.deployed().map((d) => [d.apiId, d.sha256.slice(0, 8)]));
          const wanted = Object.fromEntries([...expected].map(([id, e]) => [id, e.sha256.slice(0, 8)]));
          assert.deepEqual(actual, wanted, err.message);
          assert.equal(gw.deployer.deployed().length, expected.size, `deployed() length; ids: ${gw.deployer.deployed().map((d) => d.apiId).join(",")}`);
          throw err;
        },
      );
      // On disk: exactly one file per expected API, holding the latest revision's XML.
      const files = apiFiles(cluster.deploymentDir(s.name));
      assert.deepEqual(files, [...expected.values()].map((e) => `admin--${e.name}_v1.0.0.xml`).sort());
      for (const d of gw.deployer.deployed()) {
        const file = join(cluster.deploymentDir(s.name), "api", `admin--${d.name}_v1.0.0.xml`);
        const held = await Promise.all(d.labels.map((l) => pub.store.getArtifact(d.apiId, l)));
        const stored = held.find((a) => a?.sha256 === d.sha256);
        assert.ok(stored, `store holds ${d.apiId} with the deployed sha256`);
        assert.equal(readFileSync(file, "utf8"), JSON.parse(stored.artifactJson).apiDefinition);
      }
    }
    // Nobody holds an API of a label it does not serve.
    const g2 = cluster.gateways.get("g2")!;
    for (const d of g2.deployer.deployed()) assert.ok(model.get(d.apiId)?.labels.has("B"));
    assert.ok(model.size > 10, "the run touched many APIs");
    if (store === "git") await checkRepository(pub.store, join(cluster.root, "publisher", "artifacts.git"), allLabels);
  });

  test("the REST API publishes with credentials and refuses without them", async () => {
    const url = cluster.publisher!.httpUrl!;
    const xml = synapseApi({ name: "RestApi", size: 500 });
    const anon = await fetch(`${url}/api/v1/artifacts?label=B`, { method: "POST", body: xml, headers: { "content-type": "application/xml" } });
    assert.equal(anon.status, 401);
    assert.equal(((await anon.json()) as Record<string, unknown>).code, "GWSYNC_HTTP_UNAUTHORIZED");
    const res = await fetch(`${url}/api/v1/artifacts?label=B`, {
      method: "POST",
      body: xml,
      headers: { "content-type": "application/xml", authorization: authHeader() },
    });
    assert.equal(res.status, 201);
    const body = (await res.json()) as { apiId: string; revision: number; seq: number };
    assert.ok(body.apiId && body.revision >= 1 && body.seq >= 1);
    const g2 = cluster.gateways.get("g2")!;
    await waitFor(g2.events, CHANGED, () => g2.deployer.get(body.apiId) !== undefined, "g2 to deploy RestApi");
    const del = await fetch(`${url}/api/v1/artifacts/${body.apiId}?label=B`, { method: "DELETE", headers: { authorization: authHeader() } });
    assert.equal(del.status, 200);
    await waitFor(g2.events, CHANGED, () => g2.deployer.get(body.apiId) === undefined, "g2 to remove RestApi");
    assert.ok(!apiFiles(cluster.deploymentDir("g2")).includes("admin--RestApi_v1.0.0.xml"));
  });
});
