import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { tempDir } from "../harness/temp-dir.js";

/** `gwsync` run as users run it: a subprocess of bin/gwsync.js, usage and configuration only (no broker). */

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = path.join(ROOT, "bin", "gwsync.js");
/** Generous: a cold tsx start on a busy two-core machine. */
const RUN_TIMEOUT_MS = 60_000;
const EXIT_USAGE = 2;

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The caller's GWSYNC_* variables would change what the CLI reads: start from an environment without them. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("GWSYNC_")) env[k] = v;
  return { ...env, GWSYNC_LOG_LEVEL: "warn", ...extra };
}

/** Run in a temp working folder, so a default ./data never lands in the repository. */
function run(args: string[], options: { env?: Record<string, string>; cwd: string }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd,
      env: cleanEnv(options.env),
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

const lines = (s: string) => s.split("\n").filter((l) => l.trim() !== "");

const work = tempDir("gwsync-cli-usage-");
after(() => rmSync(work, { recursive: true, force: true }));

describe("gwsync --help and --version", { concurrency: 3 }, () => {
  const commands = [
    ["publisher"],
    ["gateway"],
    ["relay"],
    ["publish"],
    ["remove"],
    ["status"],
    ["config"],
    ["config", "check"],
    ["status", "forget"],
    ["demo"],
  ];
  for (const command of commands) {
    test(`gwsync ${command.join(" ")} --help exits 0 and shows that command's usage`, async () => {
      const r = await run([...command, "--help"], { cwd: work });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^Usage: gwsync ${command.join(" ")}\\b`), r.stdout);
    });
  }

  for (const command of [
    ["publisher"],
    ["gateway"],
    ["relay"],
    ["publish"],
    ["remove"],
    ["status"],
    ["status", "forget"],
    ["config", "check"],
    ["demo"],
  ]) {
    test(`gwsync ${command.join(" ")} has --json`, async () => {
      const r = await run([...command, "--help"], { cwd: work });
      assert.match(r.stdout, /^\s+--json\b/m, r.stdout);
    });
  }

  test("gwsync --help lists every command of the contract", async () => {
    const r = await run(["--help"], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    for (const c of ["publisher", "gateway", "relay", "publish", "remove", "status", "config"]) {
      assert.match(r.stdout, new RegExp(`^\\s+${c}\\b`, "m"), `--help does not list ${c}`);
    }
  });

  test("gwsync --version prints package.json's version", async () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string };
    const r = await run(["--version"], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), pkg.version);
  });
});

describe("gwsync usage errors", () => {
  test("an unknown command exits 2 with one clear line naming it", async () => {
    const r = await run(["frobnicate"], { cwd: work });
    assert.equal(r.code, EXIT_USAGE);
    const err = lines(r.stderr);
    assert.match(err[0] ?? "", /unknown command 'frobnicate'/);
    // The whole usage text after it buries the one line that matters.
    assert.ok(!r.stderr.includes("Usage:"), `stderr should be the error, not the full help:\n${r.stderr}`);
    assert.ok(err.length <= 2, `expected one line (and at most a hint), got:\n${r.stderr}`);
  });

  test("an unknown option exits 2 naming the option", async () => {
    const r = await run(["status", "--bogus"], { cwd: work });
    assert.equal(r.code, EXIT_USAGE);
    assert.match(lines(r.stderr)[0] ?? "", /unknown option '--bogus'/);
  });

  test("publish without --label exits 2 before touching any file", async () => {
    const cwd = mkdtempSync(path.join(work, "nolabel-"));
    writeFileSync(path.join(cwd, "api.xml"), "<api/>");
    const r = await run(["publish", "api.xml"], { cwd });
    assert.equal(r.code, EXIT_USAGE, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
    assert.match(r.stderr, /--label/);
  });

  for (const service of ["publisher", "gateway", "relay"]) {
    test(`gwsync ${service} without a configuration exits 2 at once and creates nothing`, async () => {
      const cwd = mkdtempSync(path.join(work, `noconfig-${service}-`));
      const r = await run([service], { cwd });
      assert.equal(r.code, EXIT_USAGE, r.stderr);
      assert.match(
        lines(r.stderr)[0] ?? "",
        new RegExp(`gwsync ${service}: no configuration: give --config FILE`),
      );
      assert.equal(r.stdout, "");
      assert.deepEqual(readdirSync(cwd), [], "nothing created (no ./data, no store)");
    });
  }

  test("config check --role with an unknown role exits 2 listing the roles", async () => {
    const file = path.join(work, "empty.toml");
    writeFileSync(file, "");
    const r = await run(["config", "check", file, "--role", "nope"], { cwd: work });
    assert.equal(r.code, EXIT_USAGE);
    assert.match(r.stderr, /publisher, gateway, relay/);
  });
});

describe("gwsync config check", () => {
  const httpSecret = `http-${randomBytes(6).toString("hex")}`;
  const hubSecret = `hub-${randomBytes(6).toString("hex")}`;

  test("a good file exits 0, prints the effective configuration and masks every password", async () => {
    const dir = mkdtempSync(path.join(work, "good-"));
    const file = path.join(dir, "gwsync.toml");
    writeFileSync(
      file,
      `
[gwsync]
node_id = "gw-1"
data_dir = "./data"
[gwsync.http]
username = "ops"
password = "${httpSecret}"
[apim.sync_runtime_artifacts.gateway]
gateway_labels = ["Default"]
data_retrieval_mode = "async"
[apim.event_hub]
service_url = "http://cp:9763/services/"
event_listening_endpoints = ["amqp://relay:${hubSecret}@127.0.0.1:5672"]
username = "mq"
password = "${hubSecret}"
`,
    );
    const r = await run(["config", "check", file, "--role", "gateway"], { cwd: work });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /OK for role gateway/);
    assert.match(r.stdout, /"nodeId": "gw-1"/);
    assert.match(r.stdout, /"dataRetrievalMode": "async"/);
    // Relative paths resolve against the file's folder.
    assert.ok(r.stdout.includes(JSON.stringify(path.join(dir, "data"))), r.stdout);
    assert.ok(r.stdout.includes('"password": "***"'), r.stdout);
    for (const s of [httpSecret, hubSecret]) {
      assert.ok(!r.stdout.includes(s) && !r.stderr.includes(s), `a password was printed:\n${r.stdout}`);
    }
  });

  test("--json prints the verdict, the problems and the masked configuration as one JSON document", async () => {
    const file = path.join(work, "json.toml");
    writeFileSync(file, `[gwsync]\nnode_id = "j1"\n[apim.event_hub]\npassword = "${hubSecret}"\n`);
    const ok = await run(["config", "check", file, "--json"], { cwd: work });
    assert.equal(ok.code, 0, ok.stderr);
    const good = JSON.parse(ok.stdout) as {
      ok: boolean;
      problems: unknown[];
      config: { gwsync: { nodeId: string } };
    };
    assert.deepEqual([good.ok, good.problems.length, good.config.gwsync.nodeId], [true, 0, "j1"]);
    assert.ok(!ok.stdout.includes(hubSecret));
    writeFileSync(file, `[gwsync]\nhttp_port = "x"\n`);
    const bad = await run(["config", "check", file, "--json"], { cwd: work });
    assert.equal(bad.code, EXIT_USAGE);
    const report = JSON.parse(bad.stdout) as { ok: boolean; problems: { key: string; message: string }[] };
    assert.equal(report.ok, false);
    assert.deepEqual(
      report.problems.map((p) => p.key),
      ["gwsync.http_port"],
    );
  });

  test("a secret read from the environment is masked too", async () => {
    const file = path.join(work, "env-secret.toml");
    writeFileSync(file, '[apim.event_hub]\nusername = "mq"\n');
    const r = await run(["config", "check", file], {
      cwd: work,
      env: { GWSYNC_EVENT_HUB_PASSWORD: hubSecret },
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.ok(!r.stdout.includes(hubSecret), r.stdout);
  });

  test("a bad file exits 2 and lists every problem by its key", async () => {
    const file = path.join(work, "bad.toml");
    writeFileSync(
      file,
      `
[gwsync]
http_port = "abc"
nodeid = "typo"
[gwsync.http]
username = "ops"
password = "${httpSecret}"
[apim.sync_runtime_artifacts.gateway]
data_retrieval_mode = "fast"
retry_progression_factor = 0
[apim.event_hub]
event_listening_endpoints = ["http://broker:5672"]
password = "${hubSecret}"
`,
    );
    const r = await run(["config", "check", file], { cwd: work, env: { GWSYNC_REGION: "bad region!" } });
    assert.equal(r.code, EXIT_USAGE);
    const out = r.stdout;
    assert.match(out, /INVALID \(6 problems\)/);
    assert.match(out, /gwsync\.http_port must be a whole number, got "abc"/);
    assert.match(out, /gwsync\.nodeid is not a key of \[gwsync\] \(did you mean node_id\?\)/);
    assert.match(
      out,
      /apim\.sync_runtime_artifacts\.gateway\.data_retrieval_mode must be "sync" or "async", got "fast"/,
    );
    assert.match(out, /apim\.sync_runtime_artifacts\.gateway\.retry_progression_factor must be at least 1/);
    assert.match(out, /apim\.event_hub\.event_listening_endpoints\[0\] must use tcp:\/\//);
    assert.match(out, /gwsync\.region \(from GWSYNC_REGION\)/);
    assert.match(lines(r.stderr).at(-1) ?? "", /configuration has problems/);
    for (const s of [httpSecret, hubSecret]) assert.ok(!out.includes(s) && !r.stderr.includes(s), out);
  });

  test("a TOML syntax error exits 2 with its line and column", async () => {
    const file = path.join(work, "syntax.toml");
    writeFileSync(file, `[gwsync]\nnode_id = "a"\npassword = "${hubSecret}\n`);
    const r = await run(["config", "check", file], { cwd: work });
    assert.equal(r.code, EXIT_USAGE);
    assert.match(r.stdout, /TOML syntax error at line 3, column \d+/);
    assert.ok(!r.stdout.includes(hubSecret), "the syntax error must not quote the file");
  });

  test("a missing file exits 2 naming the path", async () => {
    const missing = path.join(work, "nope.toml");
    const r = await run(["config", "check", missing], { cwd: work });
    assert.equal(r.code, EXIT_USAGE);
    assert.ok(r.stdout.includes(`cannot read configuration file ${missing} (ENOENT)`), r.stdout);
  });

  test("every example configuration passes config check for its role, as shipped, with no environment", async () => {
    for (const role of ["publisher", "gateway", "relay"]) {
      const r = await run(["config", "check", path.join(ROOT, "examples", `${role}.toml`), "--role", role], {
        cwd: work,
      });
      assert.equal(r.code, 0, `examples/${role}.toml:\n${r.stdout}${r.stderr}`);
      assert.match(r.stdout, new RegExp(`OK for role ${role}`));
      // The one warning: the secret file lives on the production host, not here.
      const warnings = r.stdout.split("\n").filter((l) => l.startsWith("  - ") && !l.includes("ignored"));
      assert.deepEqual(
        warnings.map((l) => l.replace(/:.*/, "")),
        ["  - apim.event_hub.password_file cannot be read here (ENOENT)"],
        r.stdout,
      );
      if (role === "relay") {
        assert.match(
          r.stdout,
          /^relays region region-a to \(.*\/jndi\):\n {2}region-b {2}TopicConnectionFactory {2}amqp:\/\/guest:\*\*\*@127\.0\.0\.1:5673$/m,
        );
      }
      // With the secret present and --strict, nothing at all to say.
      const secretFile = path.join(work, "event-hub-password");
      writeFileSync(secretFile, `${hubSecret}\n`);
      const strict = await run(
        ["config", "check", path.join(ROOT, "examples", `${role}.toml`), "--role", role, "--strict"],
        { cwd: work, env: { GWSYNC_EVENT_HUB_PASSWORD_FILE: secretFile } },
      );
      assert.equal(strict.code, 0, strict.stdout);
      assert.ok(!strict.stdout.includes("warnings ("), strict.stdout);
      assert.ok(!strict.stdout.includes(hubSecret));
    }
  });

  test("a service refuses another role's file before it touches anything", async () => {
    const dir = mkdtempSync(path.join(work, "cross-"));
    const copy = (role: string) => {
      const file = path.join(dir, `${role}.toml`);
      const text = readFileSync(path.join(ROOT, "examples", `${role}.toml`), "utf8")
        .replaceAll("/var/lib/gwsync", path.join(dir, "data"))
        .replace(/^password_file = .*$/m, 'password = "long-random-example"');
      writeFileSync(file, text);
      return file;
    };
    const gw = await run(["gateway", "-c", copy("publisher")], { cwd: dir });
    assert.equal(gw.code, EXIT_USAGE, gw.stderr);
    assert.match(
      gw.stderr,
      /\[apim\.sync_runtime_artifacts\.gateway\] is missing, but role gateway needs it.*this looks like a publisher's configuration/,
    );
    const pub = await run(["publisher", "-c", copy("gateway")], { cwd: dir });
    assert.equal(pub.code, EXIT_USAGE, pub.stderr);
    assert.match(
      pub.stderr,
      /\[apim\.sync_runtime_artifacts\.publisher\] is missing, but role publisher needs it/,
    );
    assert.deepEqual(readdirSync(dir).sort(), ["gateway.toml", "publisher.toml"], "no data folder, no store");
  });
});
