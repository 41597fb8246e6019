import { unwrapDto } from "./definitions.js";
import { validateDto } from "./gateway-api-dto.js";
import { apiFileName, artifactFileName } from "./names.js";
import { compileSkipList, type SkipList, type SkipMatcher } from "./skip-list.js";
import type { ArtifactKind, GatewayApiDto } from "./types.js";

/** One file a DTO becomes under deployment_dir/<folder of kind>/. */
export interface ArtifactFile {
  kind: ArtifactKind;
  fileName: string;
  /** The artifact name the skip list and errors speak of (synapse API name for APIs). */
  name: string;
  content: string;
}

const DEFAULT_SKIP = compileSkipList();

/**
 * The files a GatewayAPIDTO deploys in WSO2's layout: the API XML (and the default-version API) into
 * api/, sequenceToBeAdd into sequences/, endpointEntriesToBeAdd into endpoints/, localEntriesToBeAdd into
 * local-entries/, each `<name>.xml`, minus what the skip list names (ALWAYS_SKIPPED included; pass a
 * compiled SkipMatcher when calling often). The DTO is validated first (cached).
 *
 * Not files: client certificates (they go to a trust store) and credentials (secure vault) are not written.
 * The *ToBeRemove lists need no handling here: the deployer removes the files this API owned before and
 * no longer has, and never touches files another API owns.
 */
export function filesOfDto(
  dto: GatewayApiDto,
  skipList: SkipMatcher | Partial<SkipList> = DEFAULT_SKIP,
): ArtifactFile[] {
  const skip = typeof skipList === "function" ? skipList : compileSkipList(skipList);
  // Every file in api/ has <api> at its root, as WSO2 writes it: an artifact stored wrapped in
  // <definitions> (by an older gwsync) is unwrapped here.
  dto = unwrapDto(dto);
  const { api, defaultApi } = validateDto(dto);
  const files: ArtifactFile[] = [];
  const add = (kind: ArtifactKind, name: string, fileName: string, content: string) => {
    if (!skip(kind, name, fileName)) files.push({ kind, fileName, name, content });
  };
  add("api", api.synapseName, apiFileName(api), dto.apiDefinition);
  if (defaultApi !== undefined && dto.defaultAPIDefinition !== undefined) {
    add("api", defaultApi.synapseName, apiFileName(defaultApi), dto.defaultAPIDefinition);
  }
  for (const s of dto.sequenceToBeAdd ?? [])
    add("sequence", s.name, artifactFileName("sequence", s.name), s.content);
  for (const e of dto.endpointEntriesToBeAdd ?? []) {
    add("endpoint", e.name, artifactFileName("endpoint", e.name), e.content);
  }
  for (const l of dto.localEntriesToBeAdd ?? []) {
    add("localEntry", l.name, artifactFileName("localEntry", l.name), l.content);
  }
  return files;
}
