import path from "node:path";
import { z } from "zod";
import { ensureDir, type JsonFileRead, readJsonFile, writeStateFile } from "./state-io.js";

/** Bumped when a state file's shape changes incompatibly; an older file is then moved aside. */
export const STATE_FILE_VERSION = 1;

/**
 * One JSON state file `{version, items}` in the runtime folder, written whole and atomically. Stores
 * mark themselves dirty on change and only dirty ones are written on flush().
 */
export class StateFile<T extends z.ZodType> {
  readonly file: string | undefined;
  readonly #schema: z.ZodType;
  #dirty = false;

  constructor(dir: string | undefined, name: string, itemSchema: T) {
    this.file = dir === undefined ? undefined : path.join(dir, name);
    this.#schema = z.object({ version: z.literal(STATE_FILE_VERSION), items: z.array(itemSchema) });
  }

  load(): JsonFileRead<z.output<T>[]> {
    if (this.file === undefined) return { status: "missing" };
    const read = readJsonFile(this.file, this.#schema) as JsonFileRead<{ items: z.output<T>[] }>;
    return read.status === "ok" ? { status: "ok", value: read.value.items } : read;
  }

  markDirty(): void {
    this.#dirty = true;
  }

  isDirty(): boolean {
    return this.#dirty;
  }

  /** Writes the items when something changed since the last write. */
  save(items: () => z.input<T>[]): void {
    if (!this.#dirty || this.file === undefined) return;
    ensureDir(path.dirname(this.file));
    writeStateFile(this.file, JSON.stringify({ version: STATE_FILE_VERSION, items: items() }));
    this.#dirty = false;
  }
}
