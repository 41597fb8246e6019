import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { loadConfig } from "../../src/config/load-config.js";
import { tempDir } from "../harness/temp-dir.js";

/**
 * A publisher of a named region whose jndi_dir has no <region>.properties runs no region ingress:
 * relays of the mesh would leave its artifacts in gwsync.region-ingress.<region> with no consumer.
 * The configuration check says so, naming the key (a warning: a single region needs no ingress).
 */

const JNDI = "connectionfactory.TopicConnectionFactory = amqp://guest:guest@clientid/carbon?brokerlist='tcp://127.0.0.1:5672'\n";

function publisherWarnings(region: string, jndi: Record<string, string> | undefined): string[] {
  const dir = tempDir("gwsync-jndi-");
  const jndiDir = path.join(dir, "jndi");
  if (jndi !== undefined) {
    mkdirSync(jndiDir);
    for (const [name, text] of Object.entries(jndi)) writeFileSync(path.join(jndiDir, `${name}.properties`), text);
  }
  const r = loadConfig({
    role: "publisher",
    env: {},
    text: `
[gwsync]
region = ${JSON.stringify(region)}
jndi_dir = ${JSON.stringify(jndiDir)}
data_dir = ${JSON.stringify(path.join(dir, "data"))}
[apim.sync_runtime_artifacts.publisher]
artifact_saver = "DBSaver"
[database.sync_runtime_artifacts_db]
type = "sqlite"
url = ${JSON.stringify(path.join(dir, "data", "a.db"))}
`,
  });
  return r.warnings.filter((w) => w.startsWith("gwsync.jndi_dir"));
}

describe("config: a publisher in a mesh that cannot run its region ingress", () => {
  test("a mesh that lists other regions but not this one: a warning naming the key, the queue and the fix", () => {
    const w = publisherWarnings("eu", { us: JNDI, ap: JNDI });
    assert.equal(w.length, 1);
    assert.match(w[0]!, /^gwsync\.jndi_dir \(.*\) holds no eu\.properties/);
    assert.match(w[0]!, /runs NO region ingress/);
    assert.match(w[0]!, /it lists ap, us/);
    assert.match(w[0]!, /gwsync\.region-ingress\.eu with no consumer/);
    assert.match(w[0]!, /set \[gwsync\] jndi_dir/);
  });

  test("no jndi folder at all for a named region: the same warning; with its own file, none", () => {
    assert.equal(publisherWarnings("eu", undefined).length, 1);
    assert.match(publisherWarnings("eu", undefined)[0]!, /cannot read jndi folder/);
    assert.deepEqual(publisherWarnings("eu", { eu: JNDI, us: JNDI }), []);
    assert.deepEqual(publisherWarnings("default", undefined), [], "the single default region needs no ingress");
  });
});
