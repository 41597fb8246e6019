import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  formatQpidConnectionUrl,
  parseJndiProperties,
  parseQpidConnectionUrl,
  type QpidBroker,
  type QpidConnectionUrl,
  toBrokerEndpoints,
} from "../../src/config/jndi.js";
import { isGwsyncError } from "../../src/errors.js";

function rejected(url: string): { message: string; position: number } {
  try {
    parseQpidConnectionUrl(url);
  } catch (err) {
    assert.ok(isGwsyncError(err, "GWSYNC_JNDI_INVALID"), `expected GWSYNC_JNDI_INVALID, got ${String(err)}`);
    const position = err.details?.position;
    assert.equal(typeof position, "number");
    assert.ok(err.message.endsWith(`at position ${position}`), err.message);
    return { message: err.message, position: position as number };
  }
  assert.fail(`expected ${url} to be rejected`);
}

describe("Qpid connection URLs", () => {
  test("a WSO2 tenant user keeps its '!' and percent-encoded password characters are decoded", () => {
    const q = parseQpidConnectionUrl(
      "amqp://admin!wso2.com!carbon.super:p%40ss%3Aw%25rd%27@clientid/carbon?brokerlist='tcp://localhost:5672'",
    );
    assert.equal(q.username, "admin!wso2.com!carbon.super");
    assert.equal(q.password, "p@ss:w%rd'");
    assert.equal(q.vhost, "carbon");
  });

  test("vhost: '/carbon' is carbon, '/' is empty (RabbitMQ's '/' as an endpoint), '/%2F' is '/'", () => {
    const vhostOf = (path: string) => {
      const q = parseQpidConnectionUrl(`amqp://u:p@c${path}?brokerlist='tcp://h:5672'`);
      return [q.vhost, toBrokerEndpoints(q)[0]!.vhost];
    };
    assert.deepEqual(vhostOf("/carbon"), ["carbon", "carbon"]);
    assert.deepEqual(vhostOf("/"), ["", "/"]);
    assert.deepEqual(vhostOf(""), ["", "/"]);
    assert.deepEqual(vhostOf("/%2F"), ["/", "/"]);
  });

  test("ssl:// and ssl='true' (per broker or per connection) become amqps; ssl:// defaults to port 5671", () => {
    const q = parseQpidConnectionUrl(
      "amqp://u:p@c/v?brokerlist='ssl://a;tcp://b:8672?ssl='true';tcp://[::1]:5672'&failover='roundrobin'",
    );
    assert.deepEqual(
      toBrokerEndpoints(q).map((e) => [e.protocol, e.hostname, e.port]),
      [
        ["amqps", "a", 5671],
        ["amqps", "b", 8672],
        ["amqp", "::1", 5672],
      ],
    );
    const all = parseQpidConnectionUrl("amqp://u:p@c/v?ssl='true'%26brokerlist='tcp://a:5672'");
    assert.equal(toBrokerEndpoints(all)[0]!.protocol, "amqps");
  });

  test("options may be separated by '&', '%26' or ','", () => {
    const q = parseQpidConnectionUrl(
      "amqp://u:p@c/v?failover='roundrobin',cyclecount='3'&brokerlist='tcp://h:1'",
    );
    assert.deepEqual(q.options, { failover: "roundrobin", cyclecount: "3" });
  });

  const MALFORMED: [string, string, RegExp, number][] = [
    ["wrong scheme", "http://u:p@c/v?brokerlist='tcp://h:5672'", /must start with "amqp:\/\/"/, 1],
    [
      "unterminated brokerlist",
      "amqp://u:p@c/v?brokerlist='tcp://h:5672",
      /unterminated quote in brokerlist/,
      27,
    ],
    ["no brokerlist", "amqp://u:p@c/v", /missing \?brokerlist=/, 15],
    ["brokerlist absent from options", "amqp://u:p@c/v?failover='x'", /missing brokerlist option/, 16],
    ["unquoted value", "amqp://u:p@c/v?brokerlist=tcp://h:5672", /must be in single quotes/, 27],
    ["bad port", "amqp://u:p@c/v?brokerlist='tcp://h:56x2'", /invalid port "56x2"/, 36],
    ["port out of range", "amqp://u:p@c/v?brokerlist='tcp://h:70000'", /invalid port "70000"/, 36],
    ["unknown transport", "amqp://u:p@c/v?brokerlist='vm://h:1'", /unsupported broker transport "vm"/, 28],
    [
      "bad percent-encoding",
      "amqp://u:p%zz@c/v?brokerlist='tcp://h:1'",
      /invalid percent-encoding in password/,
      11,
    ],
    ["empty broker", "amqp://u:p@c/v?brokerlist='tcp://h:1;;tcp://g:2'", /empty broker entry/, 38],
    ["empty brokerlist", "amqp://u:p@c/v?brokerlist=''", /brokerlist is empty/, 27],
    [
      "non-numeric retries",
      "amqp://u:p@c/v?brokerlist='tcp://h:1?retries='x''",
      /option "retries" must be a whole number/,
      47,
    ],
    [
      "raw '@' before the client id",
      "amqp://u:p@c:1/v?brokerlist='tcp://h:1'",
      /client id must not contain ":"/,
      13,
    ],
    ["whitespace", "amqp://u:p@c/v?brokerlist='tcp://h :1'", /whitespace/, 35],
    ["junk after a value", "amqp://u:p@c/v?brokerlist='tcp://h:1'x", /expected "&"/, 38],
  ];
  for (const [what, url, reason, position] of MALFORMED) {
    test(`rejects ${what} with its position`, () => {
      const err = rejected(url);
      assert.match(err.message, reason);
      assert.equal(err.position, position);
    });
  }
});

const CHARS = [
  "!",
  "@",
  "%",
  "'",
  ":",
  "/",
  "?",
  "&",
  "=",
  ";",
  ",",
  "#",
  " ",
  "a",
  "Z",
  "0",
  "é",
  "€",
  "\u{1F600}",
];
const tricky = fc.oneof(
  fc.string(),
  fc.string({ unit: fc.constantFrom(...CHARS) }),
  fc.string({ unit: "grapheme" }),
);
const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
const host = fc.oneof(
  fc.array(label, { minLength: 1, maxLength: 3 }).map((parts) => parts.join(".")),
  fc.ipV4(),
  fc.ipV6(),
);
const optionKey = fc
  .stringMatching(/^[a-z][a-z_.-]{0,8}$/)
  .filter((k) => !["brokerlist", "retries", "connectdelay", "cyclecount", "ssl"].includes(k));
const options = fc.dictionary(optionKey, tricky, { maxKeys: 3, noNullPrototype: true });
const broker: fc.Arbitrary<QpidBroker> = fc.record(
  {
    protocol: fc.constantFrom("tcp" as const, "ssl" as const),
    host,
    port: fc.integer({ min: 1, max: 65_535 }),
    options: fc.oneof(
      options,
      fc.record(
        { retries: fc.nat(99).map(String), connectdelay: fc.nat(9999).map(String) },
        { noNullPrototype: true },
      ),
    ),
  },
  { noNullPrototype: true },
);
const connectionUrl: fc.Arbitrary<QpidConnectionUrl> = fc.record(
  {
    username: tricky,
    password: tricky,
    clientId: tricky,
    vhost: fc.oneof(fc.constantFrom("", "/", "carbon"), tricky),
    options,
    brokers: fc.array(broker, { minLength: 1, maxLength: 4 }),
  },
  { noNullPrototype: true },
);

describe("Qpid connection URL properties", () => {
  test("format then parse gives back the same URL for any users, passwords, vhosts and broker lists", () => {
    fc.assert(
      fc.property(connectionUrl, (q) => {
        assert.deepStrictEqual(parseQpidConnectionUrl(formatQpidConnectionUrl(q)), q);
      }),
      { numRuns: 500 },
    );
  });

  test("a formatted URL survives a jndi.properties line", () => {
    fc.assert(
      fc.property(connectionUrl, (q) => {
        const jndi = parseJndiProperties(`connectionfactory.F = ${formatQpidConnectionUrl(q)}\n`);
        assert.deepStrictEqual(jndi.connectionFactories.F, q);
      }),
      { numRuns: 200 },
    );
  });

  test("random text never throws anything but a positioned GwsyncError", () => {
    const mutated = fc
      .tuple(
        connectionUrl,
        fc.nat(),
        fc.nat(5),
        fc.string({ unit: fc.constantFrom("'", ";", "?", "=", "&", "%", ":", "/", "@", "[") }),
      )
      .map(([q, at, drop, insert]) => {
        const url = formatQpidConnectionUrl(q);
        const i = at % (url.length + 1);
        return url.slice(0, i) + insert + url.slice(i + drop);
      });
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: "binary" }), mutated), (text) => {
        try {
          parseQpidConnectionUrl(text);
        } catch (err) {
          assert.ok(isGwsyncError(err, "GWSYNC_JNDI_INVALID"), String(err));
          const position = err.details?.position as number;
          assert.ok(position >= 1 && position <= text.length + 1, `position ${position} outside the input`);
        }
      }),
      { numRuns: 1000 },
    );
  });

  test("random properties text never throws anything but GwsyncError", () => {
    fc.assert(
      fc.property(
        fc.string({
          unit: fc.constantFrom(
            "connectionfactory.",
            "topic.",
            "=",
            "\\",
            "\n",
            "amqp://",
            "'",
            "{{",
            " ",
            "a",
          ),
        }),
        (text) => {
          try {
            parseJndiProperties(text);
          } catch (err) {
            assert.ok(isGwsyncError(err, "GWSYNC_JNDI_INVALID"), String(err));
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  test("every proper prefix of a valid URL is rejected with a position inside it", () => {
    fc.assert(
      fc.property(connectionUrl, fc.nat(), (q, cut) => {
        const url = formatQpidConnectionUrl(q);
        const prefix = url.slice(0, cut % url.length);
        const { position } = rejected(prefix);
        assert.ok(position <= prefix.length + 1);
      }),
      { numRuns: 300 },
    );
  });
});
