import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Gateway } from "../../src/gateway/gateway.js";
import { EXIT, runCli } from "../harness/cli-run.js";
import { authHeader, synapseApi, TEST_PASSWORD, TEST_USER, TestCluster } from "../harness/cluster.js";
import { CHANGED, waitFor } from "../harness/wait.js";

/**
 * History, rollback and diff end to end on the real broker: a rollback republishes an earlier
 * revision's exact bytes as a new revision, and every gateway ends up holding those bytes (sha256
 * equal, on disk too); the CLI lists, diffs and rolls back over the REST API with its exit codes.
 */

const CREDENTIALS = { GWSYNC_HTTP_USERNAME: TEST_USER, GWSYNC_HTTP_PASSWORD: TEST_PASSWORD };
const sha256 = (b: string | Buffer) => createHash("sha256").update(b).digest("hex");

interface Deployed {
  apiId: string;
  revision: number;
  sha256: string;
  seq: number;
  labels: string[];
  changed: boolean;
}

// On the SQLite store and on the Git store (which reads every revision back from its repository).
for (const store of ["sqlite", "git"] as const) describe(`history, rollback and diff (${store} store)`, () => {
  const cluster = new TestCluster({ store });
  const specs = [
    { name: "g1", labels: ["A"] },
    { name: "g2", labels: ["A", "B"] },
    { name: "g3", labels: ["B"] },
  ];
  let url = "";
  const revisions: Deployed[] = [];
  const xmls: string[] = [];

  before(async () => {
    await cluster.startPublisher();
    url = cluster.publisher!.httpUrl!;
    for (const s of specs) await cluster.startGateway(s);
  });
  after(() => cluster.close());

  /** Every gateway holds the API with this sha256, and its file on disk holds `xml`. */
  async function allHold(apiId: string, sha: string, xml: string): Promise<void> {
    for (const s of specs) {
      const gw: Gateway = cluster.gateways.get(s.name)!;
      await waitFor(
        gw.events,
        CHANGED,
        () => gw.deployer.deployed().some((d) => d.apiId === apiId && d.sha256 === sha),
        `${s.name} to deploy ${sha.slice(0, 8)}`,
      );
      const file = join(cluster.deploymentDir(s.name), "api", "admin--Rollback_v1.0.0.xml");
      assert.equal(sha256(readFileSync(file)), sha256(xml), `${s.name}: the file on disk holds those bytes`);
    }
  }

  async function post(path: string, body: unknown, auth = authHeader()): Promise<Response> {
    return fetch(`${url}${path}`, {
      method: "POST",
      headers: { authorization: auth, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  }

  test("three publishes, then a rollback to revision 1: a new revision with revision 1's sha256 on every gateway", async () => {
    const pub = cluster.publisher!.publisher;
    for (let i = 1; i <= 3; i++) {
      const xml = synapseApi({ name: "Rollback", revision: i * 100, size: 3000 });
      xmls.push(xml);
      revisions.push(await pub.deployApi(xml, ["A", "B"]));
    }
    const apiId = revisions[0]!.apiId;
    assert.deepEqual(revisions.map((r) => r.revision), [1, 2, 3]);
    await allHold(apiId, revisions[2]!.sha256, xmls[2]!);

    const res = await post(`/api/v1/artifacts/${apiId}/rollback`, { to: 1 });
    assert.equal(res.status, 201);
    const r = (await res.json()) as Deployed & { rolledBackTo: number };
    assert.equal(r.revision, 4, "a rollback is a new revision");
    assert.equal(r.rolledBackTo, 1);
    assert.equal(r.sha256, revisions[0]!.sha256, "the earlier bytes, not a re-serialisation");
    assert.deepEqual(r.labels, ["A", "B"], "to the labels revision 1 was on");
    await allHold(apiId, revisions[0]!.sha256, xmls[0]!);

    // Rolling back to the bytes already published changes nothing and announces nothing.
    const again = await post(`/api/v1/artifacts/${apiId}/rollback`, { to: 1 });
    assert.equal(again.status, 200);
    assert.equal(((await again.json()) as Deployed).changed, false);

    // The store's history says what happened, newest first.
    const h = await fetch(`${url}/api/v1/artifacts/${apiId}/history`, { headers: { authorization: authHeader() } });
    assert.equal(h.status, 200);
    const body = (await h.json()) as { name: string; count: number; revisions: { revision: number; sha256: string }[] };
    assert.equal(body.name, "Rollback");
    assert.deepEqual(
      body.revisions.map((x) => [x.revision, x.sha256]),
      [
        [4, revisions[0]!.sha256],
        [3, revisions[2]!.sha256],
        [2, revisions[1]!.sha256],
        [1, revisions[0]!.sha256],
      ],
    );
  });

  test("the CLI: history, diff and rollback over REST, --json, and the exit codes", async () => {
    const apiId = revisions[0]!.apiId;
    const cwd = cluster.root;
    const hist = await runCli(["history", apiId, "--url", url, "--json"], cwd, CREDENTIALS);
    assert.equal(hist.code, EXIT.OK, hist.stderr);
    assert.deepEqual(
      (JSON.parse(hist.stdout) as { revisions: { revision: number }[] }).revisions.map((x) => x.revision),
      [4, 3, 2, 1],
    );
    // By name:version as well, as a table.
    const table = await runCli(["history", "Rollback:1.0.0", "--url", url], cwd, CREDENTIALS);
    assert.equal(table.code, EXIT.OK, table.stderr);
    assert.match(table.stdout, /^Rollback:1\.0\.0 apiId=\S+, 4 revision\(s\)$/m);
    assert.match(table.stdout, new RegExp(`^4\\s+Publish\\s+A,B\\s+${revisions[0]!.sha256.slice(0, 12)}\\s`, "m"));
    const listed = (JSON.parse(hist.stdout) as { revisions: { storeCommit?: string }[] }).revisions;
    if (store === "git") {
      assert.ok(listed.every((x) => /^[0-9a-f]{40}$/.test(x.storeCommit ?? "")), "every revision names its commit");
      assert.match(table.stdout, /\bSTORE COMMIT\b/);
    } else {
      assert.ok(listed.every((x) => x.storeCommit === undefined));
    }

    const diff = await runCli(["diff", apiId, "1", "3", "--url", url], cwd, CREDENTIALS);
    assert.equal(diff.code, EXIT.OK, diff.stderr);
    assert.match(diff.stdout, /^--- a\/api\/admin--Rollback_v1\.0\.0\.xml\trevision 1$/m);
    assert.match(diff.stdout, /^-\s+<property name="gwsync\.revision" value="100"\/>$/m);
    assert.match(diff.stdout, /^\+\s+<property name="gwsync\.revision" value="300"\/>$/m);
    const same = await runCli(["diff", apiId, "1", "4", "--url", url, "--json"], cwd, CREDENTIALS);
    assert.equal(same.code, EXIT.OK, same.stderr);
    assert.deepEqual((JSON.parse(same.stdout) as { files: unknown[] }).files, []);

    const rb = await runCli(["rollback", apiId, "--to", "2", "--url", url, "--json"], cwd, CREDENTIALS);
    assert.equal(rb.code, EXIT.OK, rb.stderr);
    const r = JSON.parse(rb.stdout) as Deployed & { rolledBackTo: number };
    assert.equal(r.revision, 5);
    assert.equal(r.sha256, revisions[1]!.sha256);
    await allHold(apiId, revisions[1]!.sha256, xmls[1]!);

    const missing = await runCli(["rollback", apiId, "--to", "99", "--url", url], cwd, CREDENTIALS);
    assert.equal(missing.code, EXIT.NOT_FOUND, missing.stderr);
    assert.match(missing.stderr, /has no revision 99 \(its latest is 5/);
    const bad = await runCli(["diff", apiId, "one", "2", "--url", url], cwd, CREDENTIALS);
    assert.equal(bad.code, EXIT.USAGE, bad.stderr);
    const unknown = await runCli(["history", "NoSuchApi:1.0.0", "--url", url], cwd, CREDENTIALS);
    assert.equal(unknown.code, EXIT.NOT_FOUND, unknown.stderr);
    const refused = await runCli(["history", apiId, "--url", url], cwd, {
      GWSYNC_HTTP_USERNAME: TEST_USER,
      GWSYNC_HTTP_PASSWORD: "wrong",
    });
    assert.equal(refused.code, EXIT.AUTH, refused.stderr);
  });

  test("a removed revision cannot be rolled back to; every endpoint wants credentials", async () => {
    const pub = cluster.publisher!.publisher;
    const apiId = revisions[0]!.apiId;
    const removed = await pub.removeApi(apiId, ["B"]);
    const res = await post(`/api/v1/artifacts/${apiId}/rollback`, { to: removed.revision });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { message: string }).message, /removed it from B/);
    const badBody = await post(`/api/v1/artifacts/${apiId}/rollback`, { to: "1" });
    assert.equal(badBody.status, 400);
    const anon = `Basic ${Buffer.from("nobody:nothing").toString("base64")}`;
    assert.equal((await post(`/api/v1/artifacts/${apiId}/rollback`, { to: 1 }, anon)).status, 401);
    for (const path of [`/api/v1/artifacts/${apiId}/history`, `/api/v1/artifacts/${apiId}/diff?from=1&to=2`]) {
      assert.equal((await fetch(`${url}${path}`)).status, 401, path);
      assert.equal((await fetch(`${url}${path}`, { headers: { authorization: anon } })).status, 401, path);
    }
    const noTo = await fetch(`${url}/api/v1/artifacts/${apiId}/diff?from=1`, { headers: { authorization: authHeader() } });
    assert.equal(noTo.status, 400);
  });
});
