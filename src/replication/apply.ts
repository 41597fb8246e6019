import { parseGatewayApiDto, validateDto } from "../artifacts/gateway-api-dto.js";
import type { GatewayApiDto } from "../artifacts/types.js";
import { buildGatewayEvent, inlineArtifactOption } from "../publisher/events-out.js";
import type { Publisher } from "../publisher/publisher.js";
import { apiFiles } from "../store/api-files.js";
import type { GatewayInstruction } from "../store/types.js";

/** What applying one master change did on the clone. */
export type ApplyOutcome = "applied" | "unchanged" | "not-here";

export interface MasterChange {
  /** The master's region: the origin the clone's changelog records. */
  masterRegion: string;
  /** The master's changelog sequence of this change (the dedup key with the region and label). */
  seq: number;
  apiId: string;
  label: string;
  instruction: GatewayInstruction;
  /** The artifact JSON to store (a Publish), after the clone's transformation rules. */
  artifact?: string;
}

/**
 * Store one change of the master in the clone's store through the clone's own publisher: the artifact,
 * a changelog row (origin = master region and sequence) and the DEPLOY/REMOVE event for the clone's
 * own gateways commit in one transaction, and the outbox announces it. A change whose (master region,
 * seq, label) the clone already stored is a no-op, so a page applied twice (a puller killed after the
 * commit, before it recorded its position) duplicates nothing.
 */
export async function applyMasterChange(publisher: Publisher, c: MasterChange): Promise<ApplyOutcome> {
  const store = publisher.store;
  let dto: GatewayApiDto;
  let artifactJson: string;
  if (c.instruction === "Publish") {
    if (c.artifact === undefined) throw new Error(`change ${c.seq} of API ${c.apiId} carries no artifact`);
    dto = parseGatewayApiDto(c.artifact);
    validateDto(dto);
    if (dto.apiId !== c.apiId) {
      throw new Error(`the artifact of change ${c.seq} is API ${dto.apiId}, the change names ${c.apiId}`);
    }
    artifactJson = c.artifact;
  } else {
    // A Remove keeps the clone's own last artifact (its files are what its gateways delete).
    const held = await store.getArtifact(c.apiId, c.label);
    if (held === undefined) return "not-here";
    if (held.instruction === "Remove") return "unchanged";
    dto = JSON.parse(held.artifactJson) as GatewayApiDto;
    artifactJson = held.artifactJson;
  }
  const region = publisher.config.gwsync.region;
  const action = c.instruction === "Publish" ? "deploy" : "remove";
  const result = await store.saveArtifact(
    {
      dto,
      labels: [c.label],
      instruction: c.instruction,
      artifactJson,
      origin: { region: c.masterRegion, seq: c.seq },
      ...(c.instruction === "Publish" ? { files: apiFiles(dto) } : {}),
    },
    (r) => [
      buildGatewayEvent({
        action,
        dto,
        labels: r.labels,
        result: r,
        region,
        originRegion: c.masterRegion,
        originSeq: c.seq,
        inlineArtifact: inlineArtifactOption(publisher.config),
        signer: publisher.signer,
      }),
    ],
  );
  if (!result.changed) return "unchanged";
  publisher.log.debug(
    { apiId: c.apiId, label: c.label, masterSeq: c.seq, revision: result.revision, seq: result.seq, action },
    "replicated change committed",
  );
  publisher.wakeOutbox();
  return "applied";
}
