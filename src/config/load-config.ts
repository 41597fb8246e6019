import { readFileSync } from "node:fs";
import path from "node:path";
import { parse as parseToml, TomlError } from "smol-toml";
import type { z } from "zod";
import { buildConfig, type Sections } from "./build-config.js";
import { ConfigError } from "./config-error.js";
import { applyEnvOverrides } from "./env-overrides.js";
import { LoadContext } from "./load-context.js";
import { resolveRefs } from "./refs.js";
import { checkRole } from "./role-checks.js";
import { checkEssentials } from "./role-essentials.js";
import {
  DatabaseSectionSchema,
  EventHubSectionSchema,
  GatewaySectionSchema,
  GwsyncSectionSchema,
  knownKeys,
  PublisherSectionSchema,
  READ_SECTIONS,
  type ReadSectionPath,
  ThrottlingSectionSchema,
} from "./schema.js";
import { applyAliases, checkStructure, listIgnored } from "./sections.js";
import { nearest } from "./suggest.js";
import { getPath, joinPath, type TomlTable } from "./toml-doc.js";
import type { GwsyncConfig, Role } from "./types.js";

export { ConfigError, isConfigError } from "./config-error.js";

export interface LoadConfigOptions {
  /** deployment.toml path; also names the source in messages and sets the default baseDir. */
  file?: string;
  /** TOML text; wins over reading `file`. Neither: an empty document (defaults and environment only). */
  text?: string;
  /** Checks what this role cannot run without (see role-checks.ts). */
  role?: Role;
  /** Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** Relative paths resolve against it. Default: the file's folder, or the working directory for text. */
  baseDir?: string;
  /**
   * Warnings that are probably mistakes (a key, section or GWSYNC_* variable close to a known one; a
   * secret file that cannot be read here) become problems.
   */
  strict?: boolean;
  /**
   * The file is checked (`gwsync config check`), not run: a password_file this host cannot read is a
   * warning (the service reads it where it runs, and refuses to start without it), not a problem.
   */
  checkOnly?: boolean;
}

export interface LoadConfigResult {
  config: GwsyncConfig;
  warnings: string[];
  /** WSO2 keys and sections gwsync ignores, and other notes worth a debug line. */
  debug: string[];
}

function unknownKeyReason(key: string, section: string): string {
  const known = Object.hasOwn(READ_SECTIONS, section) ? knownKeys(section as ReadSectionPath) : [];
  const near = nearest(key, known);
  const hint = near === undefined ? "" : ` (did you mean ${near}?)`;
  return `is not a key of [${section}]${hint}; known keys: ${known.join(", ")}`;
}

/** A section as its schema reads it; absent or invalid (its problems reported), its defaults. */
function validate<S extends z.ZodType>(schema: S, doc: TomlTable, at: string, ctx: LoadContext): z.output<S> {
  const raw = getPath(doc, at.split("."));
  const result = schema.safeParse(raw ?? {});
  if (result.success) return result.data;
  for (const issue of result.error.issues) {
    const key = joinPath(at, issue.path);
    if (issue.code === "unrecognized_keys") {
      for (const k of issue.keys) ctx.problem(joinPath(key, [k]), unknownKeyReason(k, key));
    } else {
      ctx.problem(key, issue.message);
    }
  }
  return schema.parse({}) as z.output<S>;
}

function validateSections(doc: TomlTable, ctx: LoadContext): Sections {
  return {
    gwsync: validate(GwsyncSectionSchema, doc, "gwsync", ctx),
    publisher: validate(PublisherSectionSchema, doc, "apim.sync_runtime_artifacts.publisher", ctx),
    publisherPresent: getPath(doc, ["apim", "sync_runtime_artifacts", "publisher"]) !== undefined,
    gateway: validate(GatewaySectionSchema, doc, "apim.sync_runtime_artifacts.gateway", ctx),
    database: validate(DatabaseSectionSchema, doc, "database.sync_runtime_artifacts_db", ctx),
    eventHub: validate(EventHubSectionSchema, doc, "apim.event_hub", ctx),
    throttling: validate(ThrottlingSectionSchema, doc, "apim.throttling", ctx),
  };
}

function readText(options: LoadConfigOptions): string {
  if (options.text !== undefined) return options.text;
  if (options.file === undefined) return "";
  try {
    return readFileSync(options.file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    throw new ConfigError(
      [
        {
          key: "(file)",
          message: `cannot read configuration file ${options.file} (${code}); check the --config path`,
        },
      ],
      { source: options.file },
    );
  }
}

function parseDocument(text: string, source: string | undefined): TomlTable {
  try {
    return parseToml(text) as TomlTable;
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    // Only the first line of smol-toml's message: the rest quotes the file, which may hold a password.
    const reason = err.message.split("\n")[0]!.replace(/^Invalid TOML document: /, "");
    throw new ConfigError(
      [
        {
          key: "(syntax)",
          message: `TOML syntax error at line ${err.line}, column ${err.column}: ${reason}`,
          line: err.line,
          column: err.column,
        },
      ],
      source === undefined ? {} : { source },
    );
  }
}

/**
 * Read deployment.toml (WSO2 keys verbatim plus [gwsync]), apply GWSYNC_* environment overrides and
 * $ref{...}/$env{...} placeholders, validate, fill in defaults. Throws ConfigError listing every
 * problem by key; warnings and debug notes come back with the config.
 */
export function loadConfig(options: LoadConfigOptions = {}): LoadConfigResult {
  const source = options.file;
  const baseDir = path.resolve(
    options.baseDir ??
      (options.file === undefined ? process.cwd() : path.dirname(path.resolve(options.file))),
  );
  const env = options.env ?? process.env;
  const doc = parseDocument(readText(options), source);
  const ctx = new LoadContext({ strict: options.strict === true, checkOnly: options.checkOnly === true });
  applyEnvOverrides(doc, env, ctx);
  applyAliases(doc, ctx);
  let config: GwsyncConfig | undefined;
  if (options.role !== undefined) checkEssentials(doc, options.role, ctx);
  if (checkStructure(doc, ctx)) {
    resolveRefs(doc, env, ctx);
    listIgnored(doc, ctx);
    config = buildConfig(validateSections(doc, ctx), { role: options.role, baseDir, ctx });
    // Role checks read the filled-in config; on top of invalid keys they would judge defaults, not the file.
    if (options.role !== undefined && ctx.problems.length === 0) checkRole(config, options.role, ctx);
  }
  if (config === undefined || ctx.problems.length > 0) {
    throw new ConfigError(ctx.problems, {
      ...(source === undefined ? {} : { source }),
      warnings: ctx.warnings,
      debug: ctx.debug,
    });
  }
  return { config, warnings: ctx.warnings, debug: ctx.debug };
}
