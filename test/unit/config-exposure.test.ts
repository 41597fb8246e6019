import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { renderConfigCheck } from "../../src/config/check.js";
import { ConfigError } from "../../src/config/config-error.js";
import { loadConfig } from "../../src/config/load-config.js";
import { isLoopbackHost, sameSecret, secretMatcher, weakCredentials } from "../../src/security/exposure.js";
import { generateSigningKeyPair } from "../../src/security/signing.js";
import { tempDir } from "../harness/temp-dir.js";

function problemsOf(text: string, baseDir = "/base"): string[] {
  try {
    // Role publisher, whose one essential section is given: what is judged is the rest.
    loadConfig({
      text: `[apim.sync_runtime_artifacts.publisher]\n${text}`,
      env: {},
      baseDir,
      role: "publisher",
    });
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems.map((p) => p.message);
  }
}

const exposed = (host: string, user: string, password: string) =>
  `[gwsync]\nhttp_host = ${JSON.stringify(host)}\n[gwsync.http]\nusername = ${JSON.stringify(user)}\npassword = ${JSON.stringify(password)}\n`;

/** Issue item 8: `config check` (and so every service start) refuses weak credentials beyond loopback. */
describe("weak HTTP credentials beyond loopback fail config check", () => {
  test("an empty password, Admin/admin in any case, any user with password guest, password = user, short ones", () => {
    for (const [user, password] of [
      ["gwsync", ""],
      ["Admin", "admin"],
      ["ADMIN", "Admin"],
      ["deploy-bot", "guest"],
      ["ops", "GUEST"],
      ["svc-account", "svc-account"],
      ["ops", "s3cr3t"],
    ]) {
      const problems = problemsOf(exposed("0.0.0.0", user!, password!));
      assert.equal(problems.length, 1, `${user}/${password}: ${problems.join(" | ")}`);
      assert.match(
        problems[0]!,
        /^gwsync\.http_host is "0\.0\.0\.0" \(beyond loopback\), but the HTTP credentials are weak/,
      );
    }
  });

  test("127.evil.example.com and other names are not loopback; 127.x literals, ::1 and localhost are", () => {
    assert.equal(problemsOf(exposed("127.evil.example.com", "guest", "guest")).length, 1);
    assert.equal(problemsOf(exposed("127.0.0.1.nip.io", "guest", "guest")).length, 1);
    assert.equal(problemsOf(exposed("gateway.internal", "admin", "admin")).length, 1);
    for (const host of ["127.0.0.1", "127.0.0.2", "::1", "localhost", "LOCALHOST"]) {
      assert.deepEqual(problemsOf(exposed(host, "guest", "guest")), [], host);
    }
    assert.equal(isLoopbackHost("0:0:0:0:0:0:0:1"), true);
    assert.equal(isLoopbackHost("::ffff:127.0.0.1"), true);
    for (const h of ["0.0.0.0", "::", "::2", "1::1", "128.0.0.1", "localhost.evil.com", ""])
      assert.equal(isLoopbackHost(h), false, h);
  });

  test("a long, distinct password beyond loopback passes", () => {
    assert.deepEqual(problemsOf(exposed("0.0.0.0", "gwsync", "correct-horse-battery")), []);
    assert.equal(weakCredentials("gwsync", "correct-horse-battery"), undefined);
  });
});

/** Issue Low: password_file must be a regular file, size-capped, read without blocking. */
describe("password_file is read safely", () => {
  test("/dev/zero, a FIFO, a folder and an oversized file are problems, not a hang or an out-of-memory", () => {
    const dir = tempDir("gwsync-pass-");
    execFileSync("mkfifo", [path.join(dir, "fifo.pass")]);
    writeFileSync(path.join(dir, "huge.pass"), "x".repeat(70 * 1024));
    for (const [file, why] of [
      ["/dev/zero", /is a device, not a regular file/],
      ["fifo.pass", /is a FIFO, not a regular file/],
      [".", /is a folder, not a regular file/],
      ["huge.pass", /is 71680 bytes, over the 65536-byte limit/],
    ] as const) {
      const problems = problemsOf(`[apim.event_hub]\npassword_file = ${JSON.stringify(file)}\n`, dir);
      assert.equal(problems.length, 1, file);
      assert.match(problems[0]!, /^apim\.event_hub\.password_file is refused: /);
      assert.match(problems[0]!, why);
    }
  });

  test("a symlink to a regular file is followed (Kubernetes mounts secrets so)", () => {
    const dir = tempDir("gwsync-pass-");
    writeFileSync(path.join(dir, "real.pass"), "Mounted-S3cret\n");
    symlinkSync(path.join(dir, "real.pass"), path.join(dir, "link.pass"));
    const { config } = loadConfig({
      text: '[apim.event_hub]\npassword_file = "link.pass"\n',
      env: {},
      baseDir: dir,
    });
    assert.equal(config.eventHub.password, "Mounted-S3cret");
  });
});

/** Issue Low: a password in a database URL query is masked by config check. */
describe("config check masks passwords in database URL queries", () => {
  test("JDBC MySQL, PostgreSQL and SQL Server forms", () => {
    for (const url of [
      "jdbc:mysql://db:3306/apim?useSSL=false&user=app&password=Q-S3cret-7",
      "postgresql://db:5432/apim?sslmode=require&password=Q-S3cret-7",
      "jdbc:sqlserver://db:1433;databaseName=apim;user=app;password=Q-S3cret-7",
    ]) {
      const result = loadConfig({
        text: `[database.sync_runtime_artifacts_db]\ntype = "mysql"\nurl = ${JSON.stringify(url)}\n`,
        env: {},
      });
      const text = renderConfigCheck(result);
      assert.ok(!text.includes("Q-S3cret-7"), text);
      assert.match(text, /password=\*\*\*/);
    }
  });
});

/** Issue item 6: signing keys in the configuration, and `gwsync keys generate`. */
describe("[gwsync.signing] keys", () => {
  const CLI = path.join(path.dirname(new URL(import.meta.url).pathname), "..", "..", "bin", "gwsync.js");

  test("gwsync keys generate writes a 0600 private key and its public key, and never overwrites them", () => {
    const dir = tempDir("gwsync-keys-");
    const out = JSON.parse(
      execFileSync(process.execPath, [
        CLI,
        "keys",
        "generate",
        "--out",
        dir,
        "--name",
        "k",
        "--json",
      ]).toString(),
    );
    assert.match(out.keyId, /^[0-9a-f]{16}$/);
    assert.equal(statSync(path.join(dir, "k.key")).mode & 0o777, 0o600);
    assert.match(readFileSync(path.join(dir, "k.pub"), "utf8"), /BEGIN PUBLIC KEY/);
    const before = readFileSync(path.join(dir, "k.key"), "utf8");
    assert.throws(
      () =>
        execFileSync(process.execPath, [CLI, "keys", "generate", "--out", dir, "--name", "k"], {
          stdio: "pipe",
        }),
      /exists/,
    );
    assert.equal(readFileSync(path.join(dir, "k.key"), "utf8"), before);
  });

  test("a private key readable by others, or not an Ed25519 key, is a problem; config check never prints the key", () => {
    const dir = tempDir("gwsync-keys-");
    const pair = generateSigningKeyPair();
    writeFileSync(path.join(dir, "open.key"), pair.privateKeyPem, { mode: 0o644 });
    chmodSync(path.join(dir, "open.key"), 0o644);
    writeFileSync(
      path.join(dir, "rsa.pub"),
      "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQ==\n-----END PUBLIC KEY-----\n",
    );
    const problems = problemsOf(
      '[gwsync.signing]\nprivate_key_file = "open.key"\ntrusted_keys = ["rsa.pub"]\n',
      dir,
    );
    assert.equal(problems.length, 2, problems.join(" | "));
    assert.match(problems[0]!, /readable by group or others: chmod 600/);
    assert.match(problems[1]!, /not an Ed25519 key/);

    writeFileSync(path.join(dir, "good.key"), pair.privateKeyPem, { mode: 0o600 });
    writeFileSync(path.join(dir, "good.pub"), pair.publicKeyPem);
    const result = loadConfig({
      text: '[gwsync.signing]\nprivate_key_file = "good.key"\ntrusted_keys = ["good.pub"]\n',
      env: {},
      baseDir: dir,
    });
    assert.equal(result.config.gwsync.signing.trustedKeys.length, 1);
    const text = renderConfigCheck(result);
    assert.ok(!text.includes(pair.privateKeyPem.split("\n")[1]!), "the private key is masked");
  });
});

describe("secret compares", () => {
  test("secretMatcher says what sameSecret says, for any given text (other lengths, empty, non-ASCII)", () => {
    const expected = "Basic Z3dzeW5jOmEtbG9uZy1lbm91Z2gtc2VjcmV0";
    const matches = secretMatcher(expected);
    for (const given of [
      expected,
      `${expected} `,
      expected.slice(0, -1),
      "",
      "Basic ü",
      expected.toLowerCase(),
    ]) {
      assert.equal(matches(given), sameSecret(given, expected), JSON.stringify(given));
      assert.equal(matches(given), given === expected, JSON.stringify(given));
    }
  });
});
