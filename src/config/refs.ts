import { isSecretKey } from "../security/secrets.js";
import type { LoadContext } from "./load-context.js";
import { isRead } from "./sections.js";
import { getPath, isTable, joinPath, type TomlTable, walkScalars } from "./toml-doc.js";

/**
 * WSO2 placeholders inside string values: $ref{a.b.c} (another key of the same file) and $env{NAME}
 * (an environment variable). $secret{} and $sys{} need WSO2's runtime and are reported. A value that
 * is exactly one placeholder takes the referenced value's type ("$ref{x}" where x = 5 gives 5).
 */
const PLACEHOLDER = /\$(ref|env|secret|sys)\{([^}]*)\}/g;
const WHOLE = /^\$(ref|env|secret|sys)\{([^}]*)\}$/;

/** WSO2's default.json values for the $ref targets its own samples use without defining them. */
export const WSO2_REF_DEFAULTS: Readonly<Record<string, string>> = {
  "super_admin.username": "admin",
  "super_admin.password": "admin",
};

class Unresolved extends Error {}

interface Resolver {
  doc: TomlTable;
  env: NodeJS.ProcessEnv;
  notes: string[];
}

function lookup(kind: string, target: string, r: Resolver, seen: Set<string>): unknown {
  if (kind === "env") {
    const value = r.env[target];
    if (value === undefined)
      throw new Unresolved(`refers to environment variable ${target}, which is not set`);
    return value;
  }
  if (kind !== "ref") {
    throw new Unresolved(
      `uses $${kind}{...}, which needs WSO2's runtime; give the value, $env{NAME}, or a password_file instead`,
    );
  }
  if (seen.has(target)) throw new Unresolved(`has a $ref cycle through ${target}`);
  const value = getPath(r.doc, target.split("."));
  if (value === undefined) {
    const fallback = WSO2_REF_DEFAULTS[target];
    if (fallback === undefined)
      throw new Unresolved(`refers to $ref{${target}}, which is not set in the file`);
    r.notes.push(target);
    return fallback;
  }
  if (isTable(value) || Array.isArray(value))
    throw new Unresolved(`refers to $ref{${target}}, which is not a single value`);
  return typeof value === "string" ? resolveString(value, r, new Set([...seen, target])) : value;
}

function resolveString(value: string, r: Resolver, seen: Set<string>): unknown {
  const whole = WHOLE.exec(value);
  if (whole) return lookup(whole[1]!, whole[2]!.trim(), r, seen);
  return value.replace(PLACEHOLDER, (_m, kind: string, target: string) =>
    String(lookup(kind, target.trim(), r, seen)),
  );
}

/** Resolve every placeholder in place. Unresolvable ones are problems in keys gwsync reads, debug notes elsewhere. */
export function resolveRefs(doc: TomlTable, env: NodeJS.ProcessEnv, ctx: LoadContext): void {
  walkScalars(doc, (value, segments, replace) => {
    if (typeof value !== "string" || !value.includes("$")) return;
    const path = joinPath("", segments);
    const read = isRead(segments);
    const r: Resolver = { doc, env, notes: [] };
    try {
      replace(resolveString(value, r, new Set()));
      for (const target of r.notes) {
        const shown = isSecretKey(target) ? "" : ` "${WSO2_REF_DEFAULTS[target]}"`;
        const message = `${ctx.display(path)}: $ref{${target}} is not set in the file; using WSO2's default${shown}`;
        if (read) ctx.warnings.push(message);
        else ctx.debug.push(message);
      }
    } catch (err) {
      if (!(err instanceof Unresolved)) throw err;
      if (read) ctx.problem(path, err.message);
      else ctx.debug.push(`${path} ${err.message} (key not used by gwsync)`);
    }
  });
}
