import { sha256Hex } from "../../src/artifacts/digest.js";
import type { ArtifactRetriever, RetrievedArtifact } from "../../src/gateway/retriever.js";
import { apiDto } from "./api-dto.js";

/** An artifact of API `name` at `revision` on `label`, as a control plane's data API would answer it. */
export function fakeArtifact(name: string, revision: number, label: string): RetrievedArtifact {
  const dto = apiDto(name, { body: `<!-- r${revision} -->` });
  return {
    apiId: dto.apiId,
    label,
    dto,
    revision,
    sha256: sha256Hex(JSON.stringify(dto)),
    seq: revision,
  };
}

/** A control plane without HTTP: `published` answers fetches; `fail` makes the next fetches throw it. */
export function fakeControlPlane() {
  const published = new Map<string, RetrievedArtifact>();
  const state = { fetches: 0, fail: undefined as Error | undefined };
  const retriever: ArtifactRetriever = {
    retrieveArtifact: async (apiId) => {
      state.fetches++;
      if (state.fail) throw state.fail;
      return published.get(apiId);
    },
    retrieveAllArtifacts: async () => ({ items: [...published.values()], head: 0 }),
    changesSince: async () => ({ head: 0, changes: [] }),
  };
  return { published, state, retriever };
}
