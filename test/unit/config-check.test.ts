import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { renderConfigCheck } from "../../src/config/check.js";
import { ConfigError } from "../../src/config/config-error.js";
import { loadConfig } from "../../src/config/load-config.js";
import { tempDir } from "../harness/temp-dir.js";

const SECRETS = [
  "Mq-S3cret-1",
  "Http-S3cret-2",
  "Db-S3cret-3",
  "Url-S3cret-4",
  "Jms-S3cret-5",
  "File-S3cret-6",
];

function assertNoSecret(text: string): void {
  for (const secret of SECRETS) assert.ok(!text.includes(secret), `${secret} leaked:\n${text}`);
}

describe("renderConfigCheck", () => {
  test("the effective configuration shows no password, from any source", () => {
    const dir = tempDir("gwsync-check-");
    writeFileSync(path.join(dir, "http.pass"), "File-S3cret-6\n");
    const result = loadConfig({
      text: `
[gwsync.http]
username = "ops"
password_file = "http.pass"
[apim.event_hub]
username = "mq"
password = "Mq-S3cret-1"
event_listening_endpoints = ["tcp://a:5672", "amqp://u:Url-S3cret-4@b:5672/"]
[apim.event_hub.jms]
username = "jms"
password = "Jms-S3cret-5"
[database.sync_runtime_artifacts_db]
type = "postgresql"
url = "postgres://app:Db-S3cret-3@db:5432/gw"
password = "Db-S3cret-3"
`,
      env: { GWSYNC_HTTP_PASSWORD_FILE: "", GWSYNC_EVENT_HUB_PASSWORD: "" },
      baseDir: dir,
    });
    // The loaded config does hold the secrets; only the rendering masks them.
    assert.equal(result.config.gwsync.http.password, "File-S3cret-6");
    const text = renderConfigCheck(result, "gateway");
    assertNoSecret(text);
    assert.match(text, /^gwsync config check: OK for role gateway\n/);
    assert.match(text, /"password": "\*\*\*"/);
    assert.match(text, /"url": "postgres:\/\/app:\*\*\*@db:5432\/gw"/);
    assert.match(text, /"username": "jms"/);
  });

  test("an invalid configuration lists its problems, warnings and ignored keys without echoing secrets", () => {
    let error: unknown;
    try {
      loadConfig({
        text: `
[gwsync]
bogus = 1
[apim.sync_runtime_artifacts.gateway]
deployment_retry_duartion = "15000"
enable_on_demand_loading = false
[apim.event_hub]
password = true
event_listening_endpoints = ["amqp://u:Url-S3cret-4@"]
`,
        env: { GWSYNC_HTTP_PASSWORD: "Http-S3cret-2" },
      });
    } catch (err) {
      error = err;
    }
    assert.ok(error instanceof ConfigError);
    const text = renderConfigCheck(error, "gateway");
    assertNoSecret(text);
    assert.match(text, /^gwsync config check: INVALID for role gateway \(3 problems\)\n/);
    assert.match(text, / {2}- gwsync\.bogus is not a key of \[gwsync\]/);
    assert.match(text, / {2}- apim\.event_hub\.password must be a string, got a boolean/);
    assert.match(text, / {2}- apim\.event_hub\.event_listening_endpoints\[0\] must /);
    assert.match(text, /warnings \(1\):\n {2}- .*deployment_retry_duartion is the WSO2 docs' misspelling/);
    assert.match(text, /ignored \(debug\) \(1\):\n {2}- ignored WSO2 key .*enable_on_demand_loading/);
  });

  test("a TOML syntax error on a password line renders without the password", () => {
    let error: unknown;
    try {
      loadConfig({ text: '[apim.event_hub]\npassword = "Mq-S3cret-1\n', env: {} });
    } catch (err) {
      error = err;
    }
    assert.ok(error instanceof ConfigError);
    const text = renderConfigCheck(error);
    assertNoSecret(text);
    assert.match(text, /TOML syntax error at line 2/);
  });
});
