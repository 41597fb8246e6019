import type { ConfigProblem } from "./types.js";

interface Origin {
  /** Environment variable the value came from. */
  env?: string;
  /** The key as the user wrote it, when gwsync reads it under another name (an alias). */
  writtenAs?: string;
}

/**
 * What one load collects: problems (fatal), warnings, debug notes, and where each overridden value
 * came from, so a problem names the key the user actually wrote or the variable they set.
 */
export class LoadContext {
  /** Suspects (probable typos, unreadable secret files while checking) are problems, not warnings. */
  readonly strict: boolean;
  /** The file is being checked (`gwsync config check`), not run: see loadConfig's `checkOnly`. */
  readonly checkOnly: boolean;
  readonly problems: ConfigProblem[] = [];
  readonly warnings: string[] = [];
  readonly debug: string[] = [];
  private readonly origins = new Map<string, Origin>();

  constructor(options: { strict?: boolean; checkOnly?: boolean } = {}) {
    this.strict = options.strict === true;
    this.checkOnly = options.checkOnly === true;
  }

  /**
   * Something that is probably a mistake but may be meant (a key near a known one that gwsync would
   * ignore): a warning, or with --strict a problem. `reason` reads after the key, as for problem().
   */
  suspect(path: string, reason: string): void {
    if (this.strict) this.problem(path, reason);
    else this.warnings.push(`${this.display(path)} ${reason}`);
  }

  setOrigin(path: string, origin: Origin): void {
    this.origins.set(path, origin);
  }

  /** The origin of a key or of the nearest enclosing key that has one (list items, sub-keys). */
  originOf(path: string): Origin | undefined {
    let p = path;
    for (;;) {
      const o = this.origins.get(p);
      if (o !== undefined) return o;
      const cut = Math.max(p.lastIndexOf("."), p.lastIndexOf("["));
      if (cut <= 0) return undefined;
      p = p.slice(0, cut);
    }
  }

  display(path: string): string {
    const origin = this.originOf(path);
    if (origin?.env !== undefined) return `${path} (from ${origin.env})`;
    if (origin?.writtenAs !== undefined) return origin.writtenAs;
    return path;
  }

  /** Record a problem; `reason` reads after the key: "must be ...". */
  problem(path: string, reason: string): void {
    // One problem per key: a value that already failed (say, an unresolved $ref) is not judged again.
    if (this.problems.some((p) => p.key === path)) return;
    const env = this.originOf(path)?.env;
    const message = `${this.display(path)} ${reason}`;
    this.problems.push(env === undefined ? { key: path, message } : { key: path, message, env });
  }
}
