import { z } from "zod";
import { GwsyncError } from "../errors.js";
import { type FragmentKind, fragmentNameProblem } from "../security/fragment-names.js";
import { isJsonRecord, parseJsonText } from "../security/json-limits.js";
import { unwrapDto } from "./definitions.js";
import { nameBasedUuid } from "./digest.js";
import { apiFileName, checkName, checkVersion } from "./names.js";
import {
  providerFromSynapse,
  providerToSynapse,
  readSynapseApi,
  synapseApiName,
  tenantDomainOf,
} from "./synapse-api.js";
import type { GatewayApiDto, SynapseApiInfo } from "./types.js";
import { checkXml, type XmlCheckOptions, type XmlRoot } from "./xml.js";

export { canonicalJson, sha256Hex } from "./digest.js";

/** Gson omits nulls but other producers write them: null reads as absent. */
function absentIfNull<T extends z.ZodType>(schema: T) {
  return schema.nullish().transform((v) => v ?? undefined);
}

const namedContentSchema = z.object({ name: z.string(), content: z.string() });
const namedContents = absentIfNull(z.array(namedContentSchema));
const names = absentIfNull(z.array(z.string()));

/** GatewayAPIDTO as WSO2 writes it; unknown 4.x members (keyManagers, vhosts, ...) pass through. */
export const gatewayApiDtoSchema = z.looseObject({
  name: z.string().min(1),
  version: z.string(),
  provider: z.string(),
  tenantDomain: z.string(),
  apiId: z.string().min(1),
  apiDefinition: z.string().min(1),
  defaultAPIDefinition: absentIfNull(z.string()),
  override: absentIfNull(z.boolean()),
  sequenceToBeAdd: namedContents,
  sequencesToBeRemove: names,
  localEntriesToBeAdd: namedContents,
  localEntriesToBeRemove: names,
  endpointEntriesToBeAdd: namedContents,
  endpointEntriesToBeRemove: names,
  clientCertificatesToBeAdd: namedContents,
  clientCertificatesToBeRemove: names,
  credentialsToBeAdd: absentIfNull(z.array(z.object({ alias: z.string(), password: z.string() }))),
  credentialsToBeRemove: names,
  // 4.x writes the revision as a string; some producers write a number.
  revision: absentIfNull(z.union([z.string(), z.number()]).transform(String)),
  apiContext: absentIfNull(z.string()),
});

/** Parses a GatewayAPIDTO (JSON text or an already parsed value); the error lists each bad field. */
export function parseGatewayApiDto(json: string | unknown): GatewayApiDto {
  let value: unknown = json;
  if (typeof json === "string") {
    try {
      value = parseJsonText(json);
    } catch (err) {
      throw new GwsyncError(
        "GWSYNC_ARTIFACT_INVALID",
        `GatewayAPIDTO is not JSON: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }
  const fast = plainGatewayApiDto(value);
  if (fast !== undefined) return fast;
  const parsed = gatewayApiDtoSchema.safeParse(value);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new GwsyncError("GWSYNC_ARTIFACT_INVALID", `GatewayAPIDTO is invalid: ${fields.join("; ")}`, {
      details: { fields: parsed.error.issues.map((i) => i.path.join(".")) },
    });
  }
  return parsed.data as GatewayApiDto;
}

/** The schema's members in its order: zod's output lists them first, then the unknown members as given. */
const DTO_KEYS: readonly string[] = Object.keys(gatewayApiDtoSchema.shape);
const DTO_KEY_SET = new Set(DTO_KEYS);
const NOT_PLAIN = Symbol("not plain");
type Member = (v: unknown) => unknown;
const text: Member = (v) => (typeof v === "string" ? v : NOT_PLAIN);
const nonEmpty: Member = (v) => (typeof v === "string" && v.length > 0 ? v : NOT_PLAIN);
const flag: Member = (v) => (typeof v === "boolean" ? v : NOT_PLAIN);
const revisionMember: Member = (v) =>
  typeof v === "string" ? v : typeof v === "number" && Number.isFinite(v) ? String(v) : NOT_PLAIN;
const nameList: Member = (v) => {
  if (!Array.isArray(v)) return NOT_PLAIN;
  for (const item of v) if (typeof item !== "string") return NOT_PLAIN;
  return v.slice();
};
/** An array of objects with two string members `a` and `b`, copied with those two only (zod strips the rest). */
function pairList(a: string, b: string): Member {
  return (v) => {
    if (!Array.isArray(v)) return NOT_PLAIN;
    const out: Record<string, string>[] = [];
    for (const item of v) {
      if (!isJsonRecord(item)) return NOT_PLAIN;
      const x = item[a];
      const y = item[b];
      if (typeof x !== "string" || typeof y !== "string") return NOT_PLAIN;
      out.push({ [a]: x, [b]: y });
    }
    return out;
  };
}
const namedList = pairList("name", "content");
const DTO_MEMBERS: Record<string, Member> = {
  name: nonEmpty,
  version: text,
  provider: text,
  tenantDomain: text,
  apiId: nonEmpty,
  apiDefinition: nonEmpty,
  defaultAPIDefinition: text,
  override: flag,
  sequenceToBeAdd: namedList,
  sequencesToBeRemove: nameList,
  localEntriesToBeAdd: namedList,
  localEntriesToBeRemove: nameList,
  endpointEntriesToBeAdd: namedList,
  endpointEntriesToBeRemove: nameList,
  clientCertificatesToBeAdd: namedList,
  clientCertificatesToBeRemove: nameList,
  credentialsToBeAdd: pairList("alias", "password"),
  credentialsToBeRemove: nameList,
  revision: revisionMember,
  apiContext: text,
};
const REQUIRED_KEYS = ["name", "version", "provider", "tenantDomain", "apiId", "apiDefinition"] as const;

/**
 * gatewayApiDtoSchema's answer for the plain case, without zod (issue 19: zod was ~0.1 ms of a gateway's
 * CPU per fetched artifact): a JSON object whose members are all of their type, no null and no
 * undefined member. Anything else — a wrong type, a null, an odd object — returns undefined and goes to
 * the schema, which then accepts or refuses it with its own message. So this never accepts what the schema
 * refuses, and what it returns is what the schema returns (members in the schema's order, then the
 * unknown ones as given; test/unit/artifacts-dto-fast-path.test.ts compares them).
 */
export function plainGatewayApiDto(value: unknown): GatewayApiDto | undefined {
  if (!isJsonRecord(value)) return undefined;
  for (const key of REQUIRED_KEYS) if (!Object.hasOwn(value, key)) return undefined;
  const out: Record<string, unknown> = {};
  for (const key of DTO_KEYS) {
    if (!Object.hasOwn(value, key)) continue;
    const check = DTO_MEMBERS[key];
    const member = check === undefined ? NOT_PLAIN : check(value[key]);
    if (member === NOT_PLAIN) return undefined;
    out[key] = member;
  }
  for (const key of Object.keys(value)) if (!DTO_KEY_SET.has(key)) out[key] = value[key];
  return out as GatewayApiDto;
}

/**
 * A GatewayAPIDTO for a bare synapse API file (the watched folder, `gwsync publish file.xml`): name,
 * version, provider and context come from the XML. The default apiId is a UUID named by tenant,
 * provider, name and version, so publishing the same file again updates the same API.
 */
export function dtoFromSynapseXml(
  xml: string,
  options: { apiId?: string; tenantDomain?: string } = {},
): GatewayApiDto {
  const root = checkXml(xml, "synapse API");
  const info = readSynapseApi(xml, "synapse API", root);
  const provider = providerFromSynapse(info.provider);
  const tenantDomain = options.tenantDomain ?? tenantDomainOf(provider);
  const apiId = options.apiId ?? nameBasedUuid([tenantDomain, provider, info.apiName, info.version]);
  // `<api>` at the root, as WSO2 stores it; a `<definitions>` file's other elements join the DTO's lists.
  const dto = unwrapDto({
    name: info.apiName,
    version: info.version,
    provider,
    tenantDomain,
    apiId,
    apiDefinition: xml,
    apiContext: info.context,
  });
  // The XML was checked above; when unwrapDto kept it as the API definition, it is not scanned twice
  // (45 µs of a 5 KB API's REST publish, BENCHMARKS.md issue 19).
  validateDtoOnce(dto, {}, dto.apiDefinition === xml ? root : undefined);
  return dto;
}

/** What validateDto learnt from the API XML(s), reused when the DTO becomes files. */
export interface ValidatedApi {
  api: SynapseApiInfo;
  defaultApi?: SynapseApiInfo;
}

// Keyed by the DTO object; the entry also remembers the definition it read so a replaced string is re-read.
const validated = new WeakMap<GatewayApiDto, ValidatedApi & { apiDefinition: string }>();

/**
 * Checks everything a gateway would write: every XML (API, default API, sequences, endpoints, local
 * entries) with checkXml, every name with the name rules, no duplicate names, and that the API XML's
 * name and version agree with the DTO's provider, name and version. Results are cached per DTO object,
 * so deploying a DTO the caller already validated costs nothing more (do not mutate a validated DTO).
 */
export function validateDto(dto: GatewayApiDto, options: XmlCheckOptions = {}): ValidatedApi {
  return validateDtoOnce(dto, options, undefined);
}

/** validateDto, given the root of `dto.apiDefinition` when checkXml already read it with the same options. */
function validateDtoOnce(
  dto: GatewayApiDto,
  options: XmlCheckOptions,
  checkedApiRoot: XmlRoot | undefined,
): ValidatedApi {
  const cached = validated.get(dto);
  if (cached !== undefined && cached.apiDefinition === dto.apiDefinition) return cached;

  const label = `API ${printable(`${dto.provider}/${dto.name}:${dto.version}`)}`;
  checkName(dto.name, `name of ${label}`);
  checkName(dto.apiId, `apiId of ${label}`);
  if (dto.provider !== "") checkName(providerToSynapse(dto.provider), `provider of ${label}`);
  if (dto.version !== "") checkVersion(dto.version, `version of ${label}`);
  if (dto.tenantDomain !== "") checkName(dto.tenantDomain, `tenantDomain of ${label}`);

  const expectedName = synapseApiName(dto.provider, dto.name);
  const root = checkedApiRoot ?? checkXml(dto.apiDefinition, `apiDefinition of ${label}`, options);
  const api = readSynapseApi(dto.apiDefinition, `apiDefinition of ${label}`, root);
  if (api.synapseName !== expectedName || api.version !== dto.version) {
    throw new GwsyncError(
      "GWSYNC_ARTIFACT_INVALID",
      `apiDefinition of ${label} describes <api name="${api.synapseName}" version="${api.version}">, expected name="${expectedName}" version="${dto.version}"; fix the DTO or the XML so they agree`,
    );
  }
  apiFileName(api);

  let defaultApi: SynapseApiInfo | undefined;
  if (dto.defaultAPIDefinition !== undefined) {
    const defaultRoot = checkXml(dto.defaultAPIDefinition, `defaultAPIDefinition of ${label}`, options);
    defaultApi = readSynapseApi(dto.defaultAPIDefinition, `defaultAPIDefinition of ${label}`, defaultRoot);
    if (defaultApi.synapseName !== expectedName || apiFileName(defaultApi) === apiFileName(api)) {
      throw new GwsyncError(
        "GWSYNC_ARTIFACT_INVALID",
        `defaultAPIDefinition of ${label} must be <api name="${expectedName}"> without the version of apiDefinition, got name="${defaultApi.synapseName}" version="${defaultApi.version}"`,
      );
    }
  }

  checkNamedXml(dto.sequenceToBeAdd, "sequence", label, options);
  checkNamedXml(dto.endpointEntriesToBeAdd, "endpoint", label, options);
  checkNamedXml(dto.localEntriesToBeAdd, "local entry", label, options);
  // Client certificates go to a trust store under their alias, credentials to the secure vault: the
  // aliases become keys (and, in WSO2, file names) there, so they follow the artifact name rules.
  for (const cert of dto.clientCertificatesToBeAdd ?? [])
    checkName(cert.name, `client certificate alias of ${label}`);
  for (const cred of dto.credentialsToBeAdd ?? []) checkName(cred.alias, `credential alias of ${label}`);
  for (const [list, what] of [
    [dto.clientCertificatesToBeRemove, "client certificate alias to remove"],
    [dto.credentialsToBeRemove, "credential alias to remove"],
    [dto.sequencesToBeRemove, "sequence to remove"],
    [dto.endpointEntriesToBeRemove, "endpoint to remove"],
    [dto.localEntriesToBeRemove, "local entry to remove"],
  ] as const) {
    for (const name of list ?? []) checkName(name, `${what} of ${label}`);
  }

  const result: ValidatedApi = defaultApi === undefined ? { api } : { api, defaultApi };
  validated.set(dto, { ...result, apiDefinition: dto.apiDefinition });
  return result;
}

function checkNamedXml(
  items: { name: string; content: string }[] | undefined,
  what: FragmentKind,
  label: string,
  options: XmlCheckOptions,
): void {
  if (items === undefined) return;
  const seen = new Set<string>();
  for (const item of items) {
    checkName(item.name, `${what} name of ${label}`);
    if (seen.has(item.name)) {
      throw new GwsyncError(
        "GWSYNC_ARTIFACT_INVALID",
        `${label} adds ${what} "${item.name}" twice; each name must appear once`,
      );
    }
    seen.add(item.name);
    const root = checkXml(item.content, `${what} "${item.name}" of ${label}`, options);
    const problem = fragmentNameProblem(what, item.name, root);
    if (problem !== undefined)
      throw new GwsyncError("GWSYNC_ARTIFACT_INVALID", `${what} "${item.name}" of ${label}: ${problem}`);
  }
}

/** Names go into error messages and logs before they are checked: no control characters, bounded length. */
function printable(text: string): string {
  const MAX_SHOWN = 120;
  const clean = text.replace(/\p{Cc}/gu, "?");
  return clean.length > MAX_SHOWN ? `${clean.slice(0, MAX_SHOWN)}…` : clean;
}
