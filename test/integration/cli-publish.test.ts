import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { cleanupBroker, testId } from "../harness/broker.js";

/**
 * `gwsync publish --local` (the store written directly, the events announced by the command itself) as
 * a subprocess against the real broker (127.0.0.1:5672), on a private exchange and a private store per
 * test, and under a pseudo-terminal (util-linux `script`) for the progress bar. The REST form is in
 * cli-rest.test.ts.
 */

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = path.join(ROOT, "bin", "gwsync.js");
const FIXTURE = new URL("../fixtures/wso2/synapse/api__OpenService_.xml", import.meta.url);
const RUN_TIMEOUT_MS = 120_000;
/** The CLI shows a progress bar from this many files on (src/cli/progress.ts). */
const MANY_FILES = 60;

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("GWSYNC_")) env[k] = v;
  return { ...env, GWSYNC_LOG_LEVEL: "warn" };
}

function run(command: string, args: string[], cwd: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd,
      env: cleanEnv(),
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

const gwsync = (args: string[], cwd: string) => run(process.execPath, [BIN, ...args], cwd);
const shellQuote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
/** A Node process warning (MaxListenersExceededWarning, ...) is noise a user should never see. */
const NODE_WARNING = /\(node:\d+\) \w*Warning/;

interface Workspace {
  dir: string;
  config: string;
  label: string;
}

const exchanges: string[] = [];
const dirs: string[] = [];

/** A temp folder with its own SQLite store, on its own exchange, publishing to a label no gateway serves. */
function workspace(): Workspace {
  const id = testId("cli");
  const dir = mkdtempSync(path.join(os.tmpdir(), `gwsync-${id}-`));
  dirs.push(dir);
  const exchange = `${id}.topic`;
  exchanges.push(exchange);
  const config = path.join(dir, "gwsync.toml");
  writeFileSync(
    config,
    `
[gwsync]
node_id = "${id}"
data_dir = "${path.join(dir, "data")}"
exchange = "${exchange}"

[apim.sync_runtime_artifacts.publisher]
artifact_saver = "DBSaver"

[database.sync_runtime_artifacts_db]
type = "sqlite"
url = "${path.join(dir, "data", "artifacts.db")}"

[apim.event_hub]
event_listening_endpoints = ["tcp://127.0.0.1:5672"]
`,
  );
  return { dir, config, label: `label-${id}` };
}

/** `count` distinct synapse APIs made from WSO2's shipped _OpenService_ API. */
function writeApis(dir: string, count: number): string[] {
  const xml = readFileSync(FIXTURE, "utf8");
  const files: string[] = [];
  for (let i = 0; i < count; i++) {
    const file = path.join(dir, `api-${i}.xml`);
    writeFileSync(
      file,
      xml.replace(
        'name="_OpenService_" context="/service"',
        `name="Svc${i}" context="/svc${i}" version="1.0.0"`,
      ),
    );
    files.push(file);
  }
  return files;
}

interface Status {
  headSeq: number;
  outboxDepth: number;
  labels: Record<string, number>;
}

async function status(ws: Workspace): Promise<Status> {
  const r = await gwsync(["status", "--json", "--local", "--config", ws.config], ws.dir);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Status;
}

let hasScript = false;
before(() => {
  hasScript = spawnSync("script", ["--version"], { stdio: "ignore" }).status === 0;
});

after(async () => {
  await cleanupBroker({ exchanges });
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("gwsync publish", () => {
  test("publishes files to a label, stores them and announces them", async () => {
    const ws = workspace();
    const files = writeApis(ws.dir, 2);
    const r = await gwsync(["publish", ...files, "--label", ws.label, "--local", "--config", ws.config], ws.dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /api-0\.xml: Svc0:1\.0\.0 apiId=[0-9a-f-]{36} revision=1 seq=1/);
    assert.match(r.stdout, /api-1\.xml: Svc1:1\.0\.0 apiId=[0-9a-f-]{36} revision=1 seq=2/);
    assert.match(r.stdout, /^2 published, 0 unchanged, 0 rejected$/m);
    assert.match(r.stdout, /^2 event\(s\) announced$/m);
    const s = await status(ws);
    assert.equal(s.headSeq, 2);
    assert.equal(s.outboxDepth, 0, "every event confirmed by the broker leaves the outbox");
    assert.deepEqual(s.labels, { [ws.label]: 2 });
  });

  test("a file with a DOCTYPE exits 3 (rejected) with one clear line and stores nothing", async () => {
    const ws = workspace();
    const evil = path.join(ws.dir, "evil.xml");
    writeFileSync(
      evil,
      `<?xml version="1.0"?>
<!DOCTYPE api [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>
<api xmlns="http://ws.apache.org/ns/synapse" name="Evil" context="/evil" version="1.0.0">
  <resource methods="GET" url-mapping="/*"><inSequence><log><property name="x" value="&lol2;"/></log><respond/></inSequence></resource>
</api>
`,
    );
    const r = await gwsync(["publish", evil, "--label", ws.label, "--local", "--config", ws.config], ws.dir);
    assert.equal(r.code, 3);
    const line = r.stderr.split("\n").find((l) => l.startsWith(`${evil}:`));
    assert.ok(line, `no line names the file:\n${r.stderr}`);
    assert.match(line, /DOCTYPE/);
    assert.ok(!r.stdout.includes("apiId="), "nothing is reported as published");
    const s = await status(ws);
    assert.equal(s.headSeq, 0);
    assert.equal(s.outboxDepth, 0);
    assert.deepEqual(s.labels, {});
  });

  test("a good and a bad file: the good one is stored, the command still fails (exit 3)", async () => {
    const ws = workspace();
    const [good] = writeApis(ws.dir, 1);
    const bad = path.join(ws.dir, "not-xml.xml");
    writeFileSync(bad, "this is not an API");
    const r = await gwsync(["publish", good!, bad, "--label", ws.label, "--local", "--config", ws.config], ws.dir);
    assert.equal(r.code, 3);
    assert.ok(
      r.stderr.split("\n").some((l) => l.startsWith(`${bad}:`)),
      r.stderr,
    );
    assert.deepEqual((await status(ws)).labels, { [ws.label]: 1 });
  });
});

describe("gwsync publish progress bar", () => {
  test(`on a terminal, ${MANY_FILES} files show a progress bar that reaches ${MANY_FILES}/${MANY_FILES}`, async (t) => {
    if (!hasScript) {
      t.skip("util-linux `script` is not installed: no pseudo-terminal to run under");
      return;
    }
    const ws = workspace();
    const files = writeApis(ws.dir, MANY_FILES);
    const command = [process.execPath, BIN, "publish", ...files, "--label", ws.label, "--local", "--config", ws.config]
      .map(shellQuote)
      .join(" ");
    // script gives the command a pseudo-terminal on stdin/stdout/stderr and copies what it prints.
    const r = await run("script", ["-qfec", command, "/dev/null"], ws.dir);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.ok(r.stdout.includes("publishing ["), `no progress bar in:\n${r.stdout}`);
    assert.ok(
      r.stdout.includes(`${MANY_FILES}/${MANY_FILES}`),
      `the bar does not reach the end:\n${r.stdout}`,
    );
    assert.match(r.stdout, new RegExp(`${MANY_FILES} event\\(s\\) announced`));
    assert.doesNotMatch(r.stdout, NODE_WARNING);
    assert.deepEqual((await status(ws)).labels, { [ws.label]: MANY_FILES });
  });

  test(`without a terminal, ${MANY_FILES} files print no progress bar`, async () => {
    const ws = workspace();
    const files = writeApis(ws.dir, MANY_FILES);
    const r = await gwsync(["publish", ...files, "--label", ws.label, "--local", "--config", ws.config], ws.dir);
    assert.equal(r.code, 0, r.stderr);
    for (const out of [r.stdout, r.stderr]) {
      assert.ok(!out.includes("publishing ["), `progress bar printed to a pipe:\n${out}`);
      assert.ok(!out.includes("\r"), "carriage returns in piped output");
      assert.doesNotMatch(out, NODE_WARNING);
    }
    assert.match(r.stdout, new RegExp(`^${MANY_FILES} event\\(s\\) announced$`, "m"));
    assert.deepEqual((await status(ws)).labels, { [ws.label]: MANY_FILES });
  });
});
