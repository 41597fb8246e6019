import assert from "node:assert/strict";
import fs from "node:fs";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  canonicalJson,
  dtoFromSynapseXml,
  parseGatewayApiDto,
  sha256Hex,
  validateDto,
} from "../../src/artifacts/gateway-api-dto.js";
import type { GatewayApiDto } from "../../src/artifacts/types.js";
import { GwsyncError } from "../../src/errors.js";

const SYNAPSE = new URL("../fixtures/wso2/synapse/", import.meta.url);
const fixture = (name: string) => fs.readFileSync(new URL(name, SYNAPSE), "utf8");
const PIZZA = fixture("api_admin--PizzaShackAPI_versioned_context.xml");
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function pizzaDto(extra: Partial<GatewayApiDto> = {}): GatewayApiDto {
  return {
    name: "PizzaShackAPI",
    version: "1.0.0",
    provider: "admin",
    tenantDomain: "carbon.super",
    apiId: "2f1cd2a0-9d1e-4d55-8a3b-6a0a5f1b7c11",
    apiDefinition: PIZZA,
    ...extra,
  };
}

function code(expected: string, pattern?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof GwsyncError, `expected GwsyncError, got ${String(err)}`);
    assert.equal(err.code, expected);
    if (pattern) assert.match(err.message, pattern);
    return true;
  };
}

describe("parseGatewayApiDto", () => {
  test("round-trips a WSO2 DTO through JSON, keeping 4.x extras and reading null as absent", () => {
    const dto = pizzaDto({
      sequenceToBeAdd: [
        {
          name: "admin--PizzaShackAPI:v1.0.0--In",
          content: '<sequence name="admin--PizzaShackAPI:v1.0.0--In"/>',
        },
      ],
      sequencesToBeRemove: ["admin--PizzaShackAPI:v1.0.0--In"],
      override: true,
      revision: "3",
      vhosts: [{ host: "gw.example.com" }],
    });
    const json = JSON.stringify({ ...dto, localEntriesToBeAdd: null });
    const parsed = parseGatewayApiDto(json);
    assert.equal(parsed.localEntriesToBeAdd, undefined);
    assert.deepEqual(JSON.parse(JSON.stringify(parsed)), dto);
    assert.deepEqual(parseGatewayApiDto(JSON.parse(json)), parsed);
  });

  test("accepts a numeric revision as its string", () => {
    assert.equal(parseGatewayApiDto({ ...pizzaDto(), revision: 7 }).revision, "7");
  });

  test("lists every bad field in the error", () => {
    assert.throws(
      () =>
        parseGatewayApiDto({
          ...pizzaDto(),
          name: 5,
          apiDefinition: undefined,
          sequenceToBeAdd: [{ name: "s" }],
        }),
      code(
        "GWSYNC_ARTIFACT_INVALID",
        /GatewayAPIDTO is invalid: .*name: .*apiDefinition: .*sequenceToBeAdd\.0\.content/,
      ),
    );
  });

  test("refuses text that is not JSON", () => {
    assert.throws(() => parseGatewayApiDto("<api/>"), code("GWSYNC_ARTIFACT_INVALID", /not JSON/));
  });
});

describe("dtoFromSynapseXml", () => {
  test("reads name, version, provider and context from the XML, with a stable name-based apiId", () => {
    const dto = dtoFromSynapseXml(PIZZA);
    assert.equal(dto.name, "PizzaShackAPI");
    assert.equal(dto.version, "1.0.0");
    assert.equal(dto.provider, "admin");
    assert.equal(dto.tenantDomain, "carbon.super");
    assert.equal(dto.apiContext, "/pizzashack/1.0.0");
    // The fixture is wrapped in <definitions>; WSO2 stores <api> at the root (APIFactory.createAPI reads it).
    assert.match(dto.apiDefinition, /^<api xmlns="http:\/\/ws\.apache\.org\/ns\/synapse" context="\/pizzashack\/1\.0\.0"/);
    assert.ok(dto.apiDefinition.endsWith("</api>"));
    assert.ok(PIZZA.includes(dto.apiDefinition.replace(' xmlns="http://ws.apache.org/ns/synapse"', "")));
    assert.match(dto.apiId, UUID);
    assert.equal(dtoFromSynapseXml(PIZZA).apiId, dto.apiId, "the same file names the same API");
    assert.notEqual(dtoFromSynapseXml(PIZZA, { tenantDomain: "other.com" }).apiId, dto.apiId);
    assert.equal(dtoFromSynapseXml(PIZZA, { apiId: "given-id" }).apiId, "given-id");
  });

  test("a tenant API gets the @ provider and its tenant domain", () => {
    const dto = dtoFromSynapseXml(fixture("api_tenant_stockapi_with_handlers.excerpt.xml"));
    assert.equal(dto.provider, "abc@abc.com");
    assert.equal(dto.tenantDomain, "abc.com");
    assert.equal(dto.name, "stockapi");
  });

  test("refuses XML with a DOCTYPE before reading it", () => {
    const evil = `<!DOCTYPE api [<!ENTITY x SYSTEM "file:///etc/passwd">]><api name="a--b" context="/b" version="1">&x;</api>`;
    assert.throws(() => dtoFromSynapseXml(evil), code("GWSYNC_XML_DOCTYPE"));
  });
});

describe("validateDto", () => {
  test("accepts the PizzaShack DTO with its sequence, endpoint and local entry", () => {
    const { api } = validateDto(
      pizzaDto({
        sequenceToBeAdd: [{ name: "admin--PizzaShackAPI:v1.0.0--In", content: '<sequence name="admin--PizzaShackAPI:v1.0.0--In"/>' }],
        endpointEntriesToBeAdd: [
          { name: "PizzaShackAPI--v1.0.0_APIproductionEndpoint", content: '<endpoint name="PizzaShackAPI--v1.0.0_APIproductionEndpoint"/>' },
        ],
        localEntriesToBeAdd: [
          { name: "2f1cd2a0-9d1e-4d55-8a3b-6a0a5f1b7c11", content: "<localEntry key='2f1cd2a0-9d1e-4d55-8a3b-6a0a5f1b7c11'>{}</localEntry>" },
        ],
      }),
    );
    assert.equal(api.synapseName, "admin--PizzaShackAPI");
  });

  test("refuses an apiDefinition whose name or version disagrees with the DTO", () => {
    assert.throws(
      () => validateDto(pizzaDto({ name: "Other" })),
      code("GWSYNC_ARTIFACT_INVALID", /expected name="admin--Other" version="1.0.0"/),
    );
    assert.throws(
      () => validateDto(pizzaDto({ version: "2.0.0" })),
      code("GWSYNC_ARTIFACT_INVALID", /version="2.0.0"/),
    );
    assert.throws(() => validateDto(pizzaDto({ provider: "bob" })), code("GWSYNC_ARTIFACT_INVALID"));
  });

  test("checks every XML inside: a DOCTYPE in a sequence or a malformed endpoint is refused, naming it", () => {
    assert.throws(
      () =>
        validateDto(
          pizzaDto({
            sequenceToBeAdd: [{ name: "s1", content: '<!DOCTYPE x [<!ENTITY a "b">]><sequence/>' }],
          }),
        ),
      code("GWSYNC_XML_DOCTYPE", /sequence "s1" of API admin\/PizzaShackAPI:1.0.0/),
    );
    assert.throws(
      () => validateDto(pizzaDto({ endpointEntriesToBeAdd: [{ name: "e1", content: "<endpoint>" }] })),
      code("GWSYNC_XML_MALFORMED", /endpoint "e1"/),
    );
    assert.throws(
      () => validateDto(pizzaDto({ defaultAPIDefinition: "<api" })),
      code("GWSYNC_XML_MALFORMED", /defaultAPIDefinition/),
    );
  });

  test("checks every name: traversal in a local entry or a removal list is refused", () => {
    assert.throws(
      () =>
        validateDto(
          pizzaDto({ localEntriesToBeAdd: [{ name: "../../etc/cron.d/x", content: "<localEntry/>" }] }),
        ),
      code("GWSYNC_ARTIFACT_NAME_UNSAFE", /local entry name/),
    );
    assert.throws(
      () => validateDto(pizzaDto({ sequencesToBeRemove: ["/etc/passwd"] })),
      code("GWSYNC_ARTIFACT_NAME_UNSAFE"),
    );
    assert.throws(
      () => validateDto(pizzaDto({ apiId: "../x" })),
      code("GWSYNC_ARTIFACT_NAME_UNSAFE", /apiId/),
    );
  });

  test("refuses the same sequence name twice", () => {
    const s = { name: "s", content: '<sequence name="s"/>' };
    assert.throws(
      () => validateDto(pizzaDto({ sequenceToBeAdd: [s, s] })),
      code("GWSYNC_ARTIFACT_INVALID", /twice/),
    );
  });

  test("a default-version API must be the unversioned twin of the API", () => {
    const defaultApi =
      '<api xmlns="http://ws.apache.org/ns/synapse" name="admin--PizzaShackAPI" context="/pizzashack"/>';
    assert.deepEqual(validateDto(pizzaDto({ defaultAPIDefinition: defaultApi })).defaultApi?.version, "");
    assert.throws(
      () => validateDto(pizzaDto({ defaultAPIDefinition: defaultApi.replace("admin--", "eve--") })),
      code("GWSYNC_ARTIFACT_INVALID", /defaultAPIDefinition/),
    );
  });
});

describe("canonicalJson and sha256Hex", () => {
  test("key order does not change the hash; array order does", () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [2, 1], c: null } }), '{"a":{"c":null,"d":[2,1]},"b":1}');
    assert.equal(sha256Hex(canonicalJson({ a: 1, b: 2 })), sha256Hex(canonicalJson({ b: 2, a: 1 })));
    assert.notEqual(canonicalJson([1, 2]), canonicalJson([2, 1]));
    assert.equal(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });

  test("a __proto__ key stays a member", () => {
    assert.equal(canonicalJson(JSON.parse('{"__proto__":{"x":1},"a":2}')), '{"__proto__":{"x":1},"a":2}');
  });

  test("property: canonicalJson is stable under any key permutation and parses back to the same value", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const once = canonicalJson(value);
        return (
          canonicalJson(JSON.parse(once)) === once &&
          canonicalJson(JSON.parse(JSON.stringify(value))) === once
        );
      }),
    );
  });
});
