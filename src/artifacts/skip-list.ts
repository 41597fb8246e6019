import { ARTIFACT_FILE_EXTENSION } from "./names.js";
import type { ArtifactKind } from "./types.js";

/** `[apim.sync_runtime_artifacts.gateway.skip_list]`: artifacts a gateway never deploys (nor overwrites). */
export interface SkipList {
  apis: string[];
  endpoints: string[];
  sequences: string[];
  localEntries: string[];
}

/**
 * What WSO2 always adds to the skip list: the API and sequences a gateway ships with
 * (synapse-configs/default), which the control plane must never overwrite and a WSO2 gateway's start
 * never deletes. Exactly the built-in entries of carbon-apimgt 4.x's api-manager.xml.j2 `<SkipList>`
 * (lines 1893-1944 @ 68732448b122): `_OpenService_` and 21 sequences.
 */
export const ALWAYS_SKIPPED: Readonly<SkipList> = Object.freeze({
  apis: ["_OpenService_"],
  endpoints: [],
  sequences: [
    "_auth_failure_handler_",
    "_build_",
    "_cors_request_handler_",
    "_extension_fault_handler_",
    "dispatchSeq",
    "fault",
    "guardrail_fault",
    "_graphql_failure_handler_",
    "_mcp_failure_handler_",
    "main",
    "outDispatchSeq",
    "_production_key_error_",
    "_resource_mismatch_handler_",
    "_sandbox_key_error_",
    "_threat_fault_",
    "_throttle_out_handler_",
    "_token_fault_",
    "webhooksFaultSequence",
    "_block_api_handler_",
    "_backend_failure_handler_",
    "_opa_policy_failure_handler_",
  ],
  localEntries: [],
});

const LIST_OF_KIND = {
  api: "apis",
  endpoint: "endpoints",
  sequence: "sequences",
  localEntry: "localEntries",
} as const satisfies Record<ArtifactKind, keyof SkipList>;

/** Answers "is this artifact skipped?"; compiled once, asked per file. */
export type SkipMatcher = (kind: ArtifactKind, name: string, fileName: string) => boolean;

/**
 * Entries match with or without `.xml` (WSO2's docs list file names: `apis = ["api1.xml"]`), against the
 * artifact name or its file name; an API entry without version (`admin--PizzaShackAPI`) skips every version.
 * ALWAYS_SKIPPED is always included.
 */
export function compileSkipList(list: Partial<SkipList> = {}): SkipMatcher {
  const sets = {} as Record<keyof SkipList, Set<string>>;
  for (const key of Object.keys(ALWAYS_SKIPPED) as (keyof SkipList)[]) {
    sets[key] = new Set([...ALWAYS_SKIPPED[key], ...(list[key] ?? [])].map(stripExtension));
  }
  return (kind, name, fileName) => {
    const set = sets[LIST_OF_KIND[kind]];
    return set.size > 0 && (set.has(name) || set.has(stripExtension(fileName)));
  };
}

function stripExtension(name: string): string {
  return name.endsWith(ARTIFACT_FILE_EXTENSION) ? name.slice(0, -ARTIFACT_FILE_EXTENSION.length) : name;
}
