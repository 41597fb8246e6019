import { GwsyncError } from "../../errors.js";
import type { GitObjects, TreeItem } from "../../git/git-objects.js";

const FILE_MODE = "100644";
const TREE_MODE = "040000";

/**
 * The branch head's tree as the Git store keeps it in memory: the root's entries, and each label
 * folder's entries once a save touched it (read with one `cat-file`). A commit writes only the
 * folders it changed and the root (`mktree`). Entries the store did not write (a README of a branch it
 * started on) are kept as they are.
 */
export class HeadTree {
  readonly #objects: GitObjects;
  #root: Map<string, TreeItem>;
  readonly #folders = new Map<string, Map<string, TreeItem>>();

  private constructor(objects: GitObjects, root: Map<string, TreeItem>) {
    this.#objects = objects;
    this.#root = root;
  }

  /** The tree of `commit` (undefined: an empty tree, for an unborn branch). */
  static async load(objects: GitObjects, commit: string | undefined): Promise<HeadTree> {
    const root = new Map<string, TreeItem>();
    if (commit !== undefined) {
      const items = await objects.readTree(`${commit}^{tree}`);
      if (items === undefined) {
        throw new GwsyncError(
          "GWSYNC_STORE_FAILED",
          `commit ${commit} of ${objects.gitDir} has no readable tree`,
        );
      }
      for (const i of items) root.set(i.name, i);
    }
    return new HeadTree(objects, root);
  }

  /** The entries of a folder (empty when none). */
  async #folder(name: string): Promise<Map<string, TreeItem>> {
    const known = this.#folders.get(name);
    if (known !== undefined) return known;
    const entry = this.#root.get(name);
    const items = new Map<string, TreeItem>();
    if (entry !== undefined && entry.type === "tree") {
      for (const i of (await this.#objects.readTree(entry.id)) ?? []) items.set(i.name, i);
    }
    this.#folders.set(name, items);
    return items;
  }

  /** Whether `path` (`<folder>/<file>`) is a file of the head tree. */
  async has(path: string): Promise<boolean> {
    const [folder, file] = split(path);
    return (await this.#folder(folder)).has(file);
  }

  /**
   * Write the tree with these files set (a blob id) or deleted (undefined), without changing this
   * one; `apply()` of the result makes it the head.
   */
  async write(edits: ReadonlyMap<string, string | undefined>): Promise<PendingTree> {
    const byFolder = new Map<string, Map<string, string | undefined>>();
    for (const [path, blob] of edits) {
      const [folder, file] = split(path);
      const m = byFolder.get(folder) ?? new Map<string, string | undefined>();
      m.set(file, blob);
      byFolder.set(folder, m);
    }
    const root = new Map(this.#root);
    const folders = new Map<string, Map<string, TreeItem>>();
    for (const [folder, changes] of byFolder) {
      const next = new Map(await this.#folder(folder));
      for (const [file, blob] of changes) {
        if (blob === undefined) next.delete(file);
        else next.set(file, { mode: FILE_MODE, type: "blob", id: blob, name: file });
      }
      folders.set(folder, next);
      if (next.size === 0) {
        root.delete(folder);
        continue;
      }
      const id = await this.#objects.writeTree([...next.values()]);
      root.set(folder, { mode: TREE_MODE, type: "tree", id, name: folder });
    }
    const id = await this.#objects.writeTree([...root.values()]);
    return {
      id,
      apply: () => {
        this.#root = root;
        for (const [f, items] of folders) this.#folders.set(f, items);
      },
    };
  }
}

export interface PendingTree {
  /** The root tree's id. */
  id: string;
  /** Make it the head tree (once its commit is recorded). */
  apply(): void;
}

function split(path: string): [string, string] {
  const slash = path.indexOf("/");
  if (slash <= 0 || slash === path.length - 1 || path.indexOf("/", slash + 1) >= 0) {
    throw new GwsyncError("GWSYNC_STORE_FAILED", `the Git store keeps files as <label>/<file>, not ${path}`);
  }
  return [path.slice(0, slash), path.slice(slash + 1)];
}
