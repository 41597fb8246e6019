import assert from "node:assert/strict";
import fs from "node:fs";
import { describe, test } from "node:test";
import { apiFileName } from "../../src/artifacts/names.js";
import {
  providerFromSynapse,
  providerToSynapse,
  readSynapseApi,
  synapseApiName,
  tenantDomainOf,
} from "../../src/artifacts/synapse-api.js";
import { checkXml } from "../../src/artifacts/xml.js";
import { GwsyncError } from "../../src/errors.js";

const SYNAPSE = new URL("../fixtures/wso2/synapse/", import.meta.url);
const fixture = (name: string) => fs.readFileSync(new URL(name, SYNAPSE), "utf8");

function invalid(pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof GwsyncError);
    assert.equal(err.code, "GWSYNC_ARTIFACT_INVALID");
    assert.match(err.message, pattern);
    return true;
  };
}

describe("readSynapseApi on WSO2's samples", () => {
  test("PizzaShack inside <definitions>: provider admin, PizzaShackAPI 1.0.0 at /pizzashack/1.0.0", () => {
    const xml = fixture("api_admin--PizzaShackAPI_versioned_context.xml");
    checkXml(xml, "PizzaShack");
    assert.deepEqual(readSynapseApi(xml), {
      synapseName: "admin--PizzaShackAPI",
      provider: "admin",
      apiName: "PizzaShackAPI",
      version: "1.0.0",
      context: "/pizzashack/1.0.0",
    });
    assert.equal(apiFileName(readSynapseApi(xml)), "admin--PizzaShackAPI_v1.0.0.xml");
  });

  test("the unnamespaced tenant excerpt keeps the -AT- provider and its /t/ context", () => {
    const xml = fixture("api_tenant_stockapi_with_handlers.excerpt.xml");
    checkXml(xml, "stockapi");
    const info = readSynapseApi(xml);
    assert.deepEqual(info, {
      synapseName: "abc-AT-abc.com--stockapi",
      provider: "abc-AT-abc.com",
      apiName: "stockapi",
      version: "1.0.0",
      context: "/t/abc.com/stock",
    });
    assert.equal(providerFromSynapse(info.provider), "abc@abc.com");
    assert.equal(tenantDomainOf(info.provider), "abc.com");
    assert.equal(apiFileName(info), "abc-AT-abc.com--stockapi_v1.0.0.xml");
  });

  test("_OpenService_ has no provider and no version, and its file is _OpenService_.xml as WSO2 ships it", () => {
    const xml = fixture("api__OpenService_.xml");
    checkXml(xml, "_OpenService_");
    const info = readSynapseApi(xml);
    assert.deepEqual(info, {
      synapseName: "_OpenService_",
      provider: "",
      apiName: "_OpenService_",
      version: "",
      context: "/service",
    });
    assert.equal(apiFileName(info), "_OpenService_.xml");
  });
});

describe("readSynapseApi refuses", () => {
  test("a root that is neither <api> nor <definitions>", () => {
    assert.throws(
      () => readSynapseApi(fixture("sequence__production_key_error_.xml")),
      invalid(/root element must be <api> or <definitions>, got <sequence>/),
    );
  });

  test("an <api> in another namespace", () => {
    assert.throws(
      () => readSynapseApi('<api xmlns="http://evil.example/ns" name="a--b" context="/b" version="1"/>'),
      invalid(/namespace "http:\/\/evil.example\/ns"/),
    );
  });

  test("an <api> without name, and one whose context does not start with /", () => {
    assert.throws(() => readSynapseApi('<api context="/x" version="1"/>'), invalid(/no name attribute/));
    assert.throws(
      () => readSynapseApi('<api name="a--b" version="1"/>'),
      invalid(/context attribute starting with "\/", got none/),
    );
    assert.throws(() => readSynapseApi('<api name="a--b" context="b" version="1"/>'), invalid(/got "b"/));
  });

  test("a <definitions> holding no api or two apis", () => {
    assert.throws(
      () =>
        readSynapseApi(
          '<definitions xmlns="http://ws.apache.org/ns/synapse"><sequence name="s"/></definitions>',
        ),
      invalid(/exactly one <api>, found 0/),
    );
    assert.throws(
      () =>
        readSynapseApi('<definitions><api name="a" context="/a"/><api name="b" context="/b"/></definitions>'),
      invalid(/exactly one <api>, found 2/),
    );
  });
});

describe("provider spelling", () => {
  test("a tenant provider's @ becomes -AT- in the synapse name and back", () => {
    assert.equal(providerToSynapse("user@abc.com"), "user-AT-abc.com");
    assert.equal(synapseApiName("user@abc.com", "stockapi"), "user-AT-abc.com--stockapi");
    assert.equal(synapseApiName("", "_OpenService_"), "_OpenService_");
    assert.equal(tenantDomainOf("admin"), "carbon.super");
  });
});
