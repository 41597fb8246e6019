import type { GatewayApiDto } from "./types.js";

/**
 * The API type a DEPLOY/REMOVE event carries (`DeployAPIInGatewayEvent.apiType`, carbon-apimgt 4.x
 * DeployAPIInGatewayEvent.java:13), read from the artifact: a WSO2 gateway undeploys by it before each
 * deploy (InMemoryAPIDeployer.java:402-412: a GRAPHQL API's `<uuid>_graphQL` local entry, a WS API's
 * endpoints). GRAPHQL when the DTO carries a GraphQL schema (GatewayAPIDTO.java:46) or that local entry;
 * WEBSUB when the API binds to WSO2's WebhookServer inbound endpoint (the websub_api_template.xml
 * `binds-to="WebhookServer, default"`); else HTTP.
 */
export function apiTypeOf(dto: GatewayApiDto): string {
  const schema = dto["graphQLSchema"];
  if (typeof schema === "string" && schema.trim() !== "") return "GRAPHQL";
  if ((dto.localEntriesToBeAdd ?? []).some((l) => l.name === `${dto.apiId}_graphQL`)) return "GRAPHQL";
  if (/<api\b[^>]*\bbinds-to\s*=\s*["'][^"']*\bWebhookServer\b/.test(dto.apiDefinition)) return "WEBSUB";
  return "HTTP";
}
