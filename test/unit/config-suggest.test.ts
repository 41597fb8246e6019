import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { configCheckReport, renderConfigCheck } from "../../src/config/check.js";
import { ConfigError } from "../../src/config/config-error.js";
import { ENV_KEYS } from "../../src/config/env-overrides.js";
import { loadConfig, type LoadConfigOptions } from "../../src/config/load-config.js";
import { knownKeys, READ_SECTIONS, type ReadSectionPath } from "../../src/config/schema.js";
import { isRead } from "../../src/config/sections.js";
import { nearest } from "../../src/config/suggest.js";
import { tempDir } from "../harness/temp-dir.js";

const EXAMPLES = fileURLToPath(new URL("../../examples/", import.meta.url));

function load(text: string, options: Omit<LoadConfigOptions, "text"> = {}) {
  return loadConfig({ text, env: {}, baseDir: "/base", ...options });
}

function problems(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail("expected a ConfigError");
}

describe("did-you-mean for WSO2 keys, sections and GWSYNC_* variables", () => {
  const TYPOS = `
[apim.sync_runtime_artifacts.gateway]
gateway_label = ["Production and Sandbox"]
[apim.event_hubs]
username = "mq"
[database.sync_runtime_artifact_db]
url = "x.db"
`;

  test("a typo of a key or a section gwsync reads is a warning naming the right one; the defaults it would hide are not silent", () => {
    const { warnings, debug, config } = load(TYPOS, { env: { GWSYNC_GATWAY_LABELS: "L" } });
    assert.deepEqual(warnings, [
      "GWSYNC_GATWAY_LABELS is not an environment variable gwsync reads (did you mean GWSYNC_GATEWAY_LABELS?); it is ignored",
      "apim.sync_runtime_artifacts.gateway.gateway_label is not a key gwsync reads (did you mean apim.sync_runtime_artifacts.gateway.gateway_labels?); it is ignored",
      "apim.event_hubs is not a section gwsync reads (did you mean [apim.event_hub]?); it is ignored",
      "database.sync_runtime_artifact_db is not a section gwsync reads (did you mean [database.sync_runtime_artifacts_db]?); it is ignored",
    ]);
    assert.deepEqual(debug, []);
    assert.deepEqual(config.gateway.gatewayLabels, ["Default"], "what the warnings are about");
  });

  test("--strict makes each of them an error", () => {
    const err = problems(() => load(TYPOS, { env: { GWSYNC_GATWAY_LABELS: "L" }, strict: true }));
    assert.deepEqual(
      err.problems.map((p) => p.key),
      [
        "GWSYNC_GATWAY_LABELS",
        "apim.sync_runtime_artifacts.gateway.gateway_label",
        "apim.event_hubs",
        "database.sync_runtime_artifact_db",
      ],
    );
    assert.match(
      err.problems[1]!.message,
      /did you mean apim\.sync_runtime_artifacts\.gateway\.gateway_labels\?/,
    );
    assert.equal(err.warnings.length, 0);
  });

  test("WSO2 keys and sections gwsync does not use, far from any it reads, stay debug notes", () => {
    const { warnings, debug } = load(`
[apim.event_hub]
publish_url = "x"
[[apim.event_hub.publish.url_group]]
urls = ["tcp://a:5672"]
[apim.key_manager]
service_url = "https://km"
[server]
hostname = "gw"
`);
    assert.deepEqual(warnings, []);
    assert.equal(debug.length, 4, debug.join("\n"));
  });

  test("the known names are the schemas' own: every key of every section is read without a note, every GWSYNC_ variable lands on one", () => {
    for (const section of Object.keys(READ_SECTIONS) as ReadSectionPath[]) {
      for (const key of knownKeys(section)) {
        // A key gwsync reads is read, never suggested away (http_port and http_host are 2 edits apart).
        assert.ok(isRead([...section.split("."), key]), `${section}.${key}`);
      }
    }
    for (const [variable, target] of Object.entries(ENV_KEYS)) {
      assert.ok(isRead(target.split(".")), `${variable} sets ${target}, which no schema reads`);
    }
  });

  test("case and a short name: Gateway_Labels is suggested, but 'url' is no typo of 'ssl'", () => {
    assert.equal(nearest("Gateway_Label", ["gateway_labels"]), "gateway_labels");
    assert.equal(nearest("url", ["ssl", "username"]), undefined);
  });
});

describe("a service refuses a configuration without its role's section", () => {
  test("gateway -c publisher.toml and publisher -c gateway.toml: one problem each, saying what the file looks like", () => {
    const dir = tempDir("gwsync-essentials-");
    const env = { GWSYNC_EVENT_HUB_PASSWORD: "x-long-secret" };
    const gw = problems(() =>
      loadConfig({ file: path.join(EXAMPLES, "publisher.toml"), role: "gateway", env, baseDir: dir }),
    );
    assert.deepEqual(
      gw.problems.map((p) => p.message),
      [
        "[apim.sync_runtime_artifacts.gateway] is missing, but role gateway needs it: it says which labels this gateway serves and where it deploys; add it with gateway_labels = [...]; this looks like a publisher's configuration",
      ],
    );
    const pub = problems(() =>
      loadConfig({ file: path.join(EXAMPLES, "gateway.toml"), role: "publisher", env, baseDir: dir }),
    );
    assert.match(
      pub.problems[0]!.message,
      /^\[apim\.sync_runtime_artifacts\.publisher\] is missing, but role publisher needs it.*this looks like a gateway's configuration$/,
    );
    assert.equal(pub.problems.length, 1);
  });

  test("a configuration made of variables carries its section: GWSYNC_GATEWAY_LABELS is enough for a gateway", () => {
    const { config } = loadConfig({ env: { GWSYNC_GATEWAY_LABELS: "A,B" }, role: "gateway", baseDir: "/b" });
    assert.deepEqual(config.gateway.gatewayLabels, ["A", "B"]);
    problems(() => loadConfig({ env: {}, role: "gateway", baseDir: "/b" }));
  });
});

describe("gwsync config check", () => {
  test("a secret file this host cannot read is a warning when checking (an error with --strict), a problem when running", () => {
    const text =
      '[apim.sync_runtime_artifacts.gateway]\n[apim.event_hub]\npassword_file = "/nonexistent/secret"\n';
    const checked = load(text, { role: "gateway", checkOnly: true });
    assert.deepEqual(checked.warnings, [
      "apim.event_hub.password_file cannot be read here (ENOENT): /nonexistent/secret; the service reads it where it runs and will not start without it",
    ]);
    assert.ok(
      !renderConfigCheck(checked, "gateway").includes("<contents"),
      "the stand-in is masked like a password",
    );
    problems(() => load(text, { role: "gateway", checkOnly: true, strict: true }));
    const run = problems(() => load(text, { role: "gateway" }));
    assert.match(run.problems[0]!.message, /^apim\.event_hub\.password_file cannot be read \(ENOENT\)/);
  });

  test("for a relay, it shows every destination region with its brokers, passwords masked", () => {
    const dir = tempDir("gwsync-relaycheck-");
    const secret = "Jndi-S3cret-42";
    writeFileSync(
      path.join(dir, "region-b.properties"),
      `connectionfactory.TopicConnectionFactory = amqp://relay:${secret}@clientid/prod?brokerlist='tcp://b1:5672;tcp://b2:5672'\n`,
    );
    writeFileSync(
      path.join(dir, "region-c.properties"),
      `connectionfactory.TopicConnectionFactory = amqp://other:${secret}@clientid/?brokerlist='ssl://c1:5671'\n`,
    );
    writeFileSync(path.join(dir, "region-a.properties"), readFileSync(path.join(dir, "region-c.properties")));
    const result = load(`[gwsync]\nregion = "region-a"\njndi_dir = ${JSON.stringify(dir)}\n`, {
      role: "relay",
    });
    const report = configCheckReport(result, "relay");
    assert.deepEqual(report.relay?.destinations, [
      {
        region: "region-b",
        factory: "TopicConnectionFactory",
        brokers: ["amqp://relay:***@b1:5672/prod", "amqp://relay:***@b2:5672/prod"],
      },
      { region: "region-c", factory: "TopicConnectionFactory", brokers: ["amqps://other:***@c1:5671"] },
    ]);
    const text = renderConfigCheck(result, "relay");
    assert.match(
      text,
      /^relays region region-a to \(.*\):\n {2}region-b {2}TopicConnectionFactory {2}amqp:\/\/relay:\*\*\*@b1:5672\/prod, amqp:\/\/relay:\*\*\*@b2:5672\/prod$/m,
    );
    assert.ok(!text.includes(secret) && !JSON.stringify(report).includes(secret));
  });
});
