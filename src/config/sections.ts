import type { LoadContext } from "./load-context.js";
import { ANCESTOR_TABLES, knownKeys, READ_SECTIONS, type ReadSectionPath } from "./schema.js";
import { nearest } from "./suggest.js";
import { getPath, isTable, joinPath, type TomlTable } from "./toml-doc.js";

const ALIAS_SECTION = "apim.sync_runtime_artifacts.gateway";
/** WSO2's 3.2.0 docs misspell the key; WSO2 itself ignores the misspelt one, gwsync reads it. */
const ALIASES: Readonly<Record<string, string>> = { deployment_retry_duartion: "deployment_retry_duration" };

function readSection(path: string): path is ReadSectionPath {
  return Object.hasOwn(READ_SECTIONS, path);
}

/** Whether a key (path segments) is one gwsync reads: a known key of a read section, or inside one. */
export function isRead(segments: readonly (string | number)[]): boolean {
  for (let i = segments.length - 1; i >= 1; i--) {
    const prefix = segments.slice(0, i).join(".");
    if (segments.slice(0, i).some((s) => typeof s === "number")) continue;
    if (readSection(prefix)) return knownKeys(prefix).includes(String(segments[i]));
  }
  return false;
}

/**
 * Rename alias keys to their canonical name, with a warning. Run before validation so the value is
 * checked and a problem still names the key as written.
 */
export function applyAliases(doc: TomlTable, ctx: LoadContext): void {
  const section = getPath(doc, ALIAS_SECTION.split("."));
  if (!isTable(section)) return;
  for (const [alias, canonical] of Object.entries(ALIASES)) {
    if (!Object.hasOwn(section, alias)) continue;
    const aliasPath = `${ALIAS_SECTION}.${alias}`;
    const canonicalPath = `${ALIAS_SECTION}.${canonical}`;
    if (Object.hasOwn(section, canonical)) {
      ctx.warnings.push(
        `${aliasPath} (WSO2 docs' misspelling) is ignored because ${canonicalPath} is also set; delete the misspelt key`,
      );
    } else {
      section[canonical] = section[alias];
      ctx.setOrigin(canonicalPath, { writtenAs: aliasPath });
      ctx.warnings.push(
        `${aliasPath} is the WSO2 docs' misspelling of ${canonical} (WSO2 itself ignores it); gwsync reads it as ${canonical} = ${JSON.stringify(section[alias])}; rename the key`,
      );
    }
    delete section[alias];
  }
}

/** Sections that must be tables to be read; a scalar there is a problem, not something to skip. */
export function checkStructure(doc: TomlTable, ctx: LoadContext): boolean {
  let ok = true;
  for (const path of [...ANCESTOR_TABLES, ...Object.keys(READ_SECTIONS)]) {
    if (path === "") continue;
    const value = getPath(doc, path.split("."));
    if (value !== undefined && !isTable(value)) {
      ctx.problem(path, "must be a table ([section]), not a single value or a list");
      ok = false;
    }
  }
  return ok;
}

/** The sections (read or leading to one) directly inside `parent`, by their last segment. */
function childSections(parent: string): string[] {
  const depth = parent === "" ? 1 : parent.split(".").length + 1;
  return [...ANCESTOR_TABLES, ...Object.keys(READ_SECTIONS)]
    .filter((p) => p !== "" && p.split(".").length === depth && (parent === "" || p.startsWith(`${parent}.`)))
    .map((p) => p.split(".").at(-1)!);
}

/**
 * List (at debug level) every key and section of the document that gwsync does not read. One that is
 * a typo away from one gwsync reads (`gateway_label`, `[apim.event_hubs]`) is a suspect instead: a
 * warning, or an error with --strict. The known names come from the schemas (READ_SECTIONS).
 */
export function listIgnored(doc: TomlTable, ctx: LoadContext, prefix = ""): void {
  for (const key of Object.keys(doc)) {
    const path = joinPath(prefix, [key]);
    const value = doc[key];
    if (readSection(path) || ANCESTOR_TABLES.has(path)) {
      if (isTable(value)) listIgnored(value, ctx, path);
      continue;
    }
    const table = isTable(value) || (Array.isArray(value) && value.every(isTable));
    const sectionNear = table ? nearest(key, childSections(prefix)) : undefined;
    if (sectionNear !== undefined) {
      const near = joinPath(prefix, [sectionNear]);
      ctx.suspect(path, `is not a section gwsync reads (did you mean [${near}]?); it is ignored`);
      continue;
    }
    if (readSection(prefix)) {
      if (READ_SECTIONS[prefix].own || knownKeys(prefix).includes(key)) continue;
      const near = nearest(key, knownKeys(prefix));
      if (near !== undefined) {
        ctx.suspect(
          path,
          `is not a key gwsync reads (did you mean ${joinPath(prefix, [near])}?); it is ignored`,
        );
      } else ctx.debug.push(`ignored WSO2 key ${path} (gwsync does not use it)`);
      continue;
    }
    ctx.debug.push(`ignored ${table ? "section" : "key"} ${path} (gwsync does not read it)`);
  }
}
