import type { z } from "zod";
import type { ApplyOutcome } from "./key-managers.js";
import { StateFile } from "./state-file.js";
import type { JsonFileRead } from "./state-io.js";

/** A record that remembers the inner `timeStamp` of the event that last wrote it. */
export interface Stamped {
  timeStamp: number;
}

/**
 * A Map of records persisted to one state file, where an event older than the record it would change
 * is ignored: redelivery can bring back an old UPDATE after a newer one.
 */
export class KeyedRecords<S extends z.ZodType<Stamped>> {
  readonly #byKey = new Map<string, z.output<S>>();
  readonly #file: StateFile<S>;
  readonly #keyOf: (record: z.output<S>) => string;

  constructor(dir: string | undefined, fileName: string, schema: S, keyOf: (record: z.output<S>) => string) {
    this.#file = new StateFile(dir, fileName, schema);
    this.#keyOf = keyOf;
  }

  load(): JsonFileRead<z.output<S>[]> {
    const read = this.#file.load();
    if (read.status === "ok") for (const record of read.value) this.#byKey.set(this.#keyOf(record), record);
    return read;
  }

  upsert(record: z.output<S>): ApplyOutcome {
    const key = this.#keyOf(record);
    const existing = this.#byKey.get(key);
    if (existing !== undefined && existing.timeStamp > record.timeStamp) return "ignored";
    this.#byKey.set(key, record);
    this.#file.markDirty();
    return "applied";
  }

  remove(key: string, timeStamp: number): ApplyOutcome {
    const existing = this.#byKey.get(key);
    if (existing === undefined || existing.timeStamp > timeStamp) return "ignored";
    this.#byKey.delete(key);
    this.#file.markDirty();
    return "applied";
  }

  has(key: string): boolean {
    return this.#byKey.has(key);
  }

  get(key: string): z.output<S> | undefined {
    return this.#byKey.get(key);
  }

  values(): z.output<S>[] {
    return [...this.#byKey.values()];
  }

  size(): number {
    return this.#byKey.size;
  }

  flush(): void {
    this.#file.save(() => this.values() as z.input<S>[]);
  }
}
