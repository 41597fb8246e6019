/** One line of the results table. A benchmark returns one or more of these. */
export interface BenchRow {
  id: string;
  what: string;
  /** gwsync's figure as shown, e.g. "0.91 ms". */
  gwsync: string;
  /** The same-run baseline's figure, or "—" when the goal is absolute. */
  baseline: string;
  /** gwsync ÷ baseline for times, gwsync ÷ baseline for rates; undefined when there is none. */
  ratio?: number;
  goal: string;
  /** undefined: not measured (skipped, or informational). */
  met?: boolean;
  /** Why skipped, or what to know about the figure. */
  note?: string;
}

export interface BenchOutcome {
  rows: BenchRow[];
  /** Raw measurements kept in bench/results/latest.json. */
  details: Record<string, unknown>;
}

export type Benchmark = (ctx: BenchContext) => Promise<BenchOutcome>;

export interface BenchContext {
  /** Progress line on stderr (the table goes to stdout). */
  log(message: string): void;
}

function cell(s: string, width: number): string {
  return s.length >= width ? s : s + " ".repeat(width - s.length);
}

export function metText(met: boolean | undefined): string {
  return met === undefined ? "—" : met ? "yes" : "NO";
}

export function ratioText(r: number | undefined): string {
  return r === undefined || !Number.isFinite(r) ? "—" : `${r.toFixed(2)}×`;
}

/** A plain-text table (also valid GitHub markdown). */
export function renderTable(rows: BenchRow[]): string {
  const header = ["id", "what", "gwsync", "baseline", "ratio", "goal", "met?"];
  const body = rows.map((r) => [
    r.id,
    r.what,
    r.gwsync,
    r.baseline,
    ratioText(r.ratio),
    r.goal,
    metText(r.met),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cols: string[]) => `| ${cols.map((c, i) => cell(c, widths[i]!)).join(" | ")} |`;
  const sep = `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`;
  const notes = rows.filter((r) => r.note).map((r) => `- ${r.id} ${r.what}: ${r.note}`);
  return [line(header), sep, ...body.map(line), ...(notes.length ? ["", ...notes] : [])].join("\n");
}
