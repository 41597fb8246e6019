import { z } from "zod";
import { readXmlRoot } from "../artifacts/xml.js";
import type { GatewayApiDto, NamedContent } from "../artifacts/types.js";
import { GwsyncError } from "../errors.js";
import { zodReason } from "../zod-reason.js";
import { editXml, parseXmlPath, type XmlPath } from "./xml-edit.js";

/**
 * A clone's transformation rules (docs/replication.md, "Transformation rules"), OAM's
 * `<mdc-transform-rule>` in gwsync's terms:
 * - `include`: blocks (OAM's changes-to-include) selecting entities by label, API name and context;
 *   when there are any, an entity no block selects is not replicated. Each block may carry its own
 *   `ignore` and `replace` rules, applied to the entities it selects.
 * - `exclude`: selectors of entities never replicated (checked first).
 * - `ignore`: what to drop from every replicated artifact: an XML path (element, or `.../@attribute`)
 *   into its synapse documents, or the name of an optional GatewayAPIDTO field.
 * - `replace`: regular-expression rewrites, in an attribute a path names or in the whole text of the
 *   documents, with `${name}` standing for the clone's own values (`values`, and `${region}`).
 * Rules are checked when the agreement is created or changed: a bad one is a 400 naming it.
 */

const MAX_RULES = 200;
const MAX_PATTERN = 1000;
const MAX_VALUE = 4096;
/** The documents of a GatewayAPIDTO a replace rule may rewrite. */
export const DOCUMENT_KINDS = ["api", "sequences", "endpoints", "localEntries"] as const;
export type DocumentKind = (typeof DOCUMENT_KINDS)[number];
/** GatewayAPIDTO fields an ignore rule may never drop (the artifact is nothing without them). */
const REQUIRED_FIELDS = new Set(["name", "version", "provider", "tenantDomain", "apiId", "apiDefinition"]);
const FIELD_NAME = /^[A-Za-z][A-Za-z0-9]*$/;
const VALUE_NAME = /^[A-Za-z_][\w.-]*$/;
const REFERENCE = /\$\{([^}]*)\}/g;

const glob = z.string().min(1).max(MAX_PATTERN);
const selectorShape = { label: glob.optional(), api: glob.optional(), context: glob.optional() };
const selector = z
  .strictObject(selectorShape)
  .refine((s) => s.label !== undefined || s.api !== undefined || s.context !== undefined, {
    message: "names no label, api or context",
  });
const replaceRule = z
  .strictObject({
    /** XML path ending in an attribute (`/endpoint/**\/address/@uri`); without it the whole text is searched. */
    path: z.string().min(1).max(MAX_PATTERN).optional(),
    /** Documents searched (default all). */
    in: z.array(z.enum(DOCUMENT_KINDS)).min(1).optional(),
    /** The regular expression (JavaScript syntax). */
    value: z.string().min(1).max(MAX_PATTERN),
    /** Flags; "g" (every match) by default. */
    flags: z
      .string()
      .regex(/^[gimsu]*$/)
      .optional(),
    /** Replacement of each match: `$1` for a group, `${name}` for the clone's own values. */
    with: z.string().max(MAX_VALUE).optional(),
    /** OAM's replace-with n=: the new text of each numbered group, the rest of the match kept. */
    groups: z.record(z.string().regex(/^[1-9][0-9]?$/), z.string().max(MAX_VALUE)).optional(),
  })
  .refine((r) => (r.with === undefined) !== (r.groups === undefined), {
    message: "needs exactly one of with or groups",
  });
const ignoreRule = z.string().min(1).max(MAX_PATTERN);
const includeBlock = z
  .strictObject({
    ...selectorShape,
    ignore: z.array(ignoreRule).max(MAX_RULES).optional(),
    replace: z.array(replaceRule).max(MAX_RULES).optional(),
  })
  .refine((s) => s.label !== undefined || s.api !== undefined || s.context !== undefined, {
    message: "names no label, api or context",
  });

export const transformRulesSchema = z.strictObject({
  values: z.record(z.string().regex(VALUE_NAME), z.string().max(MAX_VALUE)).optional(),
  include: z.array(includeBlock).max(MAX_RULES).optional(),
  exclude: z.array(selector).max(MAX_RULES).optional(),
  ignore: z.array(ignoreRule).max(MAX_RULES).optional(),
  replace: z.array(replaceRule).max(MAX_RULES).optional(),
});
export type TransformRules = z.infer<typeof transformRulesSchema>;
type ReplaceRule = z.infer<typeof replaceRule>;
type Selector = z.infer<typeof selector>;

/** What a rule looks at to select an entity. */
export interface EntityFacts {
  label: string;
  dto: GatewayApiDto;
}

interface CompiledSelector {
  label?: RegExp;
  api?: RegExp;
  context?: RegExp;
}

interface CompiledReplace {
  where: string;
  path?: XmlPath;
  in: ReadonlySet<DocumentKind>;
  /** Rewrites a text; undefined when nothing matched. */
  apply: (text: string) => string | undefined;
}

interface CompiledEdits {
  removeElements: XmlPath[];
  removeAttributes: XmlPath[];
  fields: string[];
  replace: CompiledReplace[];
}

interface CompiledBlock extends CompiledSelector, CompiledEdits {}

/** The decision for one entity: not replicated (and why), or replicated after `transform`. */
export type RuleDecision = { replicate: false; why: string } | { replicate: true };

export class CompiledRules {
  readonly #exclude: CompiledSelector[];
  readonly #include: CompiledBlock[];
  readonly #all: CompiledEdits;
  readonly empty: boolean;

  constructor(exclude: CompiledSelector[], include: CompiledBlock[], all: CompiledEdits) {
    this.#exclude = exclude;
    this.#include = include;
    this.#all = all;
    this.empty =
      exclude.length === 0 &&
      include.length === 0 &&
      all.removeElements.length + all.removeAttributes.length + all.fields.length + all.replace.length === 0;
  }

  decide(e: EntityFacts): RuleDecision {
    const i = this.#exclude.findIndex((s) => selects(s, e));
    if (i >= 0) return { replicate: false, why: `excluded by rules.exclude[${i}]` };
    if (this.#include.length > 0 && !this.#include.some((b) => selects(b, e))) {
      return { replicate: false, why: "selected by no rules.include block" };
    }
    return { replicate: true };
  }

  /**
   * The artifact JSON the clone stores for an entity `decide` let through: the master's exact text when
   * no rule changes anything (so its sha256 stays the master's), else the rewritten GatewayAPIDTO.
   */
  transform(e: EntityFacts, artifactJson: string): { artifact: string; changes: number } {
    const edits = [this.#all, ...this.#include.filter((b) => selects(b, e))];
    let changes = 0;
    const dto: GatewayApiDto = { ...e.dto };
    for (const ed of edits) {
      for (const f of ed.fields) {
        if (f in dto) {
          delete dto[f];
          changes++;
        }
      }
      const doc = (kind: DocumentKind, text: string): string => {
        let out = text;
        const xml = editXml(out, {
          removeElements: ed.removeElements,
          removeAttributes: ed.removeAttributes,
          rewriteAttributes: ed.replace
            .filter((r) => r.path !== undefined && r.in.has(kind))
            .map((r) => ({ path: r.path!, rewrite: r.apply })),
        });
        out = xml.text;
        changes += xml.changes;
        for (const r of ed.replace) {
          if (r.path !== undefined || !r.in.has(kind)) continue;
          const next = r.apply(out);
          if (next !== undefined && next !== out) {
            out = next;
            changes++;
          }
        }
        return out;
      };
      dto.apiDefinition = doc("api", dto.apiDefinition);
      if (typeof dto.defaultAPIDefinition === "string")
        dto.defaultAPIDefinition = doc("api", dto.defaultAPIDefinition);
      const list = (kind: DocumentKind, items: NamedContent[] | undefined) =>
        items?.map((it) => ({ ...it, content: doc(kind, it.content) }));
      if (dto.sequenceToBeAdd) dto.sequenceToBeAdd = list("sequences", dto.sequenceToBeAdd)!;
      if (dto.endpointEntriesToBeAdd)
        dto.endpointEntriesToBeAdd = list("endpoints", dto.endpointEntriesToBeAdd)!;
      if (dto.localEntriesToBeAdd) dto.localEntriesToBeAdd = list("localEntries", dto.localEntriesToBeAdd)!;
    }
    return changes === 0 ? { artifact: artifactJson, changes } : { artifact: JSON.stringify(dto), changes };
  }
}

function selects(s: CompiledSelector, e: EntityFacts): boolean {
  if (s.label && !s.label.test(e.label)) return false;
  if (s.api && !s.api.test(e.dto.name) && !s.api.test(`${e.dto.name}:${e.dto.version}`)) return false;
  if (s.context && !s.context.test(contextOf(e.dto))) return false;
  return true;
}

function contextOf(dto: GatewayApiDto): string {
  if (typeof dto.apiContext === "string" && dto.apiContext !== "") return dto.apiContext;
  try {
    return readXmlRoot(dto.apiDefinition, "API").attributes.context ?? "";
  } catch {
    return "";
  }
}

/** `*` any run of characters, `?` one; everything else literal; the whole text must match. */
function globToRegExp(g: string): RegExp {
  const body = g
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${body}$`, "s");
}

function ruleError(where: string, why: string): GwsyncError {
  return new GwsyncError("GWSYNC_HTTP_BAD_REQUEST", `rules.${where}: ${why}`, { details: { rule: where } });
}

function compileSelector(s: Selector): CompiledSelector {
  return {
    ...(s.label === undefined ? {} : { label: globToRegExp(s.label) }),
    ...(s.api === undefined ? {} : { api: globToRegExp(s.api) }),
    ...(s.context === undefined ? {} : { context: globToRegExp(s.context) }),
  };
}

/** `${name}` from the clone's values (and `${region}`); `$` in a value is literal in the replacement. */
function resolveValues(
  text: string,
  where: string,
  values: Record<string, string>,
  forReplace: boolean,
): string {
  return text.replace(REFERENCE, (_m, name: string) => {
    const v = values[name];
    if (v === undefined) {
      const known = Object.keys(values).sort().join(", ");
      throw ruleError(where, `\${${name}} is not one of the clone's values (${known})`);
    }
    return forReplace ? v.replaceAll("$", "$$$$") : v;
  });
}

function compileReplace(r: ReplaceRule, where: string, values: Record<string, string>): CompiledReplace {
  let re: RegExp;
  const flags = r.flags ?? "g";
  try {
    re = new RegExp(r.value, r.groups === undefined ? flags : `${flags.replace("d", "")}d`);
  } catch (err) {
    throw ruleError(`${where}.value`, `invalid regular expression: ${(err as Error).message}`);
  }
  const groupCount = (new RegExp(`${r.value}|`).exec("")?.length ?? 1) - 1;
  let path: XmlPath | undefined;
  if (r.path !== undefined) {
    try {
      path = parseXmlPath(r.path);
    } catch (err) {
      throw ruleError(`${where}.path`, (err as Error).message);
    }
    if (path.attribute === undefined)
      throw ruleError(`${where}.path`, "must end with /@attribute (the value to rewrite)");
  }
  const kinds = new Set<DocumentKind>(r.in ?? DOCUMENT_KINDS);
  let apply: (text: string) => string | undefined;
  if (r.with !== undefined) {
    for (const m of r.with.matchAll(/\$([1-9][0-9]?)/g)) {
      if (Number(m[1]) > groupCount)
        throw ruleError(`${where}.with`, `$${m[1]} but the expression has ${groupCount} group(s)`);
    }
    const replacement = resolveValues(r.with, `${where}.with`, values, true);
    apply = (text) => {
      re.lastIndex = 0;
      if (!re.test(text)) return undefined;
      re.lastIndex = 0;
      return text.replace(re, replacement);
    };
  } else {
    const groups = new Map<number, string>();
    for (const [n, v] of Object.entries(r.groups ?? {})) {
      if (Number(n) > groupCount)
        throw ruleError(`${where}.groups`, `group ${n} but the expression has ${groupCount} group(s)`);
      groups.set(Number(n), resolveValues(v, `${where}.groups.${n}`, values, false));
    }
    const global = re.flags.includes("g");
    apply = (text) => {
      re.lastIndex = 0;
      let out = "";
      let at = 0;
      let any = false;
      for (let m = re.exec(text); m !== null; m = global ? re.exec(text) : null) {
        if (m[0] === "") {
          re.lastIndex++;
          continue;
        }
        any = true;
        const indices = (m as RegExpExecArray & { indices: [number, number][] }).indices;
        // Splice each replaced group inside the match, the rest of the match as it was.
        const spans = [...groups.entries()]
          .map(([n, v]) => ({ span: indices[n], v }))
          .filter((g): g is { span: [number, number]; v: string } => g.span !== undefined)
          .sort((a, b) => a.span[0] - b.span[0]);
        let cursor = m.index;
        out += text.slice(at, m.index);
        for (const { span, v } of spans) {
          if (span[0] < cursor) continue; // nested groups: the outer one wins
          out += text.slice(cursor, span[0]) + v;
          cursor = span[1];
        }
        out += text.slice(cursor, m.index + m[0].length);
        at = m.index + m[0].length;
      }
      return any ? out + text.slice(at) : undefined;
    };
  }
  return { where, ...(path === undefined ? {} : { path }), in: kinds, apply };
}

function compileEdits(
  ignore: readonly string[] | undefined,
  replace: readonly ReplaceRule[] | undefined,
  where: string,
  values: Record<string, string>,
): CompiledEdits {
  const edits: CompiledEdits = { removeElements: [], removeAttributes: [], fields: [], replace: [] };
  (ignore ?? []).forEach((rule, i) => {
    const at = `${where}ignore[${i}]`;
    if (rule.startsWith("/")) {
      let p: XmlPath;
      try {
        p = parseXmlPath(rule);
      } catch (err) {
        throw ruleError(at, (err as Error).message);
      }
      (p.attribute === undefined ? edits.removeElements : edits.removeAttributes).push(p);
    } else {
      if (!FIELD_NAME.test(rule)) {
        throw ruleError(
          at,
          `${JSON.stringify(rule)} is neither an XML path (/...) nor a GatewayAPIDTO field name`,
        );
      }
      if (REQUIRED_FIELDS.has(rule)) throw ruleError(at, `the GatewayAPIDTO field ${rule} cannot be ignored`);
      edits.fields.push(rule);
    }
  });
  (replace ?? []).forEach((r, i) => {
    edits.replace.push(compileReplace(r, `${where}replace[${i}]`, values));
  });
  return edits;
}

/**
 * Check and compile rules (REST body, TOML or OAM XML already read into this shape). Throws a 400
 * naming the first bad rule (`rules.include[1].replace[0].value: invalid regular expression: ...`).
 */
export function compileRules(input: unknown, cloneRegion: string): CompiledRules {
  const r = transformRulesSchema.safeParse(input ?? {});
  if (!r.success) throw new GwsyncError("GWSYNC_HTTP_BAD_REQUEST", `rules.${zodReason(r.error, "")}`);
  const rules = r.data;
  const values = { region: cloneRegion, ...rules.values };
  const exclude = (rules.exclude ?? []).map(compileSelector);
  const include = (rules.include ?? []).map((b, i) => ({
    ...compileSelector(b),
    ...compileEdits(b.ignore, b.replace, `include[${i}].`, values),
  }));
  const all = compileEdits(rules.ignore, rules.replace, "", values);
  return new CompiledRules(exclude, include, all);
}

/** Parse rules for storing them: the checked input form (what GET shows back). */
export function checkRules(input: unknown, cloneRegion: string): TransformRules {
  compileRules(input, cloneRegion);
  return transformRulesSchema.parse(input ?? {});
}
