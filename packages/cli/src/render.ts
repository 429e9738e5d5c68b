import pc from "picocolors";

/** Colours for one output stream: on a terminal, unless NO_COLOR is set (or FORCE_COLOR asks for them). */
export function colorsFor(stream: NodeJS.WriteStream): ReturnType<typeof pc.createColors> {
  const forced = process.env.FORCE_COLOR !== undefined && process.env.FORCE_COLOR !== "0";
  const enabled = forced || (stream.isTTY === true && process.env.NO_COLOR === undefined);
  return pc.createColors(enabled);
}

export type Colors = ReturnType<typeof colorsFor>;

/** No colours at all (JSON output, files). */
export const NO_COLORS: Colors = pc.createColors(false);

/** A cell: its text, and how to colour it once padded (colour codes take no column). */
export type Cell = string | { text: string; paint?: (s: string) => string };

/**
 * The first non-empty line of `text`, at most `max` characters, with `…` when anything was left
 * out: a skill's stderr can run to many lines, and a table row or an event line holds one.
 */
export function oneLine(text: string, max = 120): string {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "");
  const first = (lines[0] ?? "").trim();
  const cut = first.length > max ? first.slice(0, max - 1) : first;
  return cut.length < first.length || lines.length > 1 ? `${cut}…` : cut;
}

/** Rows as aligned columns under a header, two spaces apart (as kubectl prints them). */
export function table(header: readonly string[], rows: readonly (readonly Cell[])[], c: Colors): string {
  const raw = (cell: Cell | undefined) => (typeof cell === "string" ? cell : (cell?.text ?? ""));
  // A cell with a line break would break every column after it.
  const text = (cell: Cell | undefined) => {
    const t = raw(cell);
    return t.includes("\n") ? oneLine(t, t.length) : t;
  };
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => text(r[i]).length)));
  const line = (cells: readonly Cell[], head = false) =>
    widths
      .map((w, i) => {
        const cell = cells[i];
        const padded = i === widths.length - 1 ? text(cell) : text(cell).padEnd(w);
        if (head) return c.bold(padded);
        return typeof cell === "object" && cell.paint ? cell.paint(padded) : padded;
      })
      .join("  ")
      .trimEnd();
  return [line(header, true), ...rows.map((r) => line(r))].join("\n");
}

/** `key  value` lines, keys aligned; a value of several lines keeps to its column. */
export function fields(pairs: readonly [string, string][], c: Colors): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  const indent = `\n${" ".repeat(width + 2)}`;
  return pairs.map(([k, v]) => `${c.dim(k.padEnd(width))}  ${v.split("\n").join(indent)}`).join("\n");
}

/** A status in the colour an operator reads it by: green good, yellow in between, red bad. */
export function statusPaint(status: string, c: Colors): (s: string) => string {
  switch (status) {
    case "online":
    case "completed":
    case "running":
    case "closed":
      return c.green;
    case "busy":
    case "maintenance":
    case "suspect":
    case "pending":
    case "scheduled":
    case "half-open":
      return c.yellow;
    case "offline":
    case "error":
    case "failed":
    case "timeout":
    case "cancelled":
    case "open":
      return c.red;
    default:
      return (s) => s;
  }
}

/** How long ago an ISO time was: `4s`, `3m`, `2h`, `5d`; `-` for none. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "-";
  return `${span(now - Date.parse(iso))} ago`;
}

/** A duration in its largest whole unit, down to milliseconds. */
export function span(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 1) return `${Math.round(ms)}ms`;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  return `${Math.floor(s / 86_400)}d${Math.floor((s % 86_400) / 3600)}h`;
}

/** A text progress bar: `[#########---------------]  38%`. */
export function bar(percent: number, width = 24): string {
  const full = Math.max(0, Math.min(width, Math.round((percent / 100) * width)));
  return `[${"#".repeat(full)}${"-".repeat(width - full)}] ${percent.toFixed(0).padStart(3)}%`;
}
