/**
 * The control plane's internal data API as WSO2 gateways call it (docs/wso2-formats.md §3.3): paths,
 * the tenant header, and the encoding of `gatewayLabel`. 4.x gateways send base64url of their labels
 * joined by `|` (InMemoryAPIDeployer `String.join("|", labels)` + `Base64.encodeBase64URLSafeString`;
 * the control plane decodes it in RuntimeArtifactGeneratorUtil); 3.2.0 gateways send the plain label.
 */

/** Which data API a gwsync gateway calls: WSO2 4.x's (runtime-artifacts) or 3.2.0's (synapse-artifacts). */
export const DATA_APIS = ["4.x", "3.2.0"] as const;
export type DataApi = (typeof DATA_APIS)[number];
export const DEFAULT_DATA_API: DataApi = "4.x";

/** `APIConstants.INTERNAL_WEB_APP_EP`. */
export const INTERNAL_DATA_PATH = "/internal/data/v1";
export const RUNTIME_ARTIFACTS_PATH = "/runtime-artifacts";
export const SYNAPSE_ARTIFACTS_PATH = "/synapse-artifacts";
export const GATEWAY_SYNAPSE_ARTIFACTS_PATH = "/gateway-synapse-artifacts";
export const SYNAPSE_ATTRIBUTES_PATH = "/synapse-attributes";
/** gwsync's own changelog endpoint (no WSO2 counterpart). */
export const CHANGES_PATH = "/changes";

/** `APIConstants.HEADER_TENANT`: the tenant a 4.x gateway asks for. */
export const HEADER_TENANT = "xWSO2Tenant";
/** The organization header WSO2 4.x's OnPremResolver reads before xWSO2Tenant (OnPremResolver.java:35-48). */
export const HEADER_ORGANIZATION = "X-WSO2-Tenant";
/** The organization "ALL" (`APIConstants.ORG_ALL_QUERY_PARAM`): every tenant. */
export const ALL_TENANTS = "ALL";
export const SUPER_TENANT = "carbon.super";
/** `APIConstants.GatewayArtifactSynchronizer.GATEWAY_INSTRUCTION_*` of the 3.2.0 synapse-artifacts call. */
export const GATEWAY_INSTRUCTION_PUBLISH = "Publish";
export const GATEWAY_INSTRUCTION_ANY = "ANY";
/** WSO2 joins several labels with this before encoding them (and splits on it after decoding). */
export const LABEL_SEPARATOR = "|";

/** A 4.x gateway's `gatewayLabel`: base64url, no padding, of the labels joined by `|`. */
export function encodeLabels(labels: readonly string[]): string {
  return Buffer.from(labels.join(LABEL_SEPARATOR), "utf8").toString("base64url");
}

const BASE64_ANY = /^[A-Za-z0-9+/_-]+={0,2}$/;
// Control characters (and the separator at either end) never appear in a label WSO2 encoded.
const CONTROL = /\p{Cc}/u;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The labels a `gatewayLabel` query value names. A value that is a label the caller knows is taken as
 * is (3.2.0 gateways and older gwsync ones send the plain label); otherwise a canonical base64(url)
 * text whose bytes are printable UTF-8 is decoded and split on `|` (4.x gateways); anything else is
 * the plain label. WSO2's own decoder (commons-codec) accepts the standard alphabet too.
 */
export function decodeLabelParam(
  raw: string,
  isKnownLabel: (label: string) => boolean = () => false,
): string[] {
  if (raw === "" || isKnownLabel(raw)) return [raw];
  const decoded = decodeBase64Labels(raw);
  return decoded ?? [raw];
}

function decodeBase64Labels(raw: string): string[] | undefined {
  if (!BASE64_ANY.test(raw)) return undefined;
  const compact = raw.replace(/=+$/, "").replaceAll("+", "-").replaceAll("/", "_");
  const bytes = Buffer.from(compact, "base64url");
  // Not canonical (e.g. a plain word whose last character carries stray bits): not an encoding.
  if (bytes.length === 0 || bytes.toString("base64url") !== compact) return undefined;
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return undefined;
  }
  if (CONTROL.test(text)) return undefined;
  const labels = text.split(LABEL_SEPARATOR).filter((l) => l !== "");
  return labels.length > 0 ? [...new Set(labels)] : undefined;
}
