import type { GatewayApiDto } from "../../artifacts/types.js";

/**
 * Where the Git store keeps an API's artifact: `<label folder>/<file>`, one file per API per label.
 * The file is named as WSO2 names the API's synapse file, `<provider>--<name>_v<version>` (or
 * `<provider>--<name>` for an API without a version), with `.json`: it holds the GatewayAPIDTO JSON
 * byte for byte, whose sha256 gateways compare (docs/wso2-formats.md, "Naming conventions":
 * APIConfigContext.java / APIUtil.java @3.2.0 name an API `<provider>--<apiName>`; the gateway file is
 * `api/<provider>--<name>_v<version>.xml`).
 */

/** Characters kept as they are in folder and file names; any other byte is written %XX. */
const KEPT = /^[A-Za-z0-9 ._@+,=()-]$/;

/** Percent-encode every byte outside KEPT (and "%"), so a name is one path segment git and file systems take. */
export function encodeSegment(text: string): string {
  let out = "";
  for (const ch of text) {
    if (KEPT.test(ch)) {
      out += ch;
      continue;
    }
    for (const b of Buffer.from(ch, "utf8")) out += `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  // "." and ".." are no names; a leading dot would hide the entry.
  if (out.startsWith(".")) out = `%2E${out.slice(1)}`;
  return out;
}

/** The folder of a label: the label itself, "Production and Sandbox" as it is. */
export function labelFolder(label: string): string {
  return encodeSegment(label);
}

/** WSO2's synapse name of the API, `<provider>--<name>` (the provider's `@` is `-AT-` in WSO2's names already). */
function synapseName(dto: Pick<GatewayApiDto, "provider" | "name">): string {
  return dto.provider === "" ? dto.name : `${dto.provider}--${dto.name}`;
}

/** The file name of an API: `<provider>--<name>_v<version>.json`. */
export function apiFileBase(dto: Pick<GatewayApiDto, "provider" | "name" | "version">): string {
  const base = dto.version === "" ? synapseName(dto) : `${synapseName(dto)}_v${dto.version}`;
  return `${encodeSegment(base)}.json`;
}

/**
 * The file name for an API whose WSO2 name another API already holds on the label (WSO2 would let
 * them overwrite each other's file): the API id is added, `<provider>--<name>_v<version>.<apiId>.json`.
 */
export function apiFileWithId(dto: Pick<GatewayApiDto, "provider" | "name" | "version" | "apiId">): string {
  return `${apiFileBase(dto).slice(0, -".json".length)}.${encodeSegment(dto.apiId)}.json`;
}
