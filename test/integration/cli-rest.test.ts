import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import path from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { GatewayApiDto } from "../../src/artifacts/types.js";
import type { Gateway } from "../../src/gateway/gateway.js";
import { createLogger } from "../../src/log.js";
import { authHeader, synapseApi, TEST_PASSWORD, TEST_USER, TestCluster } from "../harness/cluster.js";
import { CHANGED, counter, waitFor } from "../harness/wait.js";

/**
 * The CLI as a client of the publisher's REST API (the default; --local writes a store directly):
 * results on stdout, logs on stderr, --json, the exit codes of docs/architecture.md#exit-codes, and
 * one id per API whichever entry point published it.
 */

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = path.join(ROOT, "bin", "gwsync.js");
const TENANT_API = fileURLToPath(
  new URL("../fixtures/wso2/synapse/api_tenant_stockapi_with_handlers.excerpt.xml", import.meta.url),
);
const RUN_TIMEOUT_MS = 60_000;
const EXIT = { OK: 0, RUNTIME: 1, USAGE: 2, REJECTED: 3, NOT_FOUND: 4, AUTH: 5 };

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], cwd: string, env: Record<string, string> = {}): Promise<RunResult> {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("GWSYNC_")) base[k] = v;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd,
      env: { ...base, GWSYNC_LOG_LEVEL: "warn", ...env },
      stdio: ["ignore", "pipe", "pipe"],
      timeout: RUN_TIMEOUT_MS,
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

/** A port nothing listens on: one the system just gave out and took back. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** The pair the test publisher accepts, from the environment (never argv). */
const CREDENTIALS = { GWSYNC_HTTP_USERNAME: TEST_USER, GWSYNC_HTTP_PASSWORD: TEST_PASSWORD };

describe("gwsync publish / remove / status over the publisher's REST API", () => {
  const cluster = new TestCluster();
  const drop = path.join(cluster.root, "drop");
  const work = path.join(cluster.root, "work");
  let url = "";
  /** A configuration naming the same store, for --local. */
  let localConfig = "";
  let gw: Gateway;

  before(async () => {
    mkdirSync(drop, { recursive: true });
    mkdirSync(work, { recursive: true });
    await cluster.startPublisher(
      "",
      `\n[gwsync.watch]\ndir = ${JSON.stringify(drop)}\nlabels = ["ViaDrop"]\n`,
    );
    url = cluster.publisher!.httpUrl!;
    gw = await cluster.startGateway({
      name: "gw",
      labels: ["ViaCli", "ViaLocal", "ViaRest", "ViaDrop", "R"],
    });
    localConfig = path.join(work, "local.toml");
    writeFileSync(
      localConfig,
      `[gwsync]
region = "test"
exchange = ${JSON.stringify(cluster.exchange)}
[apim.sync_runtime_artifacts.publisher]
artifact_saver = "DBSaver"
[database.sync_runtime_artifacts_db]
type = "sqlite"
url = ${JSON.stringify(cluster.publisher!.publisher.config.database.url)}
`,
    );
  });
  after(() => cluster.close());

  test("one API, one id: the CLI (REST and --local), the REST API and the drop folder agree, and the gateway deploys it without a complaint", async () => {
    const rejected = counter(gw.events, "rejected");
    const xml = readFileSync(TENANT_API, "utf8");
    const file = path.join(work, "stockapi.xml");
    writeFileSync(file, xml);

    const viaCli = await run(
      ["publish", file, "--label", "ViaCli", "--url", url, "--json"],
      work,
      CREDENTIALS,
    );
    assert.equal(viaCli.code, EXIT.OK, viaCli.stderr);
    const cliId = (JSON.parse(viaCli.stdout) as { results: { apiId: string }[] }).results[0]!.apiId;

    const viaLocal = await run(
      ["publish", file, "--label", "ViaLocal", "--local", "--config", localConfig, "--json"],
      work,
    );
    assert.equal(viaLocal.code, EXIT.OK, viaLocal.stderr);
    const localId = (JSON.parse(viaLocal.stdout) as { results: { apiId: string }[] }).results[0]!.apiId;

    const res = await fetch(`${url}/api/v1/artifacts?label=ViaRest`, {
      method: "POST",
      headers: { authorization: authHeader(), "content-type": "application/xml" },
      body: xml,
    });
    assert.equal(res.status, 201);
    const restId = ((await res.json()) as { apiId: string }).apiId;

    copyFileSync(file, path.join(drop, "stockapi.xml"));
    const store = cluster.publisher!.publisher.store;
    await waitFor(
      gw.events,
      CHANGED,
      async () => (await store.listArtifacts({ label: "ViaDrop" })).length === 1,
      "the dropped file to be published",
    );
    const dropId = (await store.listArtifacts({ label: "ViaDrop" }))[0]!.apiId;

    assert.deepEqual([localId, restId, dropId], [cliId, cliId, cliId], "four entry points, one id");
    const dto = JSON.parse((await store.getArtifact(cliId, "ViaCli"))!.artifactJson) as GatewayApiDto;
    assert.equal(
      dto.tenantDomain,
      "abc.com",
      "the tenant of the artifact's provider (abc-AT-abc.com), not carbon.super",
    );
    await waitFor(
      gw.events,
      CHANGED,
      () => gw.deployer.get(cliId)?.labels.length === 4,
      "the gateway to deploy the API on its four labels",
    );
    assert.equal(rejected.count, 0, "nothing dead-lettered as 'already owned'");
    assert.equal(gw.deployer.deployed().filter((a) => a.name === "stockapi").length, 1);
  });

  test("results on stdout, logs on stderr: --json output parses whatever the log level", async () => {
    const file = path.join(work, "r1.xml");
    writeFileSync(file, synapseApi({ name: "Streams" }));
    const r = await run(
      ["publish", file, "--label", "R", "--local", "--config", localConfig, "--json"],
      work,
      {
        GWSYNC_LOG_LEVEL: "debug",
        GWSYNC_LOG_FORMAT: "json",
      },
    );
    assert.equal(r.code, EXIT.OK, r.stderr);
    const out = JSON.parse(r.stdout) as {
      results: { ok: boolean; name: string }[];
      announced: number;
      pending: number;
    };
    assert.deepEqual(
      out.results.map((x) => [x.ok, x.name]),
      [[true, "Streams"]],
    );
    // The running publisher shares this store's outbox and may have sent the event first.
    assert.equal(out.pending, 0);
    const logs = r.stderr
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { msg: string });
    assert.ok(
      logs.some((l) => l.msg === "artifact committed"),
      `no log record on stderr:\n${r.stderr}`,
    );
  });

  test("remove says removed, then says already removed (exit 0 both times); an unknown API exits 4", async () => {
    const file = path.join(work, "gone.xml");
    writeFileSync(file, synapseApi({ name: "Gone" }));
    const p = await run(["publish", file, "--label", "R", "--url", url], work, CREDENTIALS);
    assert.equal(p.code, EXIT.OK, p.stderr);
    assert.match(p.stdout, /^.*gone\.xml: Gone:1\.0\.0 apiId=[0-9a-f-]{36} revision=1 seq=\d+$/m);
    assert.match(p.stdout, /^1 published, 0 unchanged, 0 rejected$/m);

    const first = await run(["remove", "Gone:1.0.0", "--label", "R", "--url", url], work, CREDENTIALS);
    assert.equal(first.code, EXIT.OK, first.stderr);
    assert.match(first.stdout, /^removed Gone:1\.0\.0 apiId=[0-9a-f-]{36} from R revision=2$/m);

    const second = await run(
      ["remove", "Gone:1.0.0", "--label", "R", "--url", url, "--json"],
      work,
      CREDENTIALS,
    );
    assert.equal(second.code, EXIT.OK, second.stderr);
    const again = JSON.parse(second.stdout) as {
      alreadyRemoved: boolean;
      changed: boolean;
      revision: number;
    };
    assert.deepEqual([again.alreadyRemoved, again.changed, again.revision], [true, false, 2]);
    const text = await run(["remove", "Gone:1.0.0", "--label", "R", "--url", url], work, CREDENTIALS);
    assert.match(text.stdout, /Gone:1\.0\.0 .* was already removed from R \(revision=2\): nothing to do/);

    const unknown = await run(["remove", "Nope:9", "--label", "R", "--url", url], work, CREDENTIALS);
    assert.equal(unknown.code, EXIT.NOT_FOUND);
    assert.match(unknown.stderr, /GWSYNC_NOT_FOUND: no API named Nope:9/);
  });

  test("status over REST and --local say the same", async () => {
    const rest = await run(["status", "--url", url, "--json"], work, CREDENTIALS);
    assert.equal(rest.code, EXIT.OK, rest.stderr);
    const local = await run(["status", "--local", "--config", localConfig, "--json"], work);
    assert.equal(local.code, EXIT.OK, local.stderr);
    const a = JSON.parse(rest.stdout) as {
      headSeq: number;
      labels: Record<string, number>;
      gateways: unknown[];
    };
    const b = JSON.parse(local.stdout) as typeof a;
    assert.equal(a.headSeq, b.headSeq);
    assert.deepEqual(a.labels, b.labels);
    assert.equal(a.labels.ViaCli, 1);
    const text = await run(["status", "--url", url], work, CREDENTIALS);
    assert.match(text.stdout, /^head seq {5}\d+$/m);
    assert.match(text.stdout, /^ {2}ViaCli +1$/m);
  });

  test("exit codes: rejected input 3, refused credentials 5, unreachable publisher 1, no target 2 (and nothing created)", async () => {
    const evil = path.join(work, "evil.xml");
    writeFileSync(evil, '<!DOCTYPE a [<!ENTITY e "x">]><api name="a--E" context="/e" version="1">&e;</api>');
    const rejected = await run(["publish", evil, "--label", "R", "--url", url], work, CREDENTIALS);
    assert.equal(rejected.code, EXIT.REJECTED, rejected.stderr);
    assert.match(rejected.stderr, /evil\.xml: GWSYNC_XML_DOCTYPE: /);

    const refused = await run(["status", "--url", url], work, {
      GWSYNC_HTTP_USERNAME: TEST_USER,
      GWSYNC_HTTP_PASSWORD: "wrong",
    });
    assert.equal(refused.code, EXIT.AUTH);
    assert.match(refused.stderr, /refused the credentials \(HTTP 401\)/);
    assert.ok(!refused.stderr.includes("wrong"), "the password is not echoed");

    const closed = await closedPort();
    const unreachable = await run(["status", "--url", `http://127.0.0.1:${closed}`], work, CREDENTIALS);
    assert.equal(unreachable.code, EXIT.RUNTIME);
    assert.ok(
      unreachable.stderr.includes(`cannot reach the publisher at http://127.0.0.1:${closed} (ECONNREFUSED)`),
      unreachable.stderr,
    );

    const empty = path.join(work, "empty");
    mkdirSync(empty);
    writeFileSync(path.join(empty, "a.xml"), synapseApi({ name: "NoTarget" }));
    for (const args of [
      ["publish", "a.xml", "--label", "L"],
      ["status"],
      ["publish", "a.xml", "--label", "L", "--local"],
    ]) {
      const r = await run(args, empty);
      assert.equal(r.code, EXIT.USAGE, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /--config FILE/);
      assert.equal(r.stdout, "");
    }
    assert.deepEqual(readdirSync(empty), ["a.xml"], "no ./data, no store created");
    assert.ok(!existsSync(path.join(empty, "data")));
  });
});

describe("the gateway logs each deploy at info level", () => {
  const cluster = new TestCluster();
  after(() => cluster.close());

  test("a deploy and a removal applied from events are info records naming the API", async () => {
    const records: { level: string; msg: string; apiId?: string; name?: string; revision?: number }[] = [];
    const capture = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString("utf8").split("\n")) if (line) records.push(JSON.parse(line));
        done();
      },
    });
    const svc = await cluster.startPublisher();
    const gw = await cluster.startGateway(
      { name: "logged", labels: ["I"] },
      { logger: createLogger({ level: "info", destination: capture }) },
    );
    const { apiId } = await svc.publisher.deployApi(synapseApi({ name: "Logged" }), ["I"]);
    await waitFor(gw.events, CHANGED, () => gw.deployer.get(apiId) !== undefined, "the deploy");
    await svc.publisher.removeApi(apiId, ["I"]);
    await waitFor(gw.events, CHANGED, () => gw.deployer.get(apiId) === undefined, "the removal");
    const deployed = records.find((r) => r.msg === "API deployed" && r.apiId === apiId);
    assert.ok(deployed, JSON.stringify(records.map((r) => r.msg)));
    assert.deepEqual([deployed.level, deployed.name, deployed.revision], ["info", "Logged", 1]);
    const removed = records.find((r) => r.msg === "API removed" && r.apiId === apiId);
    assert.equal(removed?.level, "info");
  });
});
