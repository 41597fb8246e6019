import { GwsyncError } from "../errors.js";
import { isPlainObject } from "./wire-json.js";

/**
 * The `value` of a 4.x keyManager event: base64 of the Gson JSON of a KeyManagerConfigurationDTO
 * (carbon-apimgt `KeyMgtNotificationSender.notify`). A WSO2 4.x gateway reads it with
 * `APIUtil.toKeyManagerConfiguration`, which calls `TokenType.valueOf(dto.getTokenType().toUpperCase())`:
 * a missing tokenType is a NullPointerException, an unknown one an IllegalArgumentException, and the
 * key manager is never registered. 3.2.0 carried only the configuration map (`additionalProperties`).
 */

/** `KeyManagerConfiguration.TokenType` (carbon-apimgt org.wso2.carbon.apimgt.api.model). */
export const KEY_MANAGER_TOKEN_TYPES = ["EXCHANGED", "DIRECT", "BOTH"] as const;
/** `KeyManagerConfiguration.tokenType`'s initial value. */
export const DEFAULT_KEY_MANAGER_TOKEN_TYPE = "DIRECT";

/** The fields of the event that the DTO repeats; the event's values win. */
export interface KeyManagerIdentity {
  name: string;
  type: string;
  enabled: boolean;
  organization: string;
  tokenType?: string;
}

/**
 * A KeyManagerConfigurationDTO for an event: `config` is either a DTO already (it has
 * `additionalProperties`) or the bare configuration map, which becomes its `additionalProperties`.
 * Throws GWSYNC_EVENT_INVALID when the DTO would make a WSO2 gateway fail: a tokenType WSO2 does not
 * know, a non-object additionalProperties, or a DTO naming another key manager than the event.
 */
export function keyManagerDto(
  identity: KeyManagerIdentity,
  config: Record<string, unknown> | null,
): Record<string, unknown> {
  const isDto = config !== null && "additionalProperties" in config;
  const base: Record<string, unknown> = isDto ? { ...config } : { additionalProperties: config ?? {} };
  if (!isPlainObject(base.additionalProperties)) {
    throw invalid("config.additionalProperties must be a JSON object (the key manager's settings)");
  }
  for (const field of ["name", "type", "organization"] as const) {
    const given = base[field];
    if (given !== undefined && given !== null && given !== identity[field]) {
      throw invalid(
        `config.${field} is ${JSON.stringify(given)} but the event says ${JSON.stringify(identity[field])}; they must agree`,
      );
    }
  }
  const tokenType = normaliseTokenType(
    identity.tokenType ?? base.tokenType ?? DEFAULT_KEY_MANAGER_TOKEN_TYPE,
  );
  // Gson order of KeyManagerConfigurationDTO: name, uuid, displayName, description, organization, ...
  return {
    name: identity.name,
    ...pick(base, ["uuid", "displayName", "description"]),
    organization: identity.organization,
    additionalProperties: base.additionalProperties,
    ...pick(base, ["endpoints"]),
    type: identity.type,
    enabled: identity.enabled,
    tokenType,
    ...omit(base, [
      "name",
      "uuid",
      "displayName",
      "description",
      "organization",
      "additionalProperties",
      "endpoints",
      "type",
      "enabled",
      "tokenType",
    ]),
  };
}

/** EXCHANGED | DIRECT | BOTH as WSO2 spells them; anything else is refused with the allowed values. */
export function normaliseTokenType(value: unknown): (typeof KEY_MANAGER_TOKEN_TYPES)[number] {
  const upper = typeof value === "string" ? value.toUpperCase() : undefined;
  const known = KEY_MANAGER_TOKEN_TYPES.find((t) => t === upper);
  if (known === undefined) {
    throw invalid(
      `tokenType ${JSON.stringify(value)} is not one of ${KEY_MANAGER_TOKEN_TYPES.join(", ")} (a WSO2 4.x gateway would fail on it)`,
    );
  }
  return known;
}

function pick(from: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (from[k] !== undefined && from[k] !== null) out[k] = from[k];
  return out;
}

function omit(from: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(from)) if (!keys.includes(k) && k !== "__proto__") out[k] = v;
  return out;
}

function invalid(message: string): GwsyncError {
  return new GwsyncError("GWSYNC_EVENT_INVALID", `keyManager event: ${message}`);
}
