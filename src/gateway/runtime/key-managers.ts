import { z } from "zod";
import type { InboundKeyManager } from "../../events/key-manager.js";
import { KEY_MANAGER_EVENT_TYPE } from "../../events/key-manager.js";
import { maskSecrets } from "../../security/secrets.js";
import { StateFile } from "./state-file.js";
import type { JsonFileRead } from "./state-io.js";

export const KEY_MANAGERS_FILE = "key-managers.json";
/** What GET /api/v1/key-managers shows for a credential. */
const SNAPSHOT_MASK = "****";

export type ApplyOutcome = "applied" | "ignored";

const keyManagerRecordSchema = z.object({
  organization: z.string(),
  name: z.string(),
  type: z.string(),
  enabled: z.boolean(),
  tokenType: z.string().optional(),
  config: z.record(z.string(), z.unknown()).nullable(),
  updatedAt: z.number(),
});
export type KeyManagerRecord = z.output<typeof keyManagerRecordSchema>;

/** Key managers of each organization (tenant), as the keyManager stream adds, updates and deletes them. */
export class KeyManagerStore {
  readonly #byKey = new Map<string, KeyManagerRecord>();
  readonly #file: StateFile<typeof keyManagerRecordSchema>;
  readonly #now: () => number;

  constructor(options: { dir?: string; now?: () => number } = {}) {
    this.#file = new StateFile(options.dir, KEY_MANAGERS_FILE, keyManagerRecordSchema);
    this.#now = options.now ?? Date.now;
  }

  load(): JsonFileRead<KeyManagerRecord[]> {
    const read = this.#file.load();
    if (read.status === "ok") for (const record of read.value) this.#byKey.set(keyOf(record), record);
    return read;
  }

  apply(event: InboundKeyManager): ApplyOutcome {
    // WSO2 sends only key_manager_configuration today; another event_type is not a configuration.
    if (event.eventType !== KEY_MANAGER_EVENT_TYPE) return "ignored";
    const key = keyOf(event);
    if (event.action === "delete") {
      if (!this.#byKey.delete(key)) return "ignored";
    } else {
      const record: KeyManagerRecord = {
        organization: event.organization,
        name: event.name,
        type: event.type,
        enabled: event.enabled,
        config: event.config,
        updatedAt: this.#now(),
      };
      if (event.tokenType !== undefined) record.tokenType = event.tokenType;
      this.#byKey.set(key, record);
    }
    this.#file.markDirty();
    return "applied";
  }

  /** Whether applying the event would add a key manager this store does not hold yet. */
  wouldAdd(event: InboundKeyManager): boolean {
    return event.eventType === KEY_MANAGER_EVENT_TYPE && event.action !== "delete" && !this.#byKey.has(keyOf(event));
  }

  get(organization: string, name: string): KeyManagerRecord | undefined {
    return this.#byKey.get(keyOf({ organization, name }));
  }

  list(organization?: string): KeyManagerRecord[] {
    const all = [...this.#byKey.values()];
    return organization === undefined ? all : all.filter((r) => r.organization === organization);
  }

  /** For the HTTP API: credential fields of each configuration masked (as four stars, as it always was). */
  snapshot(organization?: string): KeyManagerRecord[] {
    return this.list(organization).map((r) => ({
      ...r,
      config: r.config === null ? null : (maskSecrets(r.config, { mask: SNAPSHOT_MASK }) as Record<string, unknown>),
    }));
  }

  size(): number {
    return this.#byKey.size;
  }

  flush(): void {
    this.#file.save(() => this.list());
  }
}

function keyOf(r: { organization: string; name: string }): string {
  return `${r.organization}\u0000${r.name}`;
}
