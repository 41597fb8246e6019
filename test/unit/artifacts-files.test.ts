import assert from "node:assert/strict";
import fs from "node:fs";
import { describe, test } from "node:test";
import { filesOfDto } from "../../src/artifacts/artifact-files.js";
import { dtoFromSynapseXml } from "../../src/artifacts/gateway-api-dto.js";
import { ALWAYS_SKIPPED, compileSkipList } from "../../src/artifacts/skip-list.js";
import type { GatewayApiDto } from "../../src/artifacts/types.js";

const SYNAPSE = new URL("../fixtures/wso2/synapse/", import.meta.url);
const fixture = (name: string) => fs.readFileSync(new URL(name, SYNAPSE), "utf8");
const PIZZA = fixture("api_admin--PizzaShackAPI_versioned_context.xml");

function fullDto(): GatewayApiDto {
  return {
    name: "PizzaShackAPI",
    version: "1.0.0",
    provider: "admin",
    tenantDomain: "carbon.super",
    apiId: "2f1cd2a0-9d1e-4d55-8a3b-6a0a5f1b7c11",
    apiDefinition: PIZZA,
    defaultAPIDefinition:
      '<api xmlns="http://ws.apache.org/ns/synapse" name="admin--PizzaShackAPI" context="/pizzashack"/>',
    sequenceToBeAdd: [
      { name: "admin--PizzaShackAPI:v1.0.0--In", content: '<sequence name="admin--PizzaShackAPI:v1.0.0--In"/>' },
      { name: "_auth_failure_handler_", content: '<sequence name="_auth_failure_handler_"/>' },
    ],
    endpointEntriesToBeAdd: [{ name: "PizzaShackAPI--v1.0.0_APIproductionEndpoint", content: '<endpoint name="PizzaShackAPI--v1.0.0_APIproductionEndpoint"/>' }],
    localEntriesToBeAdd: [{ name: "2f1cd2a0-9d1e-4d55-8a3b-6a0a5f1b7c11", content: "<localEntry key='2f1cd2a0-9d1e-4d55-8a3b-6a0a5f1b7c11'/>" }],
    clientCertificatesToBeAdd: [{ name: "alias_-1234", content: "-----BEGIN CERTIFICATE-----" }],
    credentialsToBeAdd: [{ alias: "a", password: "secret" }],
  };
}

describe("filesOfDto", () => {
  test("lays a DTO out as WSO2 does, leaving out default sequences, certificates and credentials", () => {
    const files = filesOfDto(fullDto()).map((f) => `${f.kind} ${f.fileName}`);
    assert.deepEqual(files, [
      "api admin--PizzaShackAPI_v1.0.0.xml",
      "api admin--PizzaShackAPI.xml",
      "sequence admin--PizzaShackAPI:v1.0.0--In.xml",
      "endpoint PizzaShackAPI--v1.0.0_APIproductionEndpoint.xml",
      "localEntry 2f1cd2a0-9d1e-4d55-8a3b-6a0a5f1b7c11.xml",
    ]);
    // Every file in api/ has <api> at its root, as WSO2 writes it: the <definitions> wrapper is gone.
    const api = filesOfDto(fullDto())[0]?.content ?? "";
    assert.match(api, /^<api xmlns="http:\/\/ws\.apache\.org\/ns\/synapse" /);
    assert.ok(PIZZA.includes(api.replace(' xmlns="http://ws.apache.org/ns/synapse"', "")));
  });

  test("never deploys _OpenService_", () => {
    assert.deepEqual(filesOfDto(dtoFromSynapseXml(fixture("api__OpenService_.xml"))), []);
  });

  test("respects a configured skip list given as WSO2 file names or bare names", () => {
    const files = filesOfDto(fullDto(), {
      apis: ["admin--PizzaShackAPI_v1.0.0.xml"],
      endpoints: ["PizzaShackAPI--v1.0.0_APIproductionEndpoint"],
      localEntries: ["2f1cd2a0-9d1e-4d55-8a3b-6a0a5f1b7c11.xml"],
    }).map((f) => f.fileName);
    assert.deepEqual(files, ["admin--PizzaShackAPI.xml", "admin--PizzaShackAPI:v1.0.0--In.xml"]);
  });

  test("an API entry without version skips every version of it", () => {
    const skip = compileSkipList({ apis: ["admin--PizzaShackAPI"] });
    assert.deepEqual(
      filesOfDto(fullDto(), skip).filter((f) => f.kind === "api"),
      [],
    );
  });

  test("the always-skipped list holds WSO2's default sequences", () => {
    for (const name of ["fault", "main", "_throttle_out_handler_", "_cors_request_handler_", "dispatchSeq"]) {
      assert.ok(ALWAYS_SKIPPED.sequences.includes(name), name);
    }
  });
});
