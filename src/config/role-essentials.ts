import type { LoadContext } from "./load-context.js";
import { getPath, isTable, type TomlTable } from "./toml-doc.js";
import type { Role } from "./types.js";

/**
 * The section a role's configuration cannot do without. Everything else has a default, but run on
 * defaults alone a service does harm: `gwsync gateway -c publisher.toml` would serve label "Default"
 * and leave a durable queue behind, `gwsync publisher -c gateway.toml` would create an empty store.
 * Checked on the document after GWSYNC_* overrides, so a configuration made of variables passes too
 * (GWSYNC_GATEWAY_LABELS creates the gateway section).
 */
const ESSENTIAL: Readonly<Partial<Record<Role, { section: string; why: string }>>> = {
  publisher: {
    section: "apim.sync_runtime_artifacts.publisher",
    // WSO2 turns artifact saving on by this section's presence; gwsync keeps that meaning.
    why: 'turns artifact saving on (WSO2\'s meaning); add it with artifact_saver = "DBSaver"',
  },
  gateway: {
    section: "apim.sync_runtime_artifacts.gateway",
    why: "says which labels this gateway serves and where it deploys; add it with gateway_labels = [...]",
  },
};

/** The role a file was written for, by the sections it has: to say "this looks like a gateway's". */
function looksLike(doc: TomlTable): Role | undefined {
  for (const [role, e] of Object.entries(ESSENTIAL)) {
    if (isTable(getPath(doc, e.section.split(".")))) return role as Role;
  }
  if (isTable(getPath(doc, ["gwsync"])) && getPath(doc, ["gwsync", "jndi_dir"]) !== undefined) return "relay";
  return undefined;
}

export function checkEssentials(doc: TomlTable, role: Role, ctx: LoadContext): void {
  const need = ESSENTIAL[role];
  if (need === undefined || isTable(getPath(doc, need.section.split(".")))) return;
  const other = looksLike(doc);
  const hint = other !== undefined && other !== role ? `; this looks like a ${other}'s configuration` : "";
  ctx.problems.push({
    key: need.section,
    message: `[${need.section}] is missing, but role ${role} needs it: it ${need.why}${hint}`,
  });
}
