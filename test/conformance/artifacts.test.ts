/**
 * Artifacts as WSO2 has them (carbon-apimgt 4.x @ 68732448b122): `<api>` at the root of apiDefinition and
 * of every file in api/, a GatewayAPIDTO's sequences, endpoints and local entries in their own folders,
 * versionless APIs, the API type from the artifact, and the built-in skip list.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { apiTypeOf } from "../../src/artifacts/api-type.js";
import { filesOfDto } from "../../src/artifacts/artifact-files.js";
import { dtoFromSynapseXml, parseGatewayApiDto } from "../../src/artifacts/gateway-api-dto.js";
import { ALWAYS_SKIPPED } from "../../src/artifacts/skip-list.js";
import { SYNAPSE_NS } from "../../src/artifacts/synapse-api.js";
import { ARTIFACT_FOLDERS } from "../../src/artifacts/types.js";
import { decodeEvent } from "../../src/events/decode.js";
import { buildGatewayEvent } from "../../src/publisher/events-out.js";
import { toGatewayApiDto } from "../../src/publisher/artifact-input.js";
import { FaultWorld, PASSWORD, USER } from "../faults/world.js";

const fixture = (name: string) =>
  readFileSync(new URL(`../fixtures/wso2/synapse/${name}`, import.meta.url), "utf8");

/** A synapse file as gwsync's sidecar once wrote it: the API and what it uses, in one <definitions>. */
const WRAPPED = `<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="${SYNAPSE_NS}">
  <api name="admin--Wrapped" context="/wrapped/1.0.0" version="1.0.0" version-type="context">
    <resource methods="GET" url-mapping="/*"><inSequence><sequence key="admin--Wrapped:v1.0.0--In"/><send><endpoint key="Wrapped--v1.0.0_APIproductionEndpoint"/></send></inSequence></resource>
  </api>
  <sequence name="admin--Wrapped:v1.0.0--In"><log level="simple"/></sequence>
  <endpoint name="Wrapped--v1.0.0_APIproductionEndpoint"><http uri-template="https://backend.example/"/></endpoint>
  <localEntry key="wrapped-entry"><note>kept</note></localEntry>
</definitions>
`;

describe("artifacts as WSO2 has them", () => {
  // APIGatewayAdmin.java:800-801 hands apiDefinition to RESTAPIAdminServiceProxy.addApi (lines 46-53), i.e.
  // carbon-mediation's RestApiAdmin.addApiFromString → synapse APIFactory.createAPI, which wants <api>.
  test("apiDefinition has <api> at its root, its <definitions> siblings in the DTO's own lists", () => {
    const dto = dtoFromSynapseXml(WRAPPED);
    assert.match(dto.apiDefinition, new RegExp(`^<api xmlns="${SYNAPSE_NS}" name="admin--Wrapped"`));
    assert.ok(dto.apiDefinition.trimEnd().endsWith("</api>"));
    assert.deepEqual(
      dto.sequenceToBeAdd?.map((s) => s.name),
      ["admin--Wrapped:v1.0.0--In"],
    );
    assert.match(dto.sequenceToBeAdd![0]!.content, new RegExp(`^<sequence xmlns="${SYNAPSE_NS}" name=`));
    assert.deepEqual(
      dto.endpointEntriesToBeAdd?.map((e) => e.name),
      ["Wrapped--v1.0.0_APIproductionEndpoint"],
    );
    assert.deepEqual(
      dto.localEntriesToBeAdd?.map((e) => e.name),
      ["wrapped-entry"],
    );
  });

  test("a GatewayAPIDTO whose apiDefinition is wrapped is unwrapped when published", () => {
    const dto = toGatewayApiDto(
      JSON.stringify({
        name: "Wrapped",
        version: "1.0.0",
        provider: "admin",
        tenantDomain: "carbon.super",
        apiId: "wrapped-id",
        apiDefinition: WRAPPED,
      }),
    );
    assert.match(dto.apiDefinition, /^<api /);
    assert.equal(dto.sequenceToBeAdd?.length, 1);
  });

  // InMemoryAPIDeployer.java:467-492 (cleanDeployment) names the folders of synapse-configs/default:
  // api, local-entries, endpoints, sequences; APIGatewayAdmin.java:700-801 deploys each list to its own.
  test("every file in api/ has <api> at its root; sequences, endpoints, local entries in their folders", () => {
    // Also an artifact an older gwsync stored wrapped: the gateway writes it unwrapped.
    const stored = parseGatewayApiDto({
      name: "Wrapped",
      version: "1.0.0",
      provider: "admin",
      tenantDomain: "carbon.super",
      apiId: "wrapped-id",
      apiDefinition: WRAPPED,
    });
    const files = filesOfDto(stored);
    const byFolder = files.map((f) => `${ARTIFACT_FOLDERS[f.kind]}/${f.fileName}`);
    assert.deepEqual(byFolder, [
      "api/admin--Wrapped_v1.0.0.xml",
      "sequences/admin--Wrapped:v1.0.0--In.xml",
      "endpoints/Wrapped--v1.0.0_APIproductionEndpoint.xml",
      "local-entries/wrapped-entry.xml",
    ]);
    for (const f of files.filter((x) => x.kind === "api")) assert.match(f.content, /^<api /);
    const pizza = filesOfDto(dtoFromSynapseXml(fixture("api_admin--PizzaShackAPI_versioned_context.xml")));
    assert.match(pizza[0]!.content, /^<api /, "WSO2's own <definitions> sample too");
  });

  test("the built-in skip list is api-manager.xml.j2's (lines 1893-1944): _OpenService_ and 21 sequences", () => {
    assert.deepEqual(ALWAYS_SKIPPED.apis, ["_OpenService_"]);
    assert.equal(ALWAYS_SKIPPED.sequences.length, 21);
    for (const s of [
      "_threat_fault_",
      "_token_fault_",
      "_graphql_failure_handler_",
      "webhooksFaultSequence",
      "_backend_failure_handler_",
      "_block_api_handler_",
      "_extension_fault_handler_",
      "guardrail_fault",
      "_mcp_failure_handler_",
      "_opa_policy_failure_handler_",
    ]) {
      assert.ok(ALWAYS_SKIPPED.sequences.includes(s), s);
    }
    assert.ok(!ALWAYS_SKIPPED.sequences.includes("_token_fetch_error_"), "not in WSO2's list");
  });

  // DeployAPIInGatewayEvent.java:13 carries apiType; InMemoryAPIDeployer.java:402-412 undeploys by it.
  test("apiType comes from the artifact: GRAPHQL (GatewayAPIDTO.java:46 graphQLSchema), WEBSUB, else HTTP", () => {
    const base = dtoFromSynapseXml(fixture("api_admin--PizzaShackAPI_versioned_context.xml"));
    assert.equal(apiTypeOf(base), "HTTP");
    assert.equal(apiTypeOf({ ...base, graphQLSchema: "type Query { a: String }" }), "GRAPHQL");
    assert.equal(
      apiTypeOf({
        ...base,
        localEntriesToBeAdd: [{ name: `${base.apiId}_graphQL`, content: "<localEntry/>" }],
      }),
      "GRAPHQL",
    );
    const websub = base.apiDefinition.replace("<api ", '<api binds-to="WebhookServer, default" ');
    assert.equal(apiTypeOf({ ...base, apiDefinition: websub }), "WEBSUB");
    const msg = buildGatewayEvent({
      action: "deploy",
      dto: { ...base, graphQLSchema: "type Query { a: String }" },
      labels: ["Default"],
      result: {
        apiId: base.apiId,
        seq: 1,
        revision: 1,
        sha256: "0".repeat(64),
        changed: true,
        labels: ["Default"],
      } as never,
      region: "r",
    });
    const decoded = decodeEvent("notification", msg.body, { contentType: "text/plain" });
    assert.ok(decoded.ok);
    assert.equal((decoded.event as { payload: { apiType?: string } }).payload.apiType, "GRAPHQL");
  });
});

describe("versionless APIs end to end", () => {
  const world = new FaultWorld();
  before(async () => {
    await world.startPublisher();
  });
  after(async () => {
    await world.close();
  });

  test("an API without a version is stored, served and deployed as <name>.xml; _OpenService_ is stored but never deployed", async () => {
    const p = world.publisher!.publisher;
    const versionless = `<api xmlns="${SYNAPSE_NS}" name="admin--NoVersion" context="/noversion"><resource methods="GET" url-mapping="/*"><inSequence><respond/></inSequence></resource></api>`;
    const { apiId } = await p.deployApi(versionless, ["Default"]);
    const open = await p.deployApi(fixture("api__OpenService_.xml"), ["Default"]);
    const res = await fetch(`${world.publisherUrl}/internal/data/v1/runtime-artifacts?gatewayLabel=Default`, {
      headers: { authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}` },
    });
    const body = (await res.json()) as { list: string[] };
    const served = body.list.map((a) => parseGatewayApiDto(a));
    assert.ok(served.some((d) => d.apiId === apiId && d.version === ""));
    assert.ok(served.some((d) => d.apiId === open.apiId && d.name === "_OpenService_"));
    const gw = await world.startGateway({ name: "nover", labels: ["Default"] });
    assert.deepEqual(
      gw.deployer.get(apiId)?.files.map((f) => f.relPath),
      ["api/admin--NoVersion.xml"],
    );
    assert.equal(
      gw.deployer.get(open.apiId)?.files.length ?? 0,
      0,
      "the gateway's own _OpenService_ is skipped",
    );
    await world.stopGateway("nover");
  });
});
