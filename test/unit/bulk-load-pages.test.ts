/**
 * The startup load reads a label page by page. A page arrives, then its artifacts are validated: the
 * next page is asked for in between, so the control plane builds it while this one is validated and
 * applied (issue 19, B7: asked only after the validation, a gateway idled ~70 ms a page).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { sha256Hex } from "../../src/artifacts/digest.js";
import type { ArtifactRetriever, RetrievedArtifact } from "../../src/gateway/retriever.js";
import { apiDto } from "../harness/api-dto.js";
import { memoryReconciler } from "../harness/memory-gateway.js";

const LABEL = "Default";

function artifact(name: string): RetrievedArtifact {
  const dto = apiDto(name);
  return { apiId: dto.apiId, label: LABEL, dto, revision: 1, sha256: sha256Hex(JSON.stringify(dto)), seq: 1 };
}

describe("startup load: pages", () => {
  test("the next page is asked for before this page's artifacts are validated", async () => {
    const all = ["A", "B", "C", "D", "E"].map(artifact);
    const steps: string[] = [];
    const pageAfter = (after: string | undefined) => {
      const rest = all.filter((a) => after === undefined || a.apiId > after);
      return { items: rest.slice(0, 2), next: rest.length > 2 ? rest[1]!.apiId : undefined };
    };
    const retriever: ArtifactRetriever = {
      retrieveArtifact: async () => undefined,
      retrieveAllArtifacts: async () => ({ items: all, head: 9 }),
      retrieveArtifactPage: async () => {
        throw new Error("the two-step read is used when the retriever has it");
      },
      openArtifactPage: async (_label, after) => {
        steps.push(`open ${after ?? "-"}`);
        const { items, next } = pageAfter(after);
        return {
          ...(next === undefined ? {} : { next }),
          read: () => {
            steps.push(`read ${after ?? "-"}`);
            return { items, head: 9, rejected: [] };
          },
        };
      },
      changesSince: async () => ({ head: 9, changes: [] }),
    };
    const { reconciler } = memoryReconciler({ labels: [LABEL], retriever, retries: 0 });
    const loaded = await reconciler.bulkLoad();
    assert.equal(loaded.deployed, 5);
    assert.equal(loaded.head, 9);
    assert.deepEqual(steps, ["open -", "open id-B", "read -", "open id-D", "read id-B", "read id-D"]);
  });
});
