import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, test } from "node:test";
import { loadConfig } from "../../src/config/load-config.js";
import { createLogger, type Logger } from "../../src/log.js";
import { maskUrl } from "../../src/security/secrets.js";

/** Every secret below contains this marker, so one search proves none of them was printed. */
const MARK = "Zq9-leak";
const secret = (what: string) => `${what}-${MARK}`;

interface Capture {
  log: Logger;
  /** Raw lines as pino wrote them. */
  lines: string[];
  /** The lines parsed as JSON records. */
  records: () => Record<string, unknown>[];
}

function capture(): Capture {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n")) if (line !== "") lines.push(line);
      done();
    },
  });
  const log = createLogger({ destination, level: "trace" });
  return { log, lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** Fails naming the line that printed a secret. */
function assertNoSecret(lines: readonly string[], expectedLines: number): void {
  assert.equal(lines.length, expectedLines, "every call must still produce one record");
  for (const line of lines) assert.ok(!line.includes(MARK), `a secret was printed: ${line}`);
}

describe("log redaction: secret-named fields", () => {
  test("a password is censored at the top level and in a nested config object", () => {
    const c = capture();
    c.log.info({ password: secret("top") }, "top-level password");
    c.log.info({ config: { eventHub: { password: secret("event-hub") } } }, "nested password");
    c.log.warn(
      { config: { gwsync: { http: { username: "ops", password: secret("http") } } } },
      "deeper password",
    );
    c.log.debug(
      { config: { database: { password: secret("db"), Password: secret("db-caps") } } },
      "any case",
    );
    assertNoSecret(c.lines, 4);
    const [top, nested, deeper] = c.records();
    assert.equal(top?.password, "***");
    assert.deepEqual(nested?.config, { eventHub: { password: "***" } });
    assert.deepEqual(deeper?.config, { gwsync: { http: { username: "ops", password: "***" } } });
  });

  test("an authorization header is censored however it is spelled and wherever it sits", () => {
    const c = capture();
    const basic = `Basic ${Buffer.from(`admin:${secret("basic")}`).toString("base64")}`;
    c.log.info({ authorization: secret("bearer") }, "bare");
    c.log.info({ req: { method: "GET", headers: { authorization: basic } } }, "incoming request");
    c.log.info({ headers: { Authorization: basic } }, "outgoing fetch headers (capitalised)");
    c.log.info(
      { fetch: { url: "http://cp:9763/internal/data/v1", init: { headers: { Authorization: basic } } } },
      "deep",
    );
    const b64 = Buffer.from(`admin:${secret("basic")}`).toString("base64");
    assertNoSecret(c.lines, 4);
    for (const line of c.lines) assert.ok(!line.includes(b64), `a Basic credential was printed: ${line}`);
    const [, request] = c.records();
    assert.deepEqual(request?.req, { method: "GET", headers: { authorization: "***" } });
  });

  test("a revoked token (and other token fields) is censored at any depth", () => {
    const c = capture();
    c.log.info({ revokedToken: secret("jti") }, "flat");
    c.log.info({ event: { revokedToken: secret("jti-1") } }, "one level");
    c.log.info({ event: { payload: { payloadData: { revokedToken: secret("jti-2") } } } }, "three levels");
    c.log.info({ token: secret("t"), accessToken: secret("at"), clientSecret: secret("cs") }, "others");
    assertNoSecret(c.lines, 4);
    assert.equal(c.records()[0]?.revokedToken, "***");
  });

  test("a whole effective configuration, logged as one object, shows no password", () => {
    const text = `
[gwsync]
node_id = "redaction-test"
[gwsync.http]
username = "ops"
password = "${secret("http")}"
[apim.event_hub]
username = "mq"
password = "${secret("event-hub")}"
event_listening_endpoints = ["amqp://relay:${secret("url")}@broker-1:5672/prod", "tcp://broker-2:5672"]
[database.sync_runtime_artifacts_db]
type = "sqlite"
url = "./artifacts.db"
password = "${secret("db")}"
`;
    const { config } = loadConfig({ text, env: {}, baseDir: "/srv/gwsync" });
    const c = capture();
    c.log.info({ config }, "effective configuration");
    c.log.info({ endpoints: config.eventHub.eventListeningEndpoints }, "brokers");
    assertNoSecret(c.lines, 2);
    // What operators need stays readable.
    const record = c.records()[0] as { config: typeof config };
    assert.equal(record.config.gwsync.nodeId, "redaction-test");
    assert.equal(record.config.eventHub.username, "mq");
    assert.equal(record.config.eventHub.eventListeningEndpoints[0]?.hostname, "broker-1");
  });

  test("child logger bindings are censored too", () => {
    const c = capture();
    c.log.child({ component: "amqp", password: secret("binding") }).info("bound");
    assertNoSecret(c.lines, 1);
    assert.equal(c.records()[0]?.component, "amqp");
  });

  test("fields that only look like secrets stay readable", () => {
    const c = capture();
    c.log.info(
      { password_file: "/run/secrets/event-hub", tokenType: "JWT", tokens: 3, username: "ops" },
      "kept",
    );
    const [r] = c.records();
    assert.equal(r?.password_file, "/run/secrets/event-hub");
    assert.equal(r?.tokenType, "JWT");
    assert.equal(r?.tokens, 3);
    assert.equal(r?.username, "ops");
  });
});

describe("log redaction: credentials inside URLs", () => {
  const url = `amqp://relay:${secret("url")}@broker-1:5672/prod`;

  test("in the message string and in printf-style arguments", () => {
    const c = capture();
    c.log.info(`connecting to ${url}`);
    c.log.info("connecting to %s", url);
    c.log.info({ attempt: 2 }, `retrying ${url} and https://u:${secret("https")}@cp:9443/services`);
    assertNoSecret(c.lines, 3);
    assert.equal(c.records()[0]?.msg, "connecting to amqp://relay:***@broker-1:5672/prod");
    assert.equal(c.records()[1]?.msg, "connecting to amqp://relay:***@broker-1:5672/prod");
  });

  test("in a field, a list and a nested object", () => {
    const c = capture();
    c.log.info({ url }, "field");
    c.log.info({ brokers: [url, "amqp://127.0.0.1:5672"] }, "list");
    c.log.info({ relay: { region: "region-b", target: { url } } }, "nested");
    c.log.info({ msg: url });
    assertNoSecret(c.lines, 4);
    const [field, list] = c.records();
    assert.equal(field?.url, "amqp://relay:***@broker-1:5672/prod");
    assert.deepEqual(list?.brokers, ["amqp://relay:***@broker-1:5672/prod", "amqp://127.0.0.1:5672"]);
  });

  test("in an Error's message and stack, logged directly, as err, or as a cause", () => {
    const c = capture();
    const err = new Error(`connect ECONNREFUSED ${url}`);
    c.log.error(err);
    c.log.error({ err }, "broker connection failed");
    c.log.error({ err: new Error("wrapped", { cause: new Error(`inner ${url}`) }) }, "with cause");
    assertNoSecret(c.lines, 3);
    const [direct, field] = c.records() as { msg?: string; err?: { message?: string; type?: string } }[];
    assert.equal(direct?.err?.message, "connect ECONNREFUSED amqp://relay:***@broker-1:5672/prod");
    assert.equal(direct?.msg, "connect ECONNREFUSED amqp://relay:***@broker-1:5672/prod");
    assert.equal(field?.err?.type, "Error");
  });

  test("a Qpid JNDI connection URL keeps its broker list but loses its password", () => {
    const c = capture();
    const jndi = `amqp://admin:${secret("jndi")}@clientid/carbon?brokerlist='tcp://h1:5672?retries='5''`;
    c.log.warn({ factory: jndi }, "region b unreachable");
    assertNoSecret(c.lines, 1);
    assert.equal(
      c.records()[0]?.factory,
      "amqp://admin:***@clientid/carbon?brokerlist='tcp://h1:5672?retries='5''",
    );
  });

  test("a circular object is logged without crashing and without secrets", () => {
    const c = capture();
    const a: Record<string, unknown> = { name: "a", password: secret("circular") };
    a.self = a;
    c.log.info({ a }, "circular");
    assertNoSecret(c.lines, 1);
  });
});

describe("maskUrl", () => {
  test("masks the password of amqp, amqps, http and https URLs", () => {
    assert.equal(maskUrl("amqp://user:secret@host"), "amqp://user:***@host");
    assert.equal(maskUrl("amqps://user:secret@host:5671/vhost"), "amqps://user:***@host:5671/vhost");
    assert.equal(maskUrl("http://admin:admin@cp:9763/x"), "http://admin:***@cp:9763/x");
    assert.equal(maskUrl("https://a:b@cp"), "https://a:***@cp");
  });

  test("masks an empty user name's password and a password with / and : in it", () => {
    assert.equal(maskUrl("amqp://:secret@host"), "amqp://:***@host");
    assert.equal(maskUrl("amqp://u:se/cr:et@host"), "amqp://u:***@host");
  });

  test("masks every URL of a longer text", () => {
    assert.equal(
      maskUrl("from amqp://a:one@h1 to amqp://b:two@h2 done"),
      "from amqp://a:***@h1 to amqp://b:***@h2 done",
    );
  });

  test("leaves URLs without a password, and plain text, unchanged", () => {
    for (const s of [
      "amqp://127.0.0.1:5672",
      "amqp://user@host",
      "tcp://broker:5672",
      "http://cp:9763/internal/data/v1/runtime-artifacts?gatewayLabel=Default",
      "no url here: a:b@c",
      "",
    ]) {
      assert.equal(maskUrl(s), s);
    }
  });
});
