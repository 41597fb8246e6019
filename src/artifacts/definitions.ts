import { SaxesParser } from "saxes";
import { GwsyncError } from "../errors.js";
import { SYNAPSE_NS } from "./synapse-api.js";
import type { GatewayApiDto, NamedContent } from "./types.js";
import { checkXml } from "./xml.js";

/** What a `<definitions>` document holds, each element as its own document with `<api>` etc. at the root. */
export interface DefinitionsParts {
  apis: string[];
  sequences: NamedContent[];
  endpoints: NamedContent[];
  localEntries: NamedContent[];
}

/** The child elements of `<definitions>` an API brings, and the attribute that names each. */
const KINDS = {
  api: "name",
  sequence: "name",
  endpoint: "name",
  localEntry: "key",
} as const;

/**
 * Splits a synapse `<definitions>` document into its elements, each a document of its own with the
 * synapse namespace declared on it (an element cut out of `<definitions>` inherits the namespace without
 * declaring it). Undefined when the root is not `<definitions>`. An element other than an API,
 * sequence, endpoint or local entry is refused: it is no part of an API's GatewayAPIDTO.
 */
export function splitDefinitions(xml: string, what: string): DefinitionsParts | undefined {
  const root = checkXml(xml, what);
  if (root.tag !== "definitions") return undefined;
  const parts: DefinitionsParts = { apis: [], sequences: [], endpoints: [], localEntries: [] };
  const parser = new SaxesParser({ position: true });
  let depth = 0;
  let start = -1;
  let current: { tag: keyof typeof KINDS; name: string; hasNs: boolean } | undefined;
  const finish = (end: number) => {
    if (current === undefined) return;
    let text = xml.slice(start, end);
    // Declare the namespace the element inherited: `<api ` → `<api xmlns="..." `.
    if (!current.hasNs) text = `<${current.tag} xmlns="${SYNAPSE_NS}"${text.slice(current.tag.length + 1)}`;
    if (current.tag === "api") parts.apis.push(text);
    else {
      const list =
        current.tag === "sequence"
          ? parts.sequences
          : current.tag === "endpoint"
            ? parts.endpoints
            : parts.localEntries;
      list.push({ name: current.name, content: text });
    }
    current = undefined;
  };
  parser.on("opentag", (node) => {
    if (depth === 1) {
      const tag = node.name;
      if (!(tag in KINDS)) {
        throw new GwsyncError(
          "GWSYNC_ARTIFACT_INVALID",
          `${what}: <${tag}> in <definitions> is no part of an API (an API brings <api>, <sequence>, <endpoint> and <localEntry>); deploy it another way`,
        );
      }
      const kind = tag as keyof typeof KINDS;
      const attrs = node.attributes as Record<string, string>;
      start = xml.lastIndexOf("<", parser.position - 1);
      current = { tag: kind, name: attrs[KINDS[kind]] ?? "", hasNs: attrs.xmlns !== undefined };
      if (node.isSelfClosing) finish(parser.position);
    }
    if (!node.isSelfClosing) depth++;
  });
  parser.on("closetag", (node) => {
    if (node.isSelfClosing) return;
    depth--;
    if (depth === 1) finish(parser.position);
  });
  parser.write(xml).close();
  return parts;
}

/**
 * A GatewayAPIDTO as WSO2 has it: `<api>` at the root of `apiDefinition` (and `defaultAPIDefinition`),
 * because WSO2's deployer hands it to synapse's `APIFactory.createAPI`, which wants the `<api>` element.
 * A definition wrapped in `<definitions>` (a synapse file as gwsync's sidecar used to write it) is
 * unwrapped: its API becomes the definition and its sequences, endpoints and local entries join the
 * DTO's lists. The DTO is returned unchanged (the same object) when nothing is wrapped.
 */
export function unwrapDto(dto: GatewayApiDto): GatewayApiDto {
  // Cheap test first: deploying runs this for every API.
  if (!dto.apiDefinition.includes("<definitions") && !dto.defaultAPIDefinition?.includes("<definitions"))
    return dto;
  const parts = splitDefinitions(dto.apiDefinition, "apiDefinition");
  const defaultParts =
    dto.defaultAPIDefinition === undefined
      ? undefined
      : splitDefinitions(dto.defaultAPIDefinition, "defaultAPIDefinition");
  if (parts === undefined && defaultParts === undefined) return dto;
  const out: GatewayApiDto = { ...dto };
  for (const [p, key] of [
    [parts, "apiDefinition"],
    [defaultParts, "defaultAPIDefinition"],
  ] as const) {
    if (p === undefined) continue;
    if (p.apis.length !== 1) {
      throw new GwsyncError(
        "GWSYNC_ARTIFACT_INVALID",
        `${key}: <definitions> must hold exactly one <api>, found ${p.apis.length}`,
      );
    }
    out[key] = p.apis[0]!;
    if (p.sequences.length > 0) out.sequenceToBeAdd = [...(out.sequenceToBeAdd ?? []), ...p.sequences];
    if (p.endpoints.length > 0)
      out.endpointEntriesToBeAdd = [...(out.endpointEntriesToBeAdd ?? []), ...p.endpoints];
    if (p.localEntries.length > 0)
      out.localEntriesToBeAdd = [...(out.localEntriesToBeAdd ?? []), ...p.localEntries];
  }
  return out;
}
