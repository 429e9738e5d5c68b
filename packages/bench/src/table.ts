import type { ContenderRuns, MetricRef, ScenarioResult } from "./harness.js";

/** Median, min and max of one metric over the runs that succeeded. */
export interface Stat {
  median: number;
  min: number;
  max: number;
  /** Runs that produced it. */
  n: number;
}

/** The value at quantile `q` (0..1) of `values`, nearest rank (p99 of 10,000 samples is the 9,900th). */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1] as number;
}

export function stat(values: readonly number[]): Stat | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 === 1
      ? (sorted[mid] as number)
      : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return { median, min: sorted[0] as number, max: sorted[sorted.length - 1] as number, n: sorted.length };
}

export interface TableRow {
  label: string;
  unit: string;
  digits: number;
  oursLabel: string;
  ours: Stat | undefined;
  baselineLabel: string | undefined;
  baseline: Stat | undefined;
  /** ours median / baseline median. */
  ratio: number | undefined;
  target: string | undefined;
  /** Undefined when there is no target or no figure to hold to it. */
  met: boolean | undefined;
}

export interface Table {
  /** The scenario's id (`throughput`). */
  id: string;
  title: string;
  description: string;
  runs: number;
  rows: TableRow[];
  /** Failed runs, `<contender>: run N: why`. */
  errors: string[];
  /** Setups that failed once and were tried again, `<contender>: run N: why`. */
  retries: string[];
}

function metric(result: ScenarioResult, ref: MetricRef): Stat | undefined {
  const runs: ContenderRuns | undefined = result.results[ref.contender];
  const values = (runs?.measurements ?? []).map((m) => m[ref.metric]).filter((v) => v !== undefined);
  return stat(values as number[]);
}

/** The scenario's rows with their figures. */
export function summarize(result: ScenarioResult): Table {
  const { scenario } = result;
  const labelOf = (id: string) => scenario.contenders.find((c) => c.id === id)?.label ?? id;
  const rows = scenario.rows.map((spec): TableRow => {
    const ours = metric(result, spec.ours);
    const baseline = spec.baseline ? metric(result, spec.baseline) : undefined;
    const ratio = ours && baseline && baseline.median !== 0 ? ours.median / baseline.median : undefined;
    const met =
      spec.target && ours && (!spec.baseline || baseline)
        ? spec.target.met(ours.median, baseline?.median)
        : undefined;
    return {
      label: spec.label,
      unit: spec.unit,
      digits: spec.digits ?? 0,
      oursLabel: labelOf(spec.ours.contender),
      ours,
      baselineLabel: spec.baseline ? labelOf(spec.baseline.contender) : undefined,
      baseline,
      ratio,
      target: spec.target?.text,
      met,
    };
  });
  const lines = (pick: (r: ContenderRuns) => string[]) =>
    Object.entries(result.results).flatMap(([id, r]) => pick(r).map((e) => `${labelOf(id)}: ${e}`));
  return {
    id: scenario.id,
    title: scenario.title,
    description: scenario.description,
    runs: result.runs,
    rows,
    errors: lines((r) => r.errors),
    retries: lines((r) => r.retries),
  };
}

function num(v: number, digits: number): string {
  return v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function cell(s: Stat | undefined, row: TableRow, runs: number): string {
  if (!s) return "failed";
  const d = row.digits;
  const range = s.n > 1 ? ` (${num(s.min, d)}–${num(s.max, d)})` : "";
  const partial = s.n < runs ? ` [${s.n}/${runs} runs]` : "";
  return `${num(s.median, d)}${range} ${row.unit}${partial}`;
}

function cells(table: Table): string[][] {
  return table.rows.map((r) => [
    r.label,
    `${r.oursLabel}: ${cell(r.ours, r, table.runs)}`,
    r.baselineLabel ? `${r.baselineLabel}: ${cell(r.baseline, r, table.runs)}` : "–",
    r.ratio === undefined ? "–" : `${num(r.ratio, 2)}×`,
    r.target ?? "–",
    r.met === undefined ? "–" : r.met ? "yes" : "NO",
  ]);
}

const HEADER = [
  "metric",
  "ours: median (min–max)",
  "baseline: median (min–max)",
  "ours/baseline",
  "target",
  "met",
];

/** An aligned plain-text table for the terminal. */
export function renderText(table: Table): string {
  const rows = [HEADER, ...cells(table)];
  const widths = HEADER.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  const out = [
    `${table.title} (${table.runs} run${table.runs === 1 ? "" : "s"} each)`,
    line(rows[0] as string[]),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...rows.slice(1).map(line),
  ];
  for (const e of table.errors) out.push(`  failed: ${e}`);
  for (const e of table.retries) out.push(`  retried after a setup failure: ${e}`);
  return `${out.join("\n")}\n`;
}

/** The same table as Markdown, with the scenario's description above it. */
export function renderMarkdown(table: Table): string {
  const esc = (c: string) => c.replace(/\|/g, "\\|");
  const out = [
    `## ${table.title}`,
    "",
    table.description,
    "",
    `| ${HEADER.join(" | ")} |`,
    `| ${HEADER.map(() => "---").join(" | ")} |`,
    ...cells(table).map((r) => `| ${r.map(esc).join(" | ")} |`),
    "",
  ];
  if (table.errors.length > 0) {
    out.push("Failed runs:", "", ...table.errors.map((e) => `- ${e}`), "");
  }
  if (table.retries.length > 0) {
    out.push(
      "Setups that failed and were tried once more on fresh infrastructure:",
      "",
      ...table.retries.map((e) => `- ${e}`),
      "",
    );
  }
  return out.join("\n");
}
