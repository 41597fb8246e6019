import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { GwsyncError, isGwsyncError } from "../errors.js";
import { REGION_NAME } from "../events/relay-headers.js";
import { parseProperties } from "./properties.js";
import { parseQpidConnectionUrl, type QpidConnectionUrl } from "./qpid-url.js";

export {
  formatQpidConnectionUrl,
  parseQpidConnectionUrl,
  type QpidBroker,
  type QpidConnectionUrl,
  type QpidTransport,
  toBrokerEndpoints,
} from "./qpid-url.js";

/** What a Qpid PropertiesFileInitialContextFactory jndi.properties declares. */
export interface JndiConfig {
  connectionFactories: Record<string, QpidConnectionUrl>;
  /** JNDI name → physical topic name (an amq.topic routing key). */
  topics: Record<string, string>;
  queues: Record<string, string>;
}

const PROPERTIES_EXT = ".properties";
const PREFIXES = ["connectionfactory.", "topic.", "queue."] as const;
/** Jinja markers: WSO2 ships jndi templates (*.j2) that must be rendered before Qpid can read them. */
const JINJA = /\{\{|\{%/;

/**
 * Parse a jndi.properties file. Keys other than connectionfactory.*, topic.* and queue.* (such as
 * java.naming.factory.initial) are ignored, as Qpid's context factory does. Every faulty line is
 * reported in one GwsyncError GWSYNC_JNDI_INVALID.
 */
export function parseJndiProperties(text: string, source = "jndi.properties"): JndiConfig {
  const factories = new Map<string, QpidConnectionUrl>();
  const topics = new Map<string, string>();
  const queues = new Map<string, string>();
  const faults: string[] = [];
  for (const entry of parseProperties(text, source)) {
    const where = `${source} line ${entry.line}`;
    if (JINJA.test(entry.key) || JINJA.test(entry.value)) {
      // One fault for the whole file: every later line of a template would repeat it.
      faults.push(
        `${where}: Jinja template syntax ("{{" or "{%") found; render the template to a .properties file first`,
      );
      break;
    }
    const prefix = PREFIXES.find((p) => entry.key.startsWith(p));
    if (prefix === undefined) continue;
    const name = entry.key.slice(prefix.length);
    const value = entry.value.trimEnd();
    if (name === "") {
      faults.push(`${where}: "${entry.key}" has no JNDI name after the prefix`);
      continue;
    }
    if (prefix === "connectionfactory.") {
      try {
        factories.set(name, parseQpidConnectionUrl(value));
      } catch (err) {
        if (!isGwsyncError(err)) throw err;
        faults.push(`${where}: ${entry.key}: ${err.message}`);
      }
      continue;
    }
    if (value === "") {
      faults.push(`${where}: ${entry.key} has an empty physical name`);
      continue;
    }
    (prefix === "topic." ? topics : queues).set(name, value);
  }
  if (faults.length > 0)
    throw new GwsyncError("GWSYNC_JNDI_INVALID", faults.join("; "), { details: { source } });
  return {
    connectionFactories: Object.fromEntries(factories),
    topics: Object.fromEntries(topics),
    queues: Object.fromEntries(queues),
  };
}

/**
 * Read every <region>.properties file of a folder: one remote region event hub per file, named after
 * the file. Throws GWSYNC_JNDI_INVALID for an unreadable folder, a bad file name or a bad file.
 */
export function loadJndiDir(dir: string): Record<string, JndiConfig> {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith(PROPERTIES_EXT));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    throw new GwsyncError("GWSYNC_JNDI_INVALID", `cannot read jndi folder ${dir}: ${code}`, { cause: err });
  }
  const regions = new Map<string, JndiConfig>();
  for (const name of names.sort()) {
    const region = name.slice(0, -PROPERTIES_EXT.length);
    if (!REGION_NAME.test(region)) {
      throw new GwsyncError(
        "GWSYNC_JNDI_INVALID",
        `jndi file ${JSON.stringify(name)} in ${dir}: the region name must match ${REGION_NAME} (rename the file)`,
      );
    }
    const file = path.join(dir, name);
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "error";
      throw new GwsyncError("GWSYNC_JNDI_INVALID", `cannot read jndi file ${file}: ${code}`, { cause: err });
    }
    regions.set(region, parseJndiProperties(text, file));
  }
  return Object.fromEntries(regions);
}
