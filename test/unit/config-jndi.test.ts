import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  loadJndiDir,
  parseJndiProperties,
  parseQpidConnectionUrl,
  toBrokerEndpoints,
} from "../../src/config/jndi.js";
import { parseProperties } from "../../src/config/properties.js";
import { isGwsyncError } from "../../src/errors.js";
import { tempDir } from "../harness/temp-dir.js";

const FIXTURES = fileURLToPath(new URL("../fixtures/wso2/jndi/", import.meta.url));
const REPO_JNDI = fileURLToPath(new URL("../../jndi/", import.meta.url));
const fixture = (name: string) => readFileSync(path.join(FIXTURES, name), "utf8");

function jndiError(fn: () => unknown): Error & { details?: Record<string, unknown> } {
  try {
    fn();
  } catch (err) {
    assert.ok(isGwsyncError(err, "GWSYNC_JNDI_INVALID"), `expected GWSYNC_JNDI_INVALID, got ${String(err)}`);
    return err;
  }
  assert.fail("expected a GWSYNC_JNDI_INVALID error");
}

/** Lines of failover-connection-url.txt that are not comments: (1) a bare URL, (2) a properties line. */
function failoverLines(): { verbatim: string; derived: string } {
  const lines = fixture("failover-connection-url.txt")
    .split("\n")
    .filter((l) => l.trim() !== "" && !l.startsWith("#"));
  const verbatim = lines.find((l) => l.startsWith("amqp://"));
  const derived = lines.find((l) => l.startsWith("connectionfactory."));
  assert.ok(verbatim !== undefined && derived !== undefined, "fixture layout changed");
  return { verbatim, derived };
}

describe("WSO2 jndi fixtures", () => {
  test("every fixture file is covered by a test below", () => {
    assert.deepEqual(readdirSync(FIXTURES).sort(), [
      "failover-connection-url.txt",
      "jndi-cp.properties.j2",
      "jndi-region2.properties",
      "jndi.properties",
    ]);
  });

  test("the product's default jndi.properties declares two factories on vhosts carbon and test", () => {
    const jndi = parseJndiProperties(fixture("jndi.properties"), "jndi.properties");
    assert.deepEqual(Object.keys(jndi.connectionFactories), [
      "TopicConnectionFactory",
      "QueueConnectionFactory",
    ]);
    const topic = jndi.connectionFactories.TopicConnectionFactory!;
    assert.equal(topic.username, "admin");
    assert.equal(topic.password, "admin");
    assert.equal(topic.clientId, "clientid");
    assert.equal(topic.vhost, "carbon");
    assert.deepEqual(topic.brokers, [{ protocol: "tcp", host: "localhost", port: 5672, options: {} }]);
    assert.equal(jndi.connectionFactories.QueueConnectionFactory!.vhost, "test");
    assert.equal(jndi.connectionFactories.QueueConnectionFactory!.clientId, "clientID");
    assert.deepEqual(jndi.topics, { throttleData: "throttleData", tokenRevocation: "tokenRevocation" });
    assert.deepEqual(jndi.queues, {});
  });

  test("the multi-DC region file parses, keeping its <region2-cp-host> placeholder as a host name", () => {
    // Host names are checked lexically; "<region2-cp-host>" fails later, at DNS, with the host in the error.
    const jndi = parseJndiProperties(fixture("jndi-region2.properties"));
    const [endpoint] = toBrokerEndpoints(jndi.connectionFactories.TopicConnectionFactory!);
    assert.deepEqual(endpoint, {
      protocol: "amqp",
      hostname: "<region2-cp-host>",
      port: 5672,
      username: "admin",
      password: "admin",
      vhost: "carbon",
    });
    assert.deepEqual(Object.keys(jndi.topics), [
      "tokenRevocation",
      "keyManager",
      "notification",
      "asyncWebhooksData",
    ]);
  });

  test("the Jinja template jndi-cp.properties.j2 is rejected as a template, at its first template line", () => {
    const err = jndiError(() =>
      parseJndiProperties(fixture("jndi-cp.properties.j2"), "jndi-cp.properties.j2"),
    );
    assert.match(err.message, /^jndi-cp\.properties\.j2 line 4: Jinja template syntax/);
    assert.match(err.message, /render the template to a \.properties file first/);
  });

  test("the verbatim failover URL with [host]:<Port-number> placeholders fails at the first placeholder", () => {
    const { verbatim } = failoverLines();
    const err = jndiError(() => parseQpidConnectionUrl(verbatim));
    assert.match(err.message, /broker host "\[Traffic-Manager-1-host\]" is not a bracketed IPv6 address/);
    const position = err.details?.position as number;
    assert.match(err.message, new RegExp(`at position ${position}$`));
    assert.equal(verbatim.slice(position - 1, position + 24), "[Traffic-Manager-1-host]:");
  });

  test("the same URL with a real host but <Port-number> left in fails at the port", () => {
    const { verbatim } = failoverLines();
    const url = verbatim.replaceAll("[Traffic-Manager-1-host]", "tm-1");
    const err = jndiError(() => parseQpidConnectionUrl(url));
    const position = err.details?.position as number;
    assert.match(
      err.message,
      /invalid port "<Port-number>" for broker "tm-1": must be a number from 1 to 65535/,
    );
    assert.equal(url.slice(position - 1, position + 12), "<Port-number>");
  });

  test("with real hosts and ports the verbatim URL keeps failover, cyclecount and per-broker options", () => {
    const { verbatim } = failoverLines();
    const url = verbatim
      .replaceAll("[Traffic-Manager-1-host]:<Port-number>", "tm-1:5672")
      .replaceAll("[Traffic-Manager-2-host]:<Port-number>", "tm-2:5672");
    const q = parseQpidConnectionUrl(url);
    assert.deepEqual(q.options, { failover: "roundrobin", cyclecount: "2" });
    assert.deepEqual(
      q.brokers.map((b) => [b.host, b.port, b.options]),
      [
        ["tm-1", 5672, { retries: "5", connectdelay: "50" }],
        ["tm-2", 5672, { retries: "5", connectdelay: "50" }],
      ],
    );
  });

  test("the derived line (2) parses into 2 brokers with retries 5 and connectdelay 50, trailing ';' tolerated", () => {
    const { derived } = failoverLines();
    const jndi = parseJndiProperties(derived);
    const endpoints = toBrokerEndpoints(jndi.connectionFactories.TopicConnectionFactory!);
    assert.deepEqual(endpoints, [
      {
        protocol: "amqp",
        hostname: "cp-1",
        port: 5672,
        username: "admin",
        password: "admin",
        vhost: "carbon",
        retries: 5,
        connectDelayMs: 50,
      },
      {
        protocol: "amqp",
        hostname: "cp-2",
        port: 5672,
        username: "admin",
        password: "admin",
        vhost: "carbon",
        retries: 5,
        connectDelayMs: 50,
      },
    ]);
  });
});

describe("demo region files (jndi/)", () => {
  test("region-a and region-b point at the two local brokers, vhost '/', with the four streams", () => {
    const regions = loadJndiDir(REPO_JNDI);
    assert.deepEqual(Object.keys(regions), ["region-a", "region-b"]);
    for (const [region, port] of [
      ["region-a", 5672],
      ["region-b", 5673],
    ] as const) {
      const jndi = regions[region]!;
      assert.equal(jndi.connectionFactories.TopicConnectionFactory!.vhost, "");
      const [endpoint] = toBrokerEndpoints(jndi.connectionFactories.TopicConnectionFactory!);
      assert.deepEqual(
        { ...endpoint, retries: undefined, connectDelayMs: undefined },
        {
          protocol: "amqp",
          hostname: "127.0.0.1",
          port,
          username: "guest",
          password: "guest",
          vhost: "/",
          retries: undefined,
          connectDelayMs: undefined,
        },
      );
      assert.deepEqual(jndi.topics, {
        notification: "notification",
        tokenRevocation: "tokenRevocation",
        keyManager: "keyManager",
        asyncWebhooksData: "asyncWebhooksData",
      });
    }
  });
});

describe("loadJndiDir", () => {
  const tmp = () => tempDir("gwsync-jndi-");
  const GOOD = "connectionfactory.TopicConnectionFactory = amqp://u:p@c/?brokerlist='tcp://h:5672'\n";

  test("reads only *.properties files, named after the region", () => {
    const dir = tmp();
    writeFileSync(path.join(dir, "eu.properties"), GOOD);
    writeFileSync(path.join(dir, "notes.txt"), "not a region");
    assert.deepEqual(Object.keys(loadJndiDir(dir)), ["eu"]);
  });

  test("a region file name outside [A-Za-z0-9._-] is rejected, naming the file", () => {
    const dir = tmp();
    writeFileSync(path.join(dir, "eu west.properties"), GOOD);
    const err = jndiError(() => loadJndiDir(dir));
    assert.match(err.message, /jndi file "eu west\.properties" .* region name must match/);
  });

  test("a broken file is reported with its path and line", () => {
    const dir = tmp();
    writeFileSync(path.join(dir, "us.properties"), `# comment\n${GOOD.replace("5672'", "5672")}`);
    const err = jndiError(() => loadJndiDir(dir));
    assert.ok(
      err.message.startsWith(
        `${path.join(dir, "us.properties")} line 2: connectionfactory.TopicConnectionFactory: unterminated quote in brokerlist at position`,
      ),
    );
  });

  test("a missing folder is a clear error", () => {
    const err = jndiError(() => loadJndiDir(path.join(tmp(), "nope")));
    assert.match(err.message, /cannot read jndi folder .*nope: ENOENT/);
  });
});

describe("properties format", () => {
  test("continuations, ! and # comments, ':' and whitespace separators, escapes and CRLF follow java.util.Properties", () => {
    const text = [
      "! bang comment",
      "  # indented comment \\",
      "connectionfactory.A = amqp://u:p@c/v?\\",
      "    brokerlist='tcp://h:5672'",
      "topic.colon:name-with-colon",
      "topic.space   spaced",
      "topic.esc = a\\tb\\u0041",
      "queue.q=queue\\:1",
    ].join("\r\n");
    const entries = parseProperties(text);
    assert.deepEqual(
      entries.map((e) => [e.key, e.value, e.line]),
      [
        ["connectionfactory.A", "amqp://u:p@c/v?brokerlist='tcp://h:5672'", 3],
        ["topic.colon", "name-with-colon", 5],
        ["topic.space", "spaced", 6],
        ["topic.esc", "a\tbA", 7],
        ["queue.q", "queue:1", 8],
      ],
    );
    const jndi = parseJndiProperties(text);
    assert.equal(jndi.connectionFactories.A!.brokers[0]!.host, "h");
    assert.deepEqual(jndi.queues, { q: "queue:1" });
  });

  test("a malformed \\u escape, an empty topic name and a prefix without a name are each reported with their line", () => {
    const err = jndiError(() => parseJndiProperties("topic.a = \\u00zz\n"));
    assert.match(err.message, /line 1: malformed \\uXXXX escape/);
    const many = jndiError(() => parseJndiProperties("topic.empty =\n\ntopic. = x\n", "r.properties"));
    assert.match(many.message, /r\.properties line 1: topic\.empty has an empty physical name/);
    assert.match(many.message, /r\.properties line 3: "topic\." has no JNDI name after the prefix/);
  });

  test("keys Qpid does not know (java.naming.*) are ignored", () => {
    const jndi = parseJndiProperties(
      "java.naming.factory.initial = org.wso2.andes.jndi.PropertiesFileInitialContextFactory\n",
    );
    assert.deepEqual(jndi, { connectionFactories: {}, topics: {}, queues: {} });
  });
});
