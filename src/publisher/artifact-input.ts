import { dtoFromSynapseXml, parseGatewayApiDto, validateDto } from "../artifacts/gateway-api-dto.js";
import { unwrapDto } from "../artifacts/definitions.js";
import type { GatewayApiDto } from "../artifacts/types.js";
import { GwsyncError } from "../errors.js";
import { parseJsonText } from "../security/json-limits.js";

/** What the plugin hook accepts: a synapse API XML, a GatewayAPIDTO (JSON text or object). */
export type ArtifactInput = string | GatewayApiDto;

/**
 * Turns whatever the caller gave into a validated GatewayAPIDTO. Text starting with "<" is synapse
 * XML (name, context and version read from it); text starting with "{" is a GatewayAPIDTO JSON.
 */
export function toGatewayApiDto(
  input: ArtifactInput,
  options: { tenantDomain?: string } = {},
): GatewayApiDto {
  let dto: GatewayApiDto;
  if (typeof input === "string") {
    const text = input.replace(/^\uFEFF/, "").trimStart();
    if (text.startsWith("<")) dto = dtoFromSynapseXml(text, options);
    else if (text.startsWith("{")) {
      let parsed: unknown;
      try {
        parsed = parseJsonText(text);
      } catch (err) {
        throw new GwsyncError(
          "GWSYNC_ARTIFACT_INVALID",
          `artifact is not valid JSON: ${(err as Error).message}`,
        );
      }
      dto = parseGatewayApiDto(parsed);
    } else {
      throw new GwsyncError(
        "GWSYNC_ARTIFACT_INVALID",
        "artifact must be a synapse API XML (starting with '<') or a GatewayAPIDTO JSON (starting with '{')",
      );
    }
  } else {
    dto = parseGatewayApiDto(input);
  }
  // `<api>` at the root of apiDefinition, as a WSO2 gateway's deployer wants it.
  dto = unwrapDto(dto);
  validateDto(dto);
  return dto;
}

/** Labels are non-empty, trimmed, unique. */
export function normalizeLabels(labels: readonly string[]): string[] {
  const out = [...new Set(labels.map((l) => l.trim()).filter((l) => l.length > 0))];
  if (out.length === 0) {
    throw new GwsyncError("GWSYNC_USAGE", "at least one gateway label is required (--label / ?label=)");
  }
  for (const l of out) {
    if (l.length > 255)
      throw new GwsyncError("GWSYNC_USAGE", `gateway label longer than 255 characters: ${l.slice(0, 40)}...`);
  }
  return out;
}
