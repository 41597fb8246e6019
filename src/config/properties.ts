import { GwsyncError } from "../errors.js";

/** One key = value entry of a Java .properties file, with the line it starts on (1-based). */
export interface PropertyEntry {
  key: string;
  value: string;
  line: number;
}

const ESCAPES: Record<string, string> = { t: "\t", n: "\n", r: "\r", f: "\f" };
const UNICODE_ESCAPE = /^[0-9A-Fa-f]{4}$/;

/** A line continues onto the next when it ends with an odd number of backslashes (java.util.Properties). */
function continues(line: string): boolean {
  let n = 0;
  for (let i = line.length - 1; i >= 0 && line[i] === "\\"; i--) n++;
  return n % 2 === 1;
}

function unescapeJava(text: string, source: string, line: number): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== "\\") {
      out += c;
      continue;
    }
    const next = text[i + 1];
    if (next === undefined) break;
    if (next === "u") {
      const hex = text.slice(i + 2, i + 6);
      if (!UNICODE_ESCAPE.test(hex)) {
        throw new GwsyncError("GWSYNC_JNDI_INVALID", `${source} line ${line}: malformed \\uXXXX escape`);
      }
      out += String.fromCharCode(Number.parseInt(hex, 16));
      i += 5;
    } else {
      out += ESCAPES[next] ?? next;
      i += 1;
    }
  }
  return out;
}

/** Index where the key ends: the first unescaped "=", ":" or whitespace. */
function keyEnd(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "\\") i++;
    else if (c === "=" || c === ":" || /\s/.test(c)) return i;
  }
  return text.length;
}

/**
 * The java.util.Properties line format: "#" and "!" comments, "\" line continuations (the next line's
 * leading whitespace dropped), key ended by "=", ":" or whitespace, backslash escapes. Later keys win.
 */
export function parseProperties(text: string, source = "properties"): PropertyEntry[] {
  const lines = text.split(/\r\n|\r|\n/);
  const entries: PropertyEntry[] = [];
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    let logical = lines[i]!.replace(/^[ \t\f]+/, "");
    if (logical === "" || logical.startsWith("#") || logical.startsWith("!")) continue;
    while (continues(logical) && i + 1 < lines.length) {
      i++;
      logical = logical.slice(0, -1) + lines[i]!.replace(/^[ \t\f]+/, "");
    }
    if (continues(logical)) logical = logical.slice(0, -1);
    const end = keyEnd(logical);
    const rest = logical.slice(end).replace(/^[ \t\f]*[=:]?[ \t\f]*/, "");
    entries.push({
      key: unescapeJava(logical.slice(0, end), source, start),
      value: unescapeJava(rest, source, start),
      line: start,
    });
  }
  return entries;
}
