import { GwsyncError } from "../errors.js";
import type { SynapseApiInfo } from "./types.js";
import { readXmlRoot, readXmlRootWithChildren, type XmlRoot } from "./xml.js";

/** The namespace of every synapse configuration element. */
export const SYNAPSE_NS = "http://ws.apache.org/ns/synapse";

/** Separates provider and API name in a synapse API name (APIUtil: `<provider>--<apiName>`). */
export const PROVIDER_SEPARATOR = "--";

/** WSO2 writes a tenant provider's `@` as `-AT-` in synapse names (APIUtil.replaceEmailDomain). */
export const EMAIL_DOMAIN_SEPARATOR_REPLACEMENT = "-AT-";

/** The tenant of providers without `@domain`. */
export const SUPER_TENANT_DOMAIN = "carbon.super";

/**
 * Reads name, context and version of a synapse API document whose root is `<api>` or `<definitions>`
 * holding exactly one `<api>`, in the synapse namespace or unnamespaced (excerpts cut out of a
 * `<definitions>` file inherit the namespace without declaring it). The XML must have passed checkXml;
 * pass the root it returned as `root` to skip a second pass over the document.
 *
 * `version` is "" when the attribute is absent: WSO2's own `_OpenService_` and the default-version API
 * of `defaultAPIDefinition` have none, and their file is then `<name>.xml` (see apiFileName).
 * `provider` is as written in the name (a tenant provider keeps `-AT-`; see providerFromSynapse).
 */
export function readSynapseApi(xml: string, what = "synapse API", root?: XmlRoot): SynapseApiInfo {
  const api = apiElementOf(xml, what, root);
  const attrs = api.attributes;
  const synapseName = attrs.name;
  if (synapseName === undefined || synapseName === "") {
    throw invalid(`${what}: <api> has no name attribute; add name="<provider>--<apiName>"`);
  }
  const context = attrs.context;
  if (context === undefined || !context.startsWith("/")) {
    throw invalid(
      `${what}: <api name="${synapseName}"> needs a context attribute starting with "/", got ${context === undefined ? "none" : JSON.stringify(context)}`,
    );
  }
  const { provider, apiName } = splitSynapseName(synapseName);
  return { synapseName, provider, apiName, version: attrs.version ?? "", context };
}

/** `admin--PizzaShackAPI` → provider "admin", apiName "PizzaShackAPI"; `_OpenService_` → provider "". */
export function splitSynapseName(synapseName: string): { provider: string; apiName: string } {
  const at = synapseName.indexOf(PROVIDER_SEPARATOR);
  return at <= 0
    ? { provider: "", apiName: synapseName }
    : { provider: synapseName.slice(0, at), apiName: synapseName.slice(at + PROVIDER_SEPARATOR.length) };
}

/** The provider as synapse names spell it: `user@abc.com` → `user-AT-abc.com`. */
export function providerToSynapse(provider: string): string {
  return provider.replaceAll("@", EMAIL_DOMAIN_SEPARATOR_REPLACEMENT);
}

/** The provider as the control plane spells it: `user-AT-abc.com` → `user@abc.com`. */
export function providerFromSynapse(provider: string): string {
  return provider.replaceAll(EMAIL_DOMAIN_SEPARATOR_REPLACEMENT, "@");
}

/** The synapse API name WSO2 generates for a provider and API name. */
export function synapseApiName(provider: string, apiName: string): string {
  return provider === "" ? apiName : `${providerToSynapse(provider)}${PROVIDER_SEPARATOR}${apiName}`;
}

/** `user@abc.com` → "abc.com"; a provider without a domain belongs to the super tenant. */
export function tenantDomainOf(provider: string): string {
  const at = providerFromSynapse(provider).lastIndexOf("@");
  return at === -1 ? SUPER_TENANT_DOMAIN : providerFromSynapse(provider).slice(at + 1);
}

function apiElementOf(xml: string, what: string, checkedRoot?: XmlRoot): XmlRoot {
  const root = checkedRoot ?? readXmlRoot(xml, what);
  if (root.tag === "api") {
    checkNamespace(root, what);
    return root;
  }
  if (root.tag === "definitions") {
    checkNamespace(root, what);
    const apis = readXmlRootWithChildren(xml, what).children.filter((c) => c.tag === "api");
    const api = apis[0];
    if (apis.length !== 1 || api === undefined) {
      throw invalid(`${what}: <definitions> must hold exactly one <api>, found ${apis.length}`);
    }
    checkNamespace(api, what);
    return api;
  }
  throw invalid(`${what}: the root element must be <api> or <definitions>, got <${root.tag}>`);
}

function checkNamespace(element: XmlRoot, what: string): void {
  const ns = element.attributes.xmlns;
  if (ns !== undefined && ns !== SYNAPSE_NS) {
    throw invalid(`${what}: <${element.tag}> is in namespace "${ns}"; synapse artifacts use "${SYNAPSE_NS}"`);
  }
}

function invalid(message: string): GwsyncError {
  return new GwsyncError("GWSYNC_ARTIFACT_INVALID", message);
}
