import type { Publisher } from "../../src/publisher/publisher.js";
import { synapseApi } from "./cluster.js";

export interface MasterChangesOptions {
  /** The master region's publisher. */
  publisher: Publisher;
  label: string;
  /** Names of the APIs published before the feed starts: `${prefix}0` … `${prefix}${bootstrapApis - 1}`. */
  prefix: string;
  bootstrapApis: number;
  /** Name prefix of the APIs the feed creates (`${newPrefix}${k}`). */
  newPrefix: string;
  /** Artifact size in bytes. */
  size: number;
}

/**
 * A master region's stream of changes for the replication fault tests, round-robin over the bootstrap
 * APIs: every third change publishes a new API, every tenth removes a bootstrap API that is still
 * published (else updates it), the rest publish a new revision of a bootstrap API. `make(n)` makes the
 * next n changes (the numbering continues across calls); `made` counts them.
 */
export function masterChanges(o: MasterChangesOptions): {
  make: (n: number) => Promise<void>;
  readonly made: number;
} {
  let edits = 0;
  const make = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const k = edits++;
      if (k % 10 === 9) {
        const victim = await o.publisher.store.findApiId(`${o.prefix}${k % o.bootstrapApis}`, "1.0.0");
        const row = victim === undefined ? undefined : await o.publisher.store.getArtifact(victim, o.label);
        if (victim !== undefined && row?.instruction === "Publish") {
          await o.publisher.removeApi(victim, [o.label]);
          continue;
        }
      }
      const name = k % 3 === 0 ? `${o.newPrefix}${k}` : `${o.prefix}${k % o.bootstrapApis}`;
      await o.publisher.deployApi(synapseApi({ name, revision: k + 2, size: o.size }), [o.label]);
    }
  };
  return {
    make,
    get made() {
      return edits;
    },
  };
}
