import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { ConfigError } from "../../src/config/config-error.js";
import { loadConfig } from "../../src/config/load-config.js";
import { tempDir } from "../harness/temp-dir.js";

const FILE = `
[gwsync]
node_id = "from-file"
http_port = 1000
[gwsync.http]
username = "file-user"
password = "file-http-pass"
[apim.sync_runtime_artifacts.gateway]
gateway_labels = ["FileLabel"]
data_retrieval_mode = "async"
[apim.event_hub]
username = "file-mq"
password = "file-mq-pass"
service_url = "http://file:9763"
[database.sync_runtime_artifacts_db]
url = "file.db"
`;

const load = (env: NodeJS.ProcessEnv, text = FILE) => loadConfig({ text, env, baseDir: "/base" });

function problems(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail("expected a ConfigError");
}

describe("GWSYNC_* environment overrides", () => {
  test("every named variable wins over the file", () => {
    const dir = tempDir("gwsync-env-");
    writeFileSync(path.join(dir, "mq"), "mq-from-file-secret\n");
    writeFileSync(path.join(dir, "http"), "http-from-file-secret\n");
    const { config } = load({
      GWSYNC_NODE_ID: "gw-env-1",
      GWSYNC_REGION: "region-b",
      GWSYNC_DATA_DIR: "/srv/data",
      GWSYNC_HTTP_PORT: "9999",
      GWSYNC_HTTP_HOST: "::1",
      GWSYNC_GATEWAY_LABELS: "Production and Sandbox, Internal",
      GWSYNC_DATA_RETRIEVAL_MODE: "sync",
      GWSYNC_DEPLOYMENT_DIR: "deploy",
      GWSYNC_SERVICE_URL: "https://cp:9443/services/",
      GWSYNC_BROKER_URLS: "amqp://a:b@mq-1:5673/vh,amqps://mq-2",
      GWSYNC_EVENT_HUB_USERNAME: "env-mq",
      GWSYNC_EVENT_HUB_PASSWORD_FILE: path.join(dir, "mq"),
      GWSYNC_HTTP_USERNAME: "env-user",
      GWSYNC_HTTP_PASSWORD_FILE: path.join(dir, "http"),
      GWSYNC_DATABASE_URL: "/srv/db.sqlite",
    });
    assert.equal(config.gwsync.nodeId, "gw-env-1");
    assert.equal(config.gwsync.region, "region-b");
    assert.equal(config.gwsync.dataDir, "/srv/data");
    assert.equal(config.gwsync.httpPort, 9999);
    assert.equal(config.gwsync.httpHost, "::1");
    assert.deepEqual(config.gateway.gatewayLabels, ["Production and Sandbox", "Internal"]);
    assert.equal(config.gateway.dataRetrievalMode, "sync");
    assert.equal(config.gateway.deploymentDir, "/base/deploy");
    assert.equal(config.eventHub.serviceUrl, "https://cp:9443");
    assert.deepEqual(config.eventHub.eventListeningEndpoints, [
      { protocol: "amqp", hostname: "mq-1", port: 5673, username: "a", password: "b", vhost: "vh" },
      {
        protocol: "amqps",
        hostname: "mq-2",
        port: 5671,
        username: "env-mq",
        password: "mq-from-file-secret",
        vhost: "/",
      },
    ]);
    assert.equal(config.eventHub.username, "env-mq");
    assert.equal(config.eventHub.password, "mq-from-file-secret");
    const { username, password } = config.gwsync.http;
    assert.deepEqual({ username, password }, { username: "env-user", password: "http-from-file-secret" });
    assert.equal(config.database.url, "/srv/db.sqlite");
  });

  test("plain password variables win over the file's password", () => {
    const { config } = load({
      GWSYNC_EVENT_HUB_PASSWORD: "env-mq-pass",
      GWSYNC_HTTP_PASSWORD: "env-http-pass",
    });
    assert.equal(config.eventHub.password, "env-mq-pass");
    assert.equal(config.gwsync.http.password, "env-http-pass");
  });

  test("a password variable replaces a password_file from the file instead of clashing with it", () => {
    const { config } = load(
      { GWSYNC_EVENT_HUB_PASSWORD: "env-pass" },
      '[apim.event_hub]\npassword_file = "/does/not/exist"\n',
    );
    assert.equal(config.eventHub.password, "env-pass");
  });

  test("a bad value is reported naming the variable it came from", () => {
    const err = problems(() =>
      load({
        GWSYNC_DATA_RETRIEVAL_MODE: "fast",
        GWSYNC_HTTP_PORT: "http",
        GWSYNC_BROKER_URLS: "amqp://ok,mq-2:5672",
      }),
    );
    assert.deepEqual(
      err.problems.map((p) => [p.env, p.message]),
      [
        ["GWSYNC_HTTP_PORT", 'gwsync.http_port (from GWSYNC_HTTP_PORT) must be a whole number, got "http"'],
        [
          "GWSYNC_DATA_RETRIEVAL_MODE",
          'apim.sync_runtime_artifacts.gateway.data_retrieval_mode (from GWSYNC_DATA_RETRIEVAL_MODE) must be "sync" or "async", got "fast"',
        ],
        [
          "GWSYNC_BROKER_URLS",
          'apim.event_hub.event_listening_endpoints[1] (from GWSYNC_BROKER_URLS) must use tcp://, ssl://, amqp:// or amqps://, got "mq-2:5672"',
        ],
      ],
    );
  });

  test("a broker URL in an error has its password masked", () => {
    const err = problems(() => load({ GWSYNC_BROKER_URLS: "amqp://u:TopSecret@host:99999" }));
    assert.ok(!err.message.includes("TopSecret"), err.message);
    assert.match(err.message, /GWSYNC_BROKER_URLS/);
  });

  test("GWSYNC_CFG__section__key sets any key, lists written as TOML", () => {
    const { config } = load({
      GWSYNC_CFG__apim__event_hub__username: "generic-user",
      GWSYNC_CFG__apim__sync_runtime_artifacts__gateway__gateway_labels: '["x", "y"]',
      GWSYNC_CFG__gwsync__queue_type: "quorum",
      GWSYNC_CFG__apim__sync_runtime_artifacts__gateway__max_retry_count: "9",
    });
    assert.equal(config.eventHub.username, "generic-user");
    assert.deepEqual(config.gateway.gatewayLabels, ["x", "y"]);
    assert.equal(config.gwsync.queueType, "quorum");
    assert.equal(config.gateway.maxRetryCount, 9);
  });

  test("the named variable wins over the generic form for the same key", () => {
    const { config } = load({ GWSYNC_CFG__gwsync__region: "generic", GWSYNC_REGION: "named" });
    assert.equal(config.gwsync.region, "named");
  });

  test("a generic variable is validated like the file, and an unknown gwsync key is an error", () => {
    const err = problems(() =>
      load({ GWSYNC_CFG__gwsync__http_prot: "1", GWSYNC_CFG__gwsync__queue_type: "fast" }),
    );
    const byKey = new Map(err.problems.map((p) => [p.key, p.message]));
    assert.match(
      byKey.get("gwsync.http_prot")!,
      /^gwsync\.http_prot \(from GWSYNC_CFG__gwsync__http_prot\) is not a key of \[gwsync\]/,
    );
    assert.equal(
      byKey.get("gwsync.queue_type"),
      'gwsync.queue_type (from GWSYNC_CFG__gwsync__queue_type) must be "classic" or "quorum", got "fast"',
    );
  });

  test("generic names that cannot be keys, or that reach through a value, are problems", () => {
    const err = problems(() =>
      load({
        GWSYNC_CFG__gwsync____x: "1",
        GWSYNC_CFG__gwsync__node_id__deeper: "1",
        GWSYNC_CFG____proto____polluted: "1",
      }),
    );
    assert.deepEqual(
      err.problems.map((p) => p.message),
      [
        'GWSYNC_CFG____proto____polluted must name a key as GWSYNC_CFG__section__key (letters, digits, "_" and "-" between "__")',
        'GWSYNC_CFG__gwsync____x must name a key as GWSYNC_CFG__section__key (letters, digits, "_" and "-" between "__")',
        "GWSYNC_CFG__gwsync__node_id__deeper cannot set gwsync.node_id.deeper: gwsync.node_id is not a table in the configuration file",
      ],
    );
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test("both a password and its _FILE variable set is a problem", () => {
    const err = problems(() => load({ GWSYNC_HTTP_PASSWORD: "a", GWSYNC_HTTP_PASSWORD_FILE: "/x" }));
    assert.match(
      err.problems[0]!.message,
      /^GWSYNC_HTTP_PASSWORD and GWSYNC_HTTP_PASSWORD_FILE are both set; keep one$/,
    );
  });

  test("empty variables count as unset; unknown GWSYNC_ variables are a debug note, a typo of a known one a warning", () => {
    const { config, debug, warnings } = load({
      GWSYNC_NODE_ID: "",
      GWSYNC_SOMETHING_ELSE: "1",
      GWSYNC_HTTP_PROT: "1",
      GWSYNC_LOG_LEVEL: "debug",
    });
    assert.equal(config.gwsync.nodeId, "from-file");
    assert.deepEqual(debug, ["environment variable GWSYNC_SOMETHING_ELSE is not one gwsync reads; ignored"]);
    assert.deepEqual(warnings, [
      "GWSYNC_HTTP_PROT is not an environment variable gwsync reads (did you mean GWSYNC_HTTP_PORT?); it is ignored",
    ]);
  });

  test("without a file the environment alone configures gwsync", () => {
    const { config } = loadConfig({
      env: { GWSYNC_NODE_ID: "env-only", GWSYNC_HTTP_PORT: "0" },
      baseDir: "/b",
    });
    assert.equal(config.gwsync.nodeId, "env-only");
    assert.equal(config.gwsync.httpPort, 0);
  });
});
