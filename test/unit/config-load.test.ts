import assert from "node:assert/strict";
import { cpSync, readdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { ConfigError } from "../../src/config/config-error.js";
import { type LoadConfigOptions, loadConfig } from "../../src/config/load-config.js";
import type { Role } from "../../src/config/types.js";
import { GwsyncError } from "../../src/errors.js";
import { tempDir } from "../harness/temp-dir.js";

const TOML_DIR = fileURLToPath(new URL("../fixtures/wso2/toml/", import.meta.url));
const REPO_JNDI = fileURLToPath(new URL("../../jndi/", import.meta.url));
const tmp = () => tempDir("gwsync-config-");

/** Load from text with an empty environment, so the machine's GWSYNC_* variables never leak in. */
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

const messages = (err: ConfigError) => err.problems.map((p) => p.message);

const RELAY_NO_JNDI =
  /^gwsync\.jndi_dir is unusable for role relay: cannot read jndi folder .*\/toml\/jndi: ENOENT \(set \[gwsync\] jndi_dir/;

const NO_PUBLISHER_SECTION =
  /^\[apim\.sync_runtime_artifacts\.publisher\] is missing, but role publisher needs it/;
const NO_GATEWAY_SECTION = /^\[apim\.sync_runtime_artifacts\.gateway\] is missing, but role gateway needs it/;

/** For each WSO2 sample and role: "ok", or the one problem it must fail with. */
const FIXTURE_ROLES: Record<string, Record<Role, "ok" | RegExp>> = {
  // Both profiles of the 3.2.0 docs: the gateway half loads, and so does the publisher half on its MySQL.
  "artifact-sync-3.2.0-docs.toml": { gateway: "ok", publisher: "ok", relay: RELAY_NO_JNDI },
  "artifact-sync-3.2.0-issue-11758.toml": { gateway: "ok", publisher: "ok", relay: RELAY_NO_JNDI },
  // Excerpts without the section of a role: that role refuses them (src/config/role-essentials.ts).
  "control-plane-ha-event-hub-4.x-docs.toml": {
    publisher: NO_PUBLISHER_SECTION,
    gateway: NO_GATEWAY_SECTION,
    relay: RELAY_NO_JNDI,
  },
  "gateway-and-tm-ha-4.x-docs.toml": {
    gateway: "ok",
    publisher: new RegExp(`${NO_PUBLISHER_SECTION.source}.*; this looks like a gateway's configuration$`),
    relay: RELAY_NO_JNDI,
  },
  "gateway-node-deployment.toml.snippet": {
    gateway: "ok",
    publisher: NO_PUBLISHER_SECTION,
    relay: RELAY_NO_JNDI,
  },
  "publisher-traffic-manager-3.x-docs.toml": {
    publisher: NO_PUBLISHER_SECTION,
    gateway: NO_GATEWAY_SECTION,
    relay: RELAY_NO_JNDI,
  },
};

describe("WSO2 deployment.toml fixtures", () => {
  test("every fixture file has an expectation", () => {
    assert.deepEqual(readdirSync(TOML_DIR).sort(), Object.keys(FIXTURE_ROLES).sort());
  });

  for (const [file, roles] of Object.entries(FIXTURE_ROLES)) {
    for (const [role, expected] of Object.entries(roles) as [Role, "ok" | RegExp][]) {
      test(`${file} ${expected === "ok" ? "loads" : "fails with its reason"} for role ${role}`, () => {
        const run = () => loadConfig({ file: path.join(TOML_DIR, file), role, env: {} });
        if (expected === "ok") {
          assert.ok(run().config);
          return;
        }
        const err = problems(run);
        assert.equal(err.problems.length, 1, messages(err).join("\n"));
        assert.match(err.problems[0]!.message, expected);
      });
    }
  }

  test("the 3.2.0 docs sample: misspelt retry key read with a warning, string booleans coerced, MySQL kept as given", () => {
    const { config, warnings } = loadConfig({
      file: path.join(TOML_DIR, "artifact-sync-3.2.0-docs.toml"),
      env: {},
    });
    assert.equal(config.gateway.deploymentRetryDurationMs, 15000);
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0]!,
      /deployment_retry_duartion is the WSO2 docs' misspelling of deployment_retry_duration/,
    );
    assert.deepEqual(config.gateway.gatewayLabels, ["Production and Sandbox", "Label1", "Label2"]);
    assert.equal(config.gateway.saveArtifactsLocally, false);
    assert.equal(config.publisher.enabled, true);
    assert.equal(config.publisher.publishDirectlyToGateway, true);
    assert.equal(config.eventHub.serviceUrl, "https://traffic-manager:9443");
    assert.deepEqual(config.database, {
      type: "mysql",
      url: "jdbc:mysql://localhost:3306/WSO2AS_DB",
      username: "wso2carbon",
      password: "wso2carbon",
    });
  });

  test("product-apim#11758: event_waiting_time read, [tenant_mgt] listed as ignored", () => {
    const { config, debug } = loadConfig({
      file: path.join(TOML_DIR, "artifact-sync-3.2.0-issue-11758.toml"),
      env: {},
    });
    assert.equal(config.gateway.eventWaitingTimeMs, 5000);
    assert.equal(config.gateway.dataRetrievalMode, "sync");
    assert.deepEqual(debug, ["ignored section tenant_mgt (gwsync does not read it)"]);
  });

  test("control-plane HA: /services cut from service_url, duplicate URL read, $ref{super_admin.*} falls back to WSO2's admin", () => {
    const { config, warnings, debug } = loadConfig({
      file: path.join(TOML_DIR, "control-plane-ha-event-hub-4.x-docs.toml"),
      env: {},
    });
    assert.equal(config.eventHub.serviceUrl, "https://api.am.wso2.com");
    assert.equal(config.eventHub.username, "admin");
    assert.equal(config.eventHub.password, "admin");
    assert.deepEqual(
      config.eventHub.eventDuplicateUrl.map((e) => `${e.protocol}://${e.hostname}:${e.port}`),
      ["amqp://apim-cp-2:5672"],
    );
    assert.equal(warnings.length, 2);
    assert.match(
      warnings[0]!,
      /apim\.event_hub\.username: \$ref\{super_admin\.username\} is not set in the file; using WSO2's default "admin"/,
    );
    assert.deepEqual(debug, ["ignored WSO2 key apim.event_hub.publish (gwsync does not use it)"]);
  });

  test("gateway and TM HA: listening endpoints, throttle decision endpoints and the skip list", () => {
    const { config } = loadConfig({ file: path.join(TOML_DIR, "gateway-and-tm-ha-4.x-docs.toml"), env: {} });
    assert.deepEqual(
      config.eventHub.eventListeningEndpoints.map((e) => [e.hostname, e.port, e.username, e.vhost]),
      [
        ["apim-cp-1", 5672, "admin", "/"],
        ["apim-cp-2", 5672, "admin", "/"],
      ],
    );
    assert.deepEqual(
      config.throttling.throttleDecisionEndpoints.map((e) => e.hostname),
      ["traffic-manager-1", "traffic-manager-2"],
    );
    assert.deepEqual(config.gateway.skipList, {
      apis: ["api1.xml", "api2.xml"],
      endpoints: ["endpoint1.xml"],
      sequences: ["post_with_nobody.xml"],
      localEntries: ["file.xml"],
    });
  });
});

describe("defaults and paths", () => {
  test("an empty document gives the documented defaults (src/config/defaults.ts), paths under baseDir", () => {
    // The one section role gateway cannot do without, empty: every key takes its default.
    const { config, warnings, debug } = load("[apim.sync_runtime_artifacts.gateway]\n", { role: "gateway" });
    assert.deepEqual([warnings, debug], [[], []]);
    assert.equal(config.gwsync.nodeId, `${os.hostname().replace(/[^A-Za-z0-9._-]/g, "-")}-gateway`);
    assert.equal(config.gwsync.region, "default");
    assert.equal(config.gwsync.dataDir, "/base/data");
    assert.equal(config.gwsync.jndiDir, "/base/jndi");
    assert.equal(config.gwsync.httpPort, 9763);
    assert.equal(config.gwsync.httpHost, "127.0.0.1");
    assert.deepEqual(config.gwsync.http, {
      username: "guest",
      password: "guest",
      bodyLimitBytes: 8 * 1024 * 1024,
      requestTimeoutMs: 30_000,
      connectionTimeoutMs: 60_000,
      keepAliveTimeoutMs: 5000,
      maxRequestsPerSocket: 1000,
      maxConnections: 4096,
      maxParamLength: 4096,
    });
    assert.deepEqual(config.gwsync.limits, {
      maxJsonDepth: 64,
      maxRevokedTokens: 100_000,
      maxRevokedTokenLength: 1024,
      maxKeyManagers: 1000,
      maxWebhookSubscriptions: 100_000,
      maxSubscriptionRecords: 500_000,
      maxRevocationLifetimeMs: 30 * 24 * 60 * 60 * 1000,
      maxEventsPerRequest: 1000,
    });
    assert.equal(config.gwsync.shutdownTimeoutMs, 25_000);
    assert.equal(config.gwsync.maxMessageBytes, 4 * 1024 * 1024);
    assert.equal(config.gwsync.queueExpiresMs, 14 * 24 * 3600 * 1000);
    assert.deepEqual(config.gateway.gatewayLabels, ["Default"]);
    assert.equal(config.gateway.dataRetrievalMode, "sync");
    assert.equal(config.gateway.deploymentRetryDurationMs, 15000);
    assert.equal(config.gateway.retryProgressionFactor, 2);
    assert.equal(config.gateway.maxRetryCount, 5);
    assert.equal(config.gateway.maxRetryDelayMs, 3_600_000);
    assert.equal(config.gateway.eventWaitingTimeMs, 0);
    assert.equal(config.gateway.saveArtifactsLocally, true);
    assert.equal(config.gateway.deploymentDir, "/base/deployment/synapse-configs/default");
    assert.deepEqual(config.database, { type: "sqlite", url: "/base/data/artifacts.db" });
    assert.equal(config.eventHub.serviceUrl, "http://localhost:9763");
    assert.deepEqual(config.eventHub.eventListeningEndpoints, [
      {
        protocol: "amqp",
        hostname: "localhost",
        port: 5672,
        username: "guest",
        password: "guest",
        vhost: "/",
      },
    ]);
    assert.equal(config.publisher.enabled, false);
  });

  test("relative paths resolve against the config file's folder", () => {
    const dir = tmp();
    const file = path.join(dir, "gwsync.toml");
    writeFileSync(
      file,
      '[gwsync]\ndata_dir = "state"\n[database.sync_runtime_artifacts_db]\nurl = "db/a.db"\n[apim.sync_runtime_artifacts.gateway]\ndeployment_dir = "../out"\n',
    );
    const { config } = loadConfig({ file, env: {} });
    assert.equal(config.gwsync.dataDir, path.join(dir, "state"));
    assert.equal(config.database.url, path.join(dir, "db/a.db"));
    assert.equal(config.gateway.deploymentDir, path.join(path.dirname(dir), "out"));
  });

  test("the default SQLite file follows data_dir; :memory: is kept", () => {
    assert.equal(load('[gwsync]\ndata_dir = "/var/gw"').config.database.url, "/var/gw/artifacts.db");
    assert.equal(
      load('[database.sync_runtime_artifacts_db]\nurl = ":memory:"').config.database.url,
      ":memory:",
    );
  });

  test("a missing file is one problem naming the path", () => {
    const err = problems(() => loadConfig({ file: "/nonexistent/gwsync.toml", env: {} }));
    assert.match(err.message, /cannot read configuration file \/nonexistent\/gwsync\.toml \(ENOENT\)/);
    assert.ok(err instanceof GwsyncError);
    assert.equal(err.code, "GWSYNC_CONFIG_INVALID");
  });
});

describe("values", () => {
  test("string values WSO2 writes are coerced: numbers, floats and booleans", () => {
    const { config } = load(`
[gwsync]
http_port = "8080"
[apim.sync_runtime_artifacts.gateway]
enable = "TRUE"
deployment_retry_duration = "20000"
retry_progression_factor = "2.5"
max_retry_count = " 3 "
save_artifacts_locally = "false"
event_waiting_time = "250"
[apim.sync_runtime_artifacts.publisher]
publish_directly_to_gateway = "true"
`);
    assert.equal(config.gwsync.httpPort, 8080);
    assert.equal(config.gateway.enabled, true);
    assert.equal(config.gateway.deploymentRetryDurationMs, 20000);
    assert.equal(config.gateway.retryProgressionFactor, 2.5);
    assert.equal(config.gateway.maxRetryCount, 3);
    assert.equal(config.gateway.saveArtifactsLocally, false);
    assert.equal(config.gateway.eventWaitingTimeMs, 250);
    assert.equal(config.publisher.publishDirectlyToGateway, true);
  });

  test("the misspelt alias next to the right key is ignored with a warning", () => {
    const { config, warnings } = load(
      "[apim.sync_runtime_artifacts.gateway]\ndeployment_retry_duartion = 1\ndeployment_retry_duration = 2\n",
    );
    assert.equal(config.gateway.deploymentRetryDurationMs, 2);
    assert.match(
      warnings[0]!,
      /deployment_retry_duartion \(WSO2 docs' misspelling\) is ignored because .*deployment_retry_duration is also set/,
    );
  });

  test("a bad value under the misspelt alias is reported under the name the user wrote", () => {
    const err = problems(() =>
      load('[apim.sync_runtime_artifacts.gateway]\ndeployment_retry_duartion = "soon"\n'),
    );
    assert.deepEqual(messages(err), [
      'apim.sync_runtime_artifacts.gateway.deployment_retry_duartion must be a whole number of ms, got "soon"',
    ]);
  });

  test("an unknown key in [gwsync] is an error naming it, with a suggestion", () => {
    const err = problems(() => load("[gwsync]\nhttp_prot = 1\n[gwsync.http]\nuser = 'x'\n"));
    const byKey = new Map(err.problems.map((p) => [p.key, p.message]));
    assert.deepEqual([...byKey.keys()].sort(), ["gwsync.http.user", "gwsync.http_prot"]);
    assert.match(
      byKey.get("gwsync.http_prot")!,
      /^gwsync\.http_prot is not a key of \[gwsync\] \(did you mean http_port\?\)/,
    );
    assert.match(
      byKey.get("gwsync.http.user")!,
      /^gwsync\.http\.user is not a key of \[gwsync\.http\]; known keys: username, password, password_file, body_limit_bytes, /,
    );
  });

  test("unknown WSO2 keys and sections are debug notes, never errors", () => {
    const { debug } = load(`
[server]
hostname = "x"
[apim.sync_runtime_artifacts.gateway]
enable_on_demand_loading = false
file_based_api_contexts = []
[apim.sync_runtime_artifacts.tenant_loading]
enable = false
[apim.event_hub]
event_type = "Binary"
init_delay = "1000"
[[apim.event_hub.publish.url_group]]
urls = ["tcp://cp:9611"]
`);
    assert.deepEqual(debug, [
      "ignored section server (gwsync does not read it)",
      "ignored WSO2 key apim.sync_runtime_artifacts.gateway.enable_on_demand_loading (gwsync does not use it)",
      "ignored WSO2 key apim.sync_runtime_artifacts.gateway.file_based_api_contexts (gwsync does not use it)",
      "ignored section apim.sync_runtime_artifacts.tenant_loading (gwsync does not read it)",
      "ignored WSO2 key apim.event_hub.event_type (gwsync does not use it)",
      "ignored WSO2 key apim.event_hub.init_delay (gwsync does not use it)",
      "ignored WSO2 key apim.event_hub.publish (gwsync does not use it)",
    ]);
  });

  test("[gwsync] runtime_wide_prefetch: 2048 by default, 0 keeps the runtime window fixed, above 65535 refused", () => {
    assert.equal(load("[gwsync]\n").config.gwsync.runtimeWidePrefetch, 2048);
    assert.equal(load("[gwsync]\nruntime_wide_prefetch = 0\n").config.gwsync.runtimeWidePrefetch, 0);
    const err = problems(() => load("[gwsync]\nruntime_wide_prefetch = 70000\n"));
    assert.deepEqual(
      err.problems.map((p) => p.key),
      ["gwsync.runtime_wide_prefetch"],
    );
  });

  test("several problems are listed at once, each by its key", () => {
    const err = problems(() =>
      load(`
[gwsync]
region = "eu west"
queue_type = "mirrored"
[apim.sync_runtime_artifacts.gateway]
data_retrieval_mode = "fast"
retry_progression_factor = 0.5
gateway_labels = ["ok", true]
[apim.event_hub]
service_url = "ftp://cp"
event_listening_endpoints = ["tcp://cp-1:5672", "cp-2:5672"]
[database.sync_runtime_artifacts_db]
password = 12345
`),
    );
    assert.deepEqual(messages(err), [
      'gwsync.region must use only letters, digits, ".", "_" and "-" (at most 128), got "eu west"',
      'gwsync.queue_type must be "classic" or "quorum", got "mirrored"',
      "apim.sync_runtime_artifacts.gateway.gateway_labels[1] must be a string, got true",
      "apim.sync_runtime_artifacts.gateway.retry_progression_factor must be at least 1, got 0.5",
      'apim.sync_runtime_artifacts.gateway.data_retrieval_mode must be "sync" or "async", got "fast"',
      'apim.event_hub.service_url must use http:// or https://, got "ftp://cp"',
      'apim.event_hub.event_listening_endpoints[1] must use tcp://, ssl://, amqp:// or amqps://, got "cp-2:5672"',
    ]);
    assert.deepEqual(err.problems.map((p) => p.key).slice(0, 2), ["gwsync.region", "gwsync.queue_type"]);
    assert.match(err.message, /^configuration is invalid \(7 problems\): gwsync\.region must/);
  });

  test("a TOML syntax error is a problem with line and column that does not quote the line", () => {
    const err = problems(() => load('[apim.event_hub]\npassword = "hunter2\nusername = "x"\n'));
    assert.equal(err.problems.length, 1);
    const [problem] = err.problems;
    assert.equal(problem!.line, 2);
    assert.equal(typeof problem!.column, "number");
    assert.match(problem!.message, /^TOML syntax error at line 2, column \d+: /);
    assert.ok(!err.message.includes("hunter2"));
  });

  test("a section written as a value is a problem", () => {
    const err = problems(() => load('apim = "x"\n'));
    assert.deepEqual(messages(err), ["apim must be a table ([section]), not a single value or a list"]);
  });

  test("service_url: '/services...' and trailing slashes are cut as WSO2 does", () => {
    for (const [given, effective] of [
      ["https://cp:9443/services/", "https://cp:9443"],
      ["https://cp:9443/services/Foo", "https://cp:9443"],
      ["http://cp:9763///", "http://cp:9763"],
      ["http://cp/base/", "http://cp/base"],
    ]) {
      assert.equal(load(`[apim.event_hub]\nservice_url = "${given}"`).config.eventHub.serviceUrl, effective);
    }
  });

  test("endpoints take the event hub credentials and vhost; ssl:// and event_hub.ssl mean amqps", () => {
    const { config } = load(`
[apim.event_hub]
username = "u"
password = "p"
vhost = "carbon"
event_listening_endpoints = ["tcp://a:5672", "ssl://b:8672", "amqp://x:y@c:5673/other"]
[apim.throttling]
throttle_decision_endpoints = "tcp://tm:5672"
`);
    assert.deepEqual(config.eventHub.eventListeningEndpoints, [
      { protocol: "amqp", hostname: "a", port: 5672, username: "u", password: "p", vhost: "carbon" },
      { protocol: "amqps", hostname: "b", port: 8672, username: "u", password: "p", vhost: "carbon" },
      { protocol: "amqp", hostname: "c", port: 5673, username: "x", password: "y", vhost: "other" },
    ]);
    assert.equal(config.throttling.throttleDecisionEndpoints[0]!.username, "u");
    const ssl = load('[apim.event_hub]\nssl = true\nevent_listening_endpoints = ["tcp://a:8672"]').config;
    assert.equal(ssl.eventHub.eventListeningEndpoints[0]!.protocol, "amqps");
  });

  test("[apim.event_hub.jms] credentials are the broker's, the top-level ones stay the REST ones", () => {
    const { config } = load(
      '[apim.event_hub]\nusername = "rest"\npassword = "r"\n[apim.event_hub.jms]\nusername = "mq"\npassword = "m"\n',
    );
    assert.equal(config.eventHub.username, "rest");
    assert.equal(config.eventHub.eventListeningEndpoints[0]!.username, "mq");
    assert.equal(config.gwsync.http.username, "rest");
  });

  // api-manager.xml.j2:1769-1770 (the event hub's, EventHubConfigurationDto) and 1890-1892 (the gateway
  // block's, GatewayArtifactSynchronizerProperties, only when the event hub sets none).
  test("the two event_waiting_time keys are WSO2's two settings: the gateway block's only without the event hub's", () => {
    const both = load(
      "[apim.event_hub]\nevent_waiting_time = 10\n[apim.sync_runtime_artifacts.gateway]\nevent_waiting_time = 20\n",
    );
    assert.equal(both.config.eventHub.eventWaitingTimeMs, 10);
    assert.equal(both.config.gateway.eventWaitingTimeMs, 0);
    const gatewayOnly = load("[apim.sync_runtime_artifacts.gateway]\nevent_waiting_time = 20\n");
    assert.equal(gatewayOnly.config.eventHub.eventWaitingTimeMs, 0);
    assert.equal(gatewayOnly.config.gateway.eventWaitingTimeMs, 20);
  });

  test("cross-key limits: inline artifact cap within the message cap, retry cap above the first wait", () => {
    const err = problems(() =>
      load(
        "[gwsync]\nmax_message_bytes = 10\nmax_inline_artifact_bytes = 20\n[apim.sync_runtime_artifacts.gateway]\ndeployment_retry_duration = 5000\nmax_retry_delay = 100\n",
      ),
    );
    assert.deepEqual(messages(err), [
      "gwsync.max_inline_artifact_bytes (20) must not exceed gwsync.max_message_bytes (10): an inline artifact travels inside one message",
      "apim.sync_runtime_artifacts.gateway.max_retry_delay (100 ms) must be at least apim.sync_runtime_artifacts.gateway.deployment_retry_duration (5000 ms)",
    ]);
  });
});

describe("[gwsync.watch]", () => {
  test("the watched folder resolves against baseDir and keeps its labels", () => {
    const { config } = load('[gwsync.watch]\ndir = "drop"\nlabels = ["A", "A", "B"]\n');
    assert.deepEqual(config.gwsync.watch, {
      dir: "/base/drop",
      labels: ["A", "B"],
      maxFileBytes: 8 * 1024 * 1024,
      followSymlinks: false,
      removeGraceMs: 2000,
    });
    assert.equal(load("").config.gwsync.watch, undefined);
  });

  test("a watched folder needs at least one label and no unknown keys", () => {
    const err = problems(() => load('[gwsync.watch]\ndir = "drop"\nlabels = []\nrecursive = true\n'));
    const byKey = new Map(err.problems.map((p) => [p.key, p.message]));
    assert.equal(byKey.get("gwsync.watch.labels"), "gwsync.watch.labels must name at least one label");
    assert.match(
      byKey.get("gwsync.watch.recursive")!,
      /is not a key of \[gwsync\.watch\]; known keys: dir, labels, max_file_bytes, follow_symlinks, remove_grace_ms$/,
    );
  });
});

describe("robustness", () => {
  test("any TOML-ish text either loads or throws ConfigError, never anything else", () => {
    const token = fc.constantFrom(
      "[gwsync]",
      "[apim.event_hub]",
      "[apim.sync_runtime_artifacts.gateway]",
      "[[apim.event_hub]]",
      "\n",
      " = ",
      "http_port",
      "gateway_labels",
      "event_listening_endpoints",
      "service_url",
      "password",
      '"tcp://h:1"',
      '"$ref{a.b}"',
      '"x"',
      "[",
      "]",
      "1",
      "true",
      ".",
      '"',
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 30 }), (tokens) => {
        try {
          load(tokens.join(""));
        } catch (err) {
          assert.ok(err instanceof ConfigError, String(err));
          assert.ok(err.problems.length > 0);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe("$ref and $env placeholders", () => {
  test("$ref{a.b} takes the value of another key, typed when it is the whole value, as text inside a string", () => {
    const { config, warnings } = load(`
[super_admin]
username = "root"
password = "pw"
[ports]
http = 8081
[cp]
host = "cp.example"
[gwsync]
http_port = "$ref{ports.http}"
[apim.event_hub]
username = "$ref{super_admin.username}"
password = "$ref{super_admin.password}"
service_url = "https://$ref{cp.host}:9443/services/"
`);
    assert.equal(config.gwsync.httpPort, 8081);
    assert.equal(config.eventHub.username, "root");
    assert.equal(config.eventHub.password, "pw");
    assert.equal(config.eventHub.serviceUrl, "https://cp.example:9443");
    assert.deepEqual(warnings, []);
  });

  test("$env{NAME} reads the environment", () => {
    const { config } = load('[apim.event_hub]\npassword = "$env{MQ_PASS}"\n', {
      env: { MQ_PASS: "from-env" },
    });
    assert.equal(config.eventHub.password, "from-env");
  });

  test("an unresolved, cyclic or unsupported placeholder in a key gwsync reads is a problem", () => {
    const err = problems(() =>
      load(`
[a]
x = "$ref{a.y}"
y = "$ref{a.x}"
[apim.event_hub]
username = "$ref{nobody.name}"
password = "$secret{mq}"
service_url = "$ref{a.x}"
vhost = "$env{NOT_SET}"
`),
    );
    assert.deepEqual(messages(err), [
      "apim.event_hub.username refers to $ref{nobody.name}, which is not set in the file",
      "apim.event_hub.password uses $secret{...}, which needs WSO2's runtime; give the value, $env{NAME}, or a password_file instead",
      "apim.event_hub.service_url has a $ref cycle through a.x",
      "apim.event_hub.vhost refers to environment variable NOT_SET, which is not set",
    ]);
  });

  test("an unresolved placeholder in a section gwsync ignores is only a debug note", () => {
    const { debug } = load('[apim.key_manager]\nusername = "$ref{nobody.name}"\n');
    assert.ok(
      debug.includes(
        "apim.key_manager.username refers to $ref{nobody.name}, which is not set in the file (key not used by gwsync)",
      ),
    );
  });
});

describe("password files", () => {
  test("password_file is read and its trailing newline dropped, relative to the config folder", () => {
    const dir = tmp();
    writeFileSync(path.join(dir, "mq.pass"), "s3cret\n");
    writeFileSync(path.join(dir, "http.pass"), "h77p\r\n");
    const { config } = load(
      '[apim.event_hub]\npassword_file = "mq.pass"\n[gwsync.http]\nusername = "ops"\npassword_file = "http.pass"\n',
      { baseDir: dir },
    );
    assert.equal(config.eventHub.password, "s3cret");
    assert.equal(config.eventHub.eventListeningEndpoints[0]!.password, "s3cret");
    const { username, password } = config.gwsync.http;
    assert.deepEqual({ username, password }, { username: "ops", password: "h77p" });
  });

  test("password and password_file together, or an unreadable file, are problems", () => {
    const err = problems(() =>
      load(
        '[apim.event_hub]\npassword = "x"\npassword_file = "y"\n[gwsync.http]\npassword_file = "missing.pass"\n',
        {
          baseDir: "/nowhere",
        },
      ),
    );
    assert.deepEqual(messages(err), [
      "apim.event_hub.password and apim.event_hub.password_file are both set; keep one",
      "gwsync.http.password_file cannot be read (ENOENT): /nowhere/missing.pass",
    ]);
  });
});

describe("role checks", () => {
  test("role gateway needs labels, an enabled section, DBRetriever and a broker", () => {
    const err = problems(() =>
      load(
        '[apim.sync_runtime_artifacts.gateway]\nenable = false\ngateway_labels = []\nartifact_retriever = "S3Retriever"\n[apim.event_hub]\nevent_listening_endpoints = []\n',
        { role: "gateway" },
      ),
    );
    assert.deepEqual(messages(err), [
      "apim.sync_runtime_artifacts.gateway.enable is false, but role gateway needs the gateway section enabled",
      'apim.sync_runtime_artifacts.gateway.gateway_labels is empty, but role gateway needs at least one label to serve (WSO2\'s default is ["Default"])',
      'apim.sync_runtime_artifacts.gateway.artifact_retriever is "S3Retriever", but role gateway implements only "DBRetriever" and "GitRetriever"',
      "apim.event_hub.event_listening_endpoints is empty, but role gateway needs a broker to listen on",
    ]);
  });

  test("every role refuses a disabled event hub and default credentials beyond loopback", () => {
    const err = problems(() =>
      load(
        '[gwsync]\nhttp_host = "0.0.0.0"\n[apim.event_hub]\nenable = false\n[apim.sync_runtime_artifacts.publisher]\n',
        {
          role: "publisher",
        },
      ),
    );
    assert.equal(err.problems.length, 2);
    assert.match(
      err.problems[0]!.message,
      /^apim\.event_hub\.enable is false, but role publisher talks over the event hub/,
    );
    assert.match(
      err.problems[1]!.message,
      /^gwsync\.http_host is "0\.0\.0\.0" \(beyond loopback\), but the HTTP credentials are weak \(the password equals the user name\)/,
    );
    assert.ok(
      load(
        '[gwsync]\nhttp_host = "0.0.0.0"\n[gwsync.http]\npassword = "long-and-random"\n[apim.sync_runtime_artifacts.publisher]\n',
        {
          role: "publisher",
        },
      ).config,
    );
  });

  test("role relay loads with the demo jndi folder and refuses a folder holding only its own region", () => {
    const dir = tmp();
    cpSync(REPO_JNDI, path.join(dir, "jndi"), { recursive: true });
    const text = '[gwsync]\nregion = "region-a"\njndi_dir = "jndi"\n';
    assert.equal(load(text, { role: "relay", baseDir: dir }).config.gwsync.jndiDir, path.join(dir, "jndi"));
    const lonely = tmp();
    cpSync(path.join(REPO_JNDI, "region-a.properties"), path.join(lonely, "jndi", "region-a.properties"));
    const err = problems(() => load(text, { role: "relay", baseDir: lonely }));
    assert.match(
      err.problems[0]!.message,
      /^gwsync\.jndi_dir \(.*\) holds no region other than this one \(region-a\), so role relay has nowhere to forward/,
    );
  });

  test("role relay reports a broken region file with its position", () => {
    const dir = tmp();
    writeFileSync(
      path.join(dir, "region-b.properties"),
      "connectionfactory.T = amqp://u:p@c/?brokerlist='tcp://h:5672\n",
    );
    const err = problems(() => load(`[gwsync]\njndi_dir = "${dir}"\n`, { role: "relay" }));
    assert.match(
      err.problems[0]!.message,
      /^gwsync\.jndi_dir is unusable for role relay: .*region-b\.properties line 1: connectionfactory\.T: unterminated quote in brokerlist at position 26/,
    );
  });
});
