import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { PublisherService } from "../../src/publisher/service.js";
import { authHeader, synapseApi, TEST_PASSWORD, TEST_USER, TestCluster } from "../harness/cluster.js";
import { waitFor } from "../harness/wait.js";

/**
 * Export/import when no link joins two data centers, through the CLI: `gwsync replication export` on
 * the master writes a bundle, `gwsync replication import` on the clone verifies and applies it, and
 * the clone's agreement then pulls on from the bundle's sequence. Also `gwsync replication agreements`.
 */

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = path.join(ROOT, "bin", "gwsync.js");
const LABEL = "Production and Sandbox";
const APIS = 30;
const CREDENTIALS = { GWSYNC_HTTP_USERNAME: TEST_USER, GWSYNC_HTTP_PASSWORD: TEST_PASSWORD };

function gwsync(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("GWSYNC_")) base[k] = v;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...base, GWSYNC_LOG_LEVEL: "warn", ...CREDENTIALS, ...env },
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 60_000,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString("utf8");
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString("utf8");
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

async function publish(url: string, xml: string): Promise<{ apiId: string; seq: number; sha256: string }> {
  const res = await fetch(`${url}/api/v1/artifacts?label=${encodeURIComponent(LABEL)}`, {
    method: "POST",
    headers: { authorization: authHeader(), "content-type": "application/xml" },
    body: xml,
  });
  assert.ok(res.status === 201 || res.status === 200, `publish answered ${res.status}`);
  return (await res.json()) as { apiId: string; seq: number; sha256: string };
}

async function shaSet(svc: PublisherService): Promise<string[]> {
  return (await svc.publisher.store.listArtifacts({ label: LABEL }))
    .map((a) => `${a.apiId}:${a.sha256}`)
    .sort();
}

async function start(cluster: TestCluster): Promise<PublisherService> {
  const svc = new PublisherService(
    { config: cluster.publisherConfig() },
    { replication: { retries: 1, retryMinMs: 20 } },
  );
  await svc.start();
  cluster.publisher = svc;
  cluster.publisherUrl = svc.httpUrl ?? cluster.publisherUrl;
  return svc;
}

describe("replication export/import through the CLI, then pull on from the bundle's sequence", () => {
  const master = new TestCluster({ region: "eu" });
  const clone = new TestCluster({ region: "ap" });
  let masterSvc: PublisherService;
  let cloneSvc: PublisherService;
  let id = "";
  const bundle = path.join(master.root, "full.bundle.json");
  const delta = path.join(master.root, "delta.bundle.json");
  const passwordFile = path.join(clone.root, "master.password");

  before(async () => {
    masterSvc = await start(master);
    cloneSvc = await start(clone);
    for (let i = 0; i < APIS; i++) await publish(master.publisherUrl, synapseApi({ name: `Api${i}` }));
    writeFileSync(passwordFile, `${TEST_PASSWORD}\n`, { mode: 0o600 });
  });

  after(async () => {
    await clone.close();
    await master.close();
  });

  test("agreements create (disabled: no link yet) and list through the CLI; the password never in argv", async () => {
    const r = await gwsync([
      "replication",
      "agreements",
      "create",
      "--url",
      clone.publisherUrl,
      "--master-url",
      master.publisherUrl,
      "--master-user",
      TEST_USER,
      "--master-password-file",
      passwordFile,
      "--label",
      LABEL,
      "--poll-interval",
      "0.2",
      "--disabled",
      "--json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const created = JSON.parse(r.stdout) as { identifier: string; state: string };
    id = created.identifier;
    assert.equal(created.state, "DISABLED");
    const list = await gwsync(["replication", "agreements", "list", "--url", master.publisherUrl]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`${id}  SUPPLIER  DISABLED  clone ap`));
    const missing = await gwsync(["replication", "agreements", "show", "nope", "--url", clone.publisherUrl]);
    assert.equal(missing.code, 4, "not found is exit 4");
    const noPassword = await gwsync([
      "replication",
      "agreements",
      "create",
      "--url",
      clone.publisherUrl,
      "--master-url",
      master.publisherUrl,
      "--master-user",
      TEST_USER,
      "--label",
      "Other",
    ]);
    assert.equal(noPassword.code, 2);
    assert.match(noPassword.stderr, /GWSYNC_MASTER_PASSWORD/);
  });

  test("a full export imported on the clone gives the master's sha256 set, and importing again changes nothing", async () => {
    const e = await gwsync([
      "replication",
      "export",
      "--url",
      master.publisherUrl,
      "--label",
      LABEL,
      "-o",
      bundle,
      "--json",
    ]);
    assert.equal(e.code, 0, e.stderr);
    const summary = JSON.parse(e.stdout) as { entries: number; sequence: number; digest: string };
    assert.equal(summary.entries, APIS);
    assert.equal(summary.sequence, await masterSvc.publisher.store.headSeq());

    const i = await gwsync([
      "replication",
      "import",
      bundle,
      "--agreement",
      id,
      "--url",
      clone.publisherUrl,
      "--json",
    ]);
    assert.equal(i.code, 0, i.stderr);
    const report = JSON.parse(i.stdout) as {
      applied: number;
      agreement: { advanced: boolean; lastSequenceNumber: number };
    };
    assert.equal(report.applied, APIS);
    assert.equal(report.agreement.advanced, true);
    assert.equal(report.agreement.lastSequenceNumber, summary.sequence);
    assert.deepEqual(await shaSet(cloneSvc), await shaSet(masterSvc));

    const again = await gwsync([
      "replication",
      "import",
      bundle,
      "--agreement",
      id,
      "--url",
      clone.publisherUrl,
      "--json",
    ]);
    assert.equal(again.code, 0, again.stderr);
    const r2 = JSON.parse(again.stdout) as { applied: number; unchanged: number };
    assert.equal(r2.applied, 0);
    assert.equal(r2.unchanged, APIS);
  });

  test("an altered bundle is refused whole (exit 3) and nothing is applied", async () => {
    const b = JSON.parse(readFileSync(bundle, "utf8")) as { artifacts: Record<string, string> };
    const first = Object.keys(b.artifacts)[0]!;
    b.artifacts[first] = b.artifacts[first]!.replace("Api", "Evil");
    const altered = path.join(master.root, "altered.json");
    writeFileSync(altered, JSON.stringify(b));
    const head = await cloneSvc.publisher.store.headSeq();
    const r = await gwsync(["replication", "import", altered, "--url", clone.publisherUrl]);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /does not match its sha256/);
    assert.equal(await cloneSvc.publisher.store.headSeq(), head);
  });

  test("an incremental export (--since) carries updates and removals; the clone then pulls on from its sequence", async () => {
    const from = (await cloneSvc.replication.get(id, "consumer"))!.lastSequenceNumber;
    await publish(master.publisherUrl, synapseApi({ name: "Api1", revision: 2 }));
    await publish(master.publisherUrl, synapseApi({ name: "Api1", revision: 3 }));
    const removed = await fetch(
      `${master.publisherUrl}/api/v1/artifacts/Api2:1.0.0?label=${encodeURIComponent(LABEL)}`,
      {
        method: "DELETE",
        headers: { authorization: authHeader() },
      },
    );
    assert.equal(removed.status, 200);
    const e = await gwsync([
      "replication",
      "export",
      "--url",
      master.publisherUrl,
      "--label",
      LABEL,
      "--since",
      String(from),
      "-o",
      delta,
      "--json",
    ]);
    assert.equal(e.code, 0, e.stderr);
    assert.equal(
      (JSON.parse(e.stdout) as { entries: number }).entries,
      2,
      "Api1's superseded revision is left out",
    );
    const i = await gwsync([
      "replication",
      "import",
      delta,
      "--agreement",
      id,
      "--url",
      clone.publisherUrl,
      "--json",
    ]);
    assert.equal(i.code, 0, i.stderr);
    assert.deepEqual(await shaSet(cloneSvc), await shaSet(masterSvc));

    // Enabled now: the clone pulls from the bundle's sequence, so it applies only what came after.
    const after = await publish(master.publisherUrl, synapseApi({ name: "AfterBundle" }));
    const en = await gwsync([
      "replication",
      "agreements",
      "enable",
      id,
      "--url",
      clone.publisherUrl,
      "--json",
    ]);
    assert.equal(en.code, 0, en.stderr);
    await waitFor(
      cloneSvc.replication.events,
      ["pulled", "progress"],
      () => (cloneSvc.replication.get(id, "consumer")?.lastSequenceNumber ?? 0) >= after.seq,
      "the clone to pull on from the bundle",
    );
    const a = cloneSvc.replication.get(id, "consumer") as { applied: number; bootstrapped: number };
    assert.equal(a.bootstrapped, 0, "no second bootstrap after a full import");
    assert.equal(a.applied, 1, "only the change made after the bundle");
    assert.deepEqual(await shaSet(cloneSvc), await shaSet(masterSvc));

    const pull = await gwsync(["replication", "agreements", "pull", id, "--url", clone.publisherUrl]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.match(pull.stdout, /^READY: applied 0/);
    const del = await gwsync(["replication", "agreements", "delete", id, "--url", clone.publisherUrl]);
    assert.equal(del.code, 0, del.stderr);
    assert.match(del.stdout, /master: deleted/);
  });
});
