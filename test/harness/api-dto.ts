import type { GatewayApiDto } from "../../src/artifacts/types.js";

/** What every test API shares: admin's version 1.0.0 in carbon.super (in the DTO's key order). */
const ADMIN_1_0_0 = { version: "1.0.0", provider: "admin", tenantDomain: "carbon.super" } as const;

/**
 * The DTO of admin's API `name` 1.0.0, id `id-<name>` unless `apiId` says otherwise. Its definition is
 * `<api name="admin--<name>" context="/<name>" version="1.0.0">` holding `body`, unless `apiDefinition`
 * gives the whole text; `sequences`, when given, become its sequenceToBeAdd. The keys are in the order
 * the control plane sends them, so a digest of JSON.stringify(dto) is the one the tests always had.
 */
export function apiDto(
  name: string,
  o: {
    apiId?: string;
    body?: string;
    apiDefinition?: string;
    sequences?: GatewayApiDto["sequenceToBeAdd"];
  } = {},
): GatewayApiDto {
  const apiDefinition =
    o.apiDefinition ?? `<api name="admin--${name}" context="/${name}" version="1.0.0">${o.body ?? ""}</api>`;
  const dto: GatewayApiDto = { name, ...ADMIN_1_0_0, apiId: o.apiId ?? `id-${name}`, apiDefinition };
  if (o.sequences !== undefined) dto.sequenceToBeAdd = o.sequences;
  return dto;
}
