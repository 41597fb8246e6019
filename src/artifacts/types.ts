/** A named piece of synapse configuration carried by a GatewayAPIDTO (sequence, endpoint, local entry, ...). */
export interface NamedContent {
  name: string;
  content: string;
}

/**
 * WSO2's GatewayAPIDTO (carbon-apimgt org.wso2.carbon.apimgt.api.gateway.GatewayAPIDTO): the JSON that
 * is the 3.2.0 ARTIFACT blob and each list[] item of the internal data API. Gson omits null fields.
 */
export interface GatewayApiDto {
  name: string;
  version: string;
  provider: string;
  tenantDomain: string;
  apiId: string;
  apiDefinition: string;
  defaultAPIDefinition?: string;
  override?: boolean;
  sequenceToBeAdd?: NamedContent[];
  sequencesToBeRemove?: string[];
  localEntriesToBeAdd?: NamedContent[];
  localEntriesToBeRemove?: string[];
  endpointEntriesToBeAdd?: NamedContent[];
  endpointEntriesToBeRemove?: string[];
  clientCertificatesToBeAdd?: NamedContent[];
  clientCertificatesToBeRemove?: string[];
  credentialsToBeAdd?: { alias: string; password: string }[];
  credentialsToBeRemove?: string[];
  /** 4.x additions, kept when present. */
  revision?: string;
  apiContext?: string;
  [extra: string]: unknown;
}

/** What a synapse API XML says about itself (read from the <api> element). */
export interface SynapseApiInfo {
  /** The synapse name attribute: `<provider>--<apiName>` in WSO2's convention. */
  synapseName: string;
  provider: string;
  apiName: string;
  version: string;
  context: string;
}

/** The kinds of file a deployed API owns under deployment_dir, and their folder names (WSO2 layout). */
export const ARTIFACT_FOLDERS = {
  api: "api",
  sequence: "sequences",
  endpoint: "endpoints",
  localEntry: "local-entries",
} as const;
export type ArtifactKind = keyof typeof ARTIFACT_FOLDERS;

/** One file a gateway deployed, relative to deployment_dir (e.g. "api/admin--PizzaShackAPI_v1.0.0.xml"). */
export interface DeployedFile {
  kind: ArtifactKind;
  relPath: string;
  sha256: string;
}
