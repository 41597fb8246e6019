// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${name} is the transformation rules' own placeholder syntax
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseGatewayApiDto, validateDto } from "../../src/artifacts/gateway-api-dto.js";
import type { GatewayApiDto } from "../../src/artifacts/types.js";
import { isGwsyncError } from "../../src/errors.js";
import { parseOamRules } from "../../src/replication/oam-rules.js";
import { compileRules } from "../../src/replication/rules.js";
import { apiDto } from "../harness/api-dto.js";

/** A clone's transformation rules: selection, ignore, replace, and the 400 that names a bad rule. */

const LABEL = "Production and Sandbox";

function orders(o: { name?: string; context?: string; host?: string } = {}): GatewayApiDto {
  const name = o.name ?? "Orders";
  const context = o.context ?? "/orders/1.0.0";
  const host = o.host ?? "orders.eu.internal";
  return {
    ...apiDto(name, {
      apiDefinition: `<?xml version="1.0" encoding="UTF-8"?>
<api xmlns="http://ws.apache.org/ns/synapse" name="admin--${name}" context="${context}" version="1.0.0" version-type="context" hostname="cp.eu.example.com">
  <resource methods="GET" url-mapping="/*">
    <inSequence>
      <log level="full"/>
      <property name="debug" value="on"/>
      <property name="keep" value="yes"/>
      <send><endpoint key="${name}--v1.0.0_APIproductionEndpoint"/></send>
    </inSequence>
    <outSequence><send/></outSequence>
  </resource>
</api>
`,
    }),
    endpointEntriesToBeAdd: [
      {
        name: `${name}--v1.0.0_APIproductionEndpoint`,
        content: `<endpoint xmlns="http://ws.apache.org/ns/synapse" name="${name}--v1.0.0_APIproductionEndpoint"><http uri-template="https://${host}:8243/v1" method="GET"/><description>served by https://${host}:8243</description></endpoint>`,
      },
    ],
    clientCertificatesToBeAdd: [{ name: "cert", content: "MIIB..." }],
  };
}

function run(rules: unknown, dto = orders(), label = LABEL, region = "us") {
  const compiled = compileRules(rules, region);
  const decision = compiled.decide({ label, dto });
  if (!decision.replicate) return { decision, dto: undefined, artifact: undefined, changes: 0 };
  const json = JSON.stringify(dto);
  const t = compiled.transform({ label, dto }, json);
  return { decision, dto: parseGatewayApiDto(t.artifact), artifact: t.artifact, json, changes: t.changes };
}

function badRule(rules: unknown, pattern: RegExp): void {
  assert.throws(
    () => compileRules(rules, "us"),
    (err: unknown) => isGwsyncError(err, "GWSYNC_HTTP_BAD_REQUEST") && pattern.test(err.message),
    `expected a 400 matching ${pattern}`,
  );
}

describe("replication transformation rules", () => {
  test("no rules: every entity replicated, the master's exact bytes kept", () => {
    const r = run({});
    assert.equal(r.decision.replicate, true);
    assert.equal(r.artifact, r.json);
    assert.equal(r.changes, 0);
  });

  test("include blocks select by label, API name (or name:version) and context glob; exclude wins", () => {
    const rules = {
      include: [{ label: "Production*", api: "Ord*" }, { context: "/payments/*" }],
      exclude: [{ api: "OrdersLegacy:1.0.0" }],
    };
    assert.equal(run(rules).decision.replicate, true);
    assert.equal(run(rules, orders(), "Internal").decision.replicate, false);
    assert.equal(run(rules, orders({ name: "Shipping", context: "/shipping/1" })).decision.replicate, false);
    assert.equal(
      run(rules, orders({ name: "Pay", context: "/payments/1.0.0" }), "Internal").decision.replicate,
      true,
    );
    const excluded = run(rules, orders({ name: "OrdersLegacy" }));
    assert.deepEqual(excluded.decision, { replicate: false, why: "excluded by rules.exclude[0]" });
  });

  test("ignore drops elements, attributes and optional GatewayAPIDTO fields; the rest stays byte for byte", () => {
    const r = run({
      ignore: [
        "/api/@hostname",
        "/api/resource/inSequence/log",
        "/**/property[@name='debug']",
        "clientCertificatesToBeAdd",
      ],
    });
    const def = r.dto!.apiDefinition;
    assert.doesNotMatch(def, /hostname=/);
    assert.doesNotMatch(def, /<log /);
    assert.doesNotMatch(def, /name="debug"/);
    assert.match(def, /<property name="keep" value="yes"\/>/);
    assert.equal(r.dto!.clientCertificatesToBeAdd, undefined);
    assert.equal(def.replace(/\n\s*\n/g, "\n").length <= orders().apiDefinition.length, true);
    // What no rule touched is the master's text exactly.
    assert.ok(def.includes("<outSequence><send/></outSequence>"));
    assert.equal(r.dto!.endpointEntriesToBeAdd![0]!.content, orders().endpointEntriesToBeAdd![0]!.content);
    validateDto(r.dto!);
  });

  test("replace rewrites the backend host with the clone's own value, in an attribute or in the whole text", () => {
    const attrOnly = run({
      values: { "orders-host": "orders.us.internal" },
      replace: [
        { path: "/endpoint/http/@uri-template", value: "orders\\.eu\\.internal", with: "${orders-host}" },
      ],
    });
    const ep = attrOnly.dto!.endpointEntriesToBeAdd![0]!.content;
    assert.match(ep, /uri-template="https:\/\/orders\.us\.internal:8243\/v1"/);
    assert.match(
      ep,
      /served by https:\/\/orders\.eu\.internal/,
      "the path limits the rewrite to the attribute",
    );

    const everywhere = run({
      values: { host: "orders.us.internal" },
      replace: [
        { value: "https://orders\\.eu\\.internal(:\\d+)?", with: "https://${host}$1", in: ["endpoints"] },
      ],
    });
    const ep2 = everywhere.dto!.endpointEntriesToBeAdd![0]!.content;
    assert.doesNotMatch(ep2, /eu\.internal/);
    assert.match(ep2, /https:\/\/orders\.us\.internal:8243\/v1/);
    assert.match(everywhere.dto!.apiDefinition, /cp\.eu\.example\.com/, "in: limits the documents searched");
    validateDto(everywhere.dto!);
  });

  test("OAM's replace-with n=: the numbered groups replaced, the rest of the match kept; ${region} built in", () => {
    const r = run({
      replace: [
        {
          path: "/endpoint/http/@uri-template",
          value: "(https)://([a-z]+)\\.eu\\.internal:(\\d+)",
          groups: { "2": "${region}-orders", "3": "443" },
        },
      ],
    });
    assert.match(
      r.dto!.endpointEntriesToBeAdd![0]!.content,
      /uri-template="https:\/\/us-orders\.eu\.internal:443\/v1"/,
    );
  });

  test("rules in an include block apply only to what the block selects", () => {
    const rules = {
      include: [
        { api: "Orders", replace: [{ value: "eu\\.internal", with: "us.internal" }] },
        { api: "Stock" },
      ],
    };
    assert.match(run(rules).dto!.endpointEntriesToBeAdd![0]!.content, /us\.internal/);
    assert.match(
      run(rules, orders({ name: "Stock" })).dto!.endpointEntriesToBeAdd![0]!.content,
      /eu\.internal/,
    );
  });

  test("a bad rule is refused at load with its place named", () => {
    badRule(
      { replace: [{ value: "(unclosed", with: "x" }] },
      /rules\.replace\[0\]\.value: invalid regular expression/,
    );
    badRule(
      { replace: [{ value: "a", with: "${nowhere}" }] },
      /rules\.replace\[0\]\.with: \$\{nowhere\} is not one of/,
    );
    badRule(
      { replace: [{ value: "(a)", with: "$2" }] },
      /rules\.replace\[0\]\.with: \$2 but the expression has 1 group/,
    );
    badRule({ replace: [{ value: "(a)", groups: { "2": "x" } }] }, /rules\.replace\[0\]\.groups: group 2/);
    badRule({ replace: [{ value: "a" }] }, /exactly one of with or groups/);
    badRule(
      { include: [{ api: "X", ignore: ["api/no-slash"] }] },
      /rules\.include\[0\]\.ignore\[0\]: .*neither an XML path/,
    );
    badRule({ ignore: ["/api/[bad"] }, /rules\.ignore\[0\]: path .* bad step/);
    badRule(
      { ignore: ["apiDefinition"] },
      /rules\.ignore\[0\]: the GatewayAPIDTO field apiDefinition cannot be ignored/,
    );
    badRule({ replace: [{ path: "/endpoint/http", value: "a", with: "b" }] }, /must end with \/@attribute/);
    badRule({ exclude: [{}] }, /names no label, api or context/);
    badRule({ colour: "red" }, /colour/);
  });

  test("OAM's <mdc-transform-rule> file maps onto the same rules (changes-to-include, ignore, replace-with n=)", () => {
    const rules = parseOamRules(String.raw`<?xml version="1.0" encoding="UTF-8"?>
<mdc-transform-rule>
  <value name="orders-host">orders.us.internal</value>
  <changes-to-include entity-path="/api/Orders*">
    <ignore attribute-match="/api/resource/inSequence/log"/>
    <replace attribute-match="/endpoint/http/@uri-template" value-match="https://([a-z.]+)\.eu\.internal(.*)">
      <replace-with n="1">${"$"}{orders-host}</replace-with>
    </replace>
  </changes-to-include>
  <changes-to-exclude entity-path="/context/internal/*"/>
</mdc-transform-rule>`);
    assert.deepEqual(rules, {
      values: { "orders-host": "orders.us.internal" },
      include: [
        {
          api: "Orders*",
          ignore: ["/api/resource/inSequence/log"],
          replace: [
            {
              path: "/endpoint/http/@uri-template",
              value: "https://([a-z.]+)\\.eu\\.internal(.*)",
              groups: { "1": "${orders-host}" },
            },
          ],
        },
      ],
      exclude: [{ context: "/internal/*" }],
    });
    const r = run(rules);
    // Group 1 ("orders") became the clone's host; the rest of the match (".eu.internal/v1") is kept.
    assert.match(
      r.dto!.endpointEntriesToBeAdd![0]!.content,
      /uri-template="https:\/\/orders\.us\.internal\.eu\.internal:8243\/v1"/,
    );
    assert.doesNotMatch(r.dto!.apiDefinition, /<log /);
    assert.equal(run(rules, orders({ name: "Audit", context: "/internal/audit" })).decision.replicate, false);
    assert.throws(
      () =>
        parseOamRules('<mdc-transform-rule><changes-to-include entity-path="/policy"/></mdc-transform-rule>'),
      /\/label\/<glob>/,
    );
    assert.throws(() => parseOamRules("<rules/>"), /root element/);
  });
});
