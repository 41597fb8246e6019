import { readXmlElement, type XmlElement } from "../artifacts/xml.js";
import { GwsyncError } from "../errors.js";
import type { TransformRules } from "./rules.js";

/**
 * Reads OAM's `<mdc-transform-rule>` file shape into gwsync's rules (docs/replication.md,
 * "Transformation rules"), where it maps:
 *
 * ```xml
 * <mdc-transform-rule>
 *   <value name="orders-host">orders.us.internal</value>                       (gwsync: the clone's values)
 *   <changes-to-include entity-path="/api/Orders*">                            (/label/G, /api/G, /context/G, /)
 *     <ignore attribute-match="/api/resource/inSequence/log"/>
 *     <replace attribute-match="/endpoint/http/@uri-template" value-match="https://(.*)\.eu\.internal">
 *       <replace-with n="1">${orders-host}</replace-with>
 *     </replace>
 *   </changes-to-include>
 *   <changes-to-exclude entity-path="/api/Internal*"/>                         (gwsync addition)
 * </mdc-transform-rule>
 * ```
 *
 * OAM's entity paths name its own configuration tree (`/policy`, `/config/NGAMConfiguration/...`):
 * gwsync's entities are APIs on labels, so its paths are `/label/<glob>`, `/api/<glob>` (name or
 * name:version) and `/context/<glob>` (the context without its leading slash). A `replace` without
 * `replace-with n=` children takes its replacement from a `with` attribute.
 */

type Node = Record<string, unknown>;

/**
 * An element as the readers below take it: `@name` attributes, `#text` (trimmed), and each child
 * element name holding the list of those children. Read by saxes like every XML gwsync takes in
 * (src/artifacts/xml.ts), so entities, character references and CDATA read as in an artifact.
 */
function toNode(e: XmlElement): Node {
  const n: Node = {};
  for (const [k, v] of Object.entries(e.attributes)) n[`@${k}`] = v;
  const text = e.text.trim();
  if (text !== "") n["#text"] = text;
  for (const c of e.children) {
    const list = (n[c.tag] as Node[] | undefined) ?? [];
    list.push(toNode(c));
    n[c.tag] = list;
  }
  return n;
}

function bad(why: string): GwsyncError {
  return new GwsyncError("GWSYNC_HTTP_BAD_REQUEST", `mdc-transform-rule: ${why}`);
}

function attr(n: Node, name: string): string | undefined {
  const v = n[`@${name}`];
  return typeof v === "string" ? v : undefined;
}

function text(n: unknown): string {
  if (typeof n === "string") return n;
  const t = (n as Node | undefined)?.["#text"];
  return typeof t === "string" ? t : "";
}

function selectorOf(
  path: string | undefined,
  where: string,
): { label?: string; api?: string; context?: string } {
  if (path === undefined) throw bad(`${where} has no entity-path`);
  if (path === "/" || path === "/*") return { label: "*" };
  const m = /^\/(label|api|context)\/(.+)$/.exec(path);
  if (!m) {
    throw bad(
      `${where} entity-path ${JSON.stringify(path)}: gwsync selects /label/<glob>, /api/<glob> or /context/<glob>`,
    );
  }
  const kind = m[1] as "label" | "api" | "context";
  return { [kind]: kind === "context" ? `/${m[2]}` : m[2] };
}

/** Read an OAM-shaped rule file; throws a 400 naming the element that cannot map. */
export function parseOamRules(xml: string): TransformRules {
  const tree = readXmlElement(xml, "mdc-transform-rule file");
  if (tree.tag !== "mdc-transform-rule") throw bad("the root element must be <mdc-transform-rule>");
  const root = toNode(tree);
  const rules: TransformRules = {};
  const values: Record<string, string> = {};
  for (const v of (root.value as Node[] | undefined) ?? []) {
    const name = attr(v, "name");
    if (name === undefined) throw bad("<value> needs a name attribute");
    values[name] = text(v);
  }
  if (Object.keys(values).length > 0) rules.values = values;
  const include = ((root["changes-to-include"] as Node[] | undefined) ?? []).map((c, i) => {
    const where = `changes-to-include[${i}]`;
    const block: NonNullable<TransformRules["include"]>[number] = selectorOf(attr(c, "entity-path"), where);
    const ignore = ((c.ignore as Node[] | undefined) ?? []).map((g, j) => {
      const m = attr(g, "attribute-match");
      if (m === undefined) throw bad(`${where}.ignore[${j}] has no attribute-match`);
      return m;
    });
    const replace = ((c.replace as Node[] | undefined) ?? []).map((r, j) => {
      const path = attr(r, "attribute-match");
      const value = attr(r, "value-match");
      if (value === undefined) throw bad(`${where}.replace[${j}] has no value-match`);
      const withs = (r["replace-with"] as unknown[] | undefined) ?? [];
      const groups: Record<string, string> = {};
      for (const w of withs) {
        const n = attr(w as Node, "n");
        if (n === undefined) throw bad(`${where}.replace[${j}].replace-with has no n attribute`);
        groups[n] = text(w);
      }
      const whole = attr(r, "with");
      return {
        ...(path === undefined || path === "" ? {} : { path }),
        value,
        ...(withs.length > 0 ? { groups } : { with: whole ?? "" }),
      };
    });
    if (ignore.length > 0) block.ignore = ignore;
    if (replace.length > 0) block.replace = replace;
    return block;
  });
  if (include.length > 0) rules.include = include;
  const exclude = ((root["changes-to-exclude"] as Node[] | undefined) ?? []).map((c, i) =>
    selectorOf(attr(c, "entity-path"), `changes-to-exclude[${i}]`),
  );
  if (exclude.length > 0) rules.exclude = exclude;
  return rules;
}
