import { FILE_ENV, SETTING_SOURCES } from "./sources.js";

/**
 * `OPENCLAW_*` variables read outside the configuration: the CLI's API client
 * (`OPENCLAW_API_URL`, `OPENCLAW_API_KEY`), the instance id of a service, and what a worker
 * gives the commands of its skills (`OPENCLAW_TASK_ID`, `OPENCLAW_ATTEMPT`).
 */
export const OTHER_ENV = [
  "OPENCLAW_API_URL",
  "OPENCLAW_API_KEY",
  "OPENCLAW_INSTANCE_ID",
  "OPENCLAW_TASK_ID",
  "OPENCLAW_ATTEMPT",
] as const;

/** Every `OPENCLAW_*` variable some part of OpenClaw Cluster reads. */
export function knownEnvNames(): string[] {
  const names = new Set<string>([...Object.values(FILE_ENV), ...OTHER_ENV]);
  for (const s of SETTING_SOURCES) if (s.env?.startsWith("OPENCLAW_")) names.add(s.env);
  return [...names].sort();
}

/** Edits (insert, delete, replace, swap two neighbours) that turn `a` into `b`. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i] as number[];
      const prev = d[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(
        (prev[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (prev[j - 1] as number) + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, ((d[i - 2] as number[])[j - 2] as number) + 1);
      }
      row[j] = best;
    }
  }
  return (d[a.length] as number[])[b.length] as number;
}

/**
 * One line per environment variable that looks like a misspelt `OPENCLAW_*` one: not a name
 * OpenClaw Cluster reads, but within a few edits of one (or the same but for case), e.g.
 * `OPENCLAW_PROT is not read; did you mean OPENCLAW_PORT?`. Other `OPENCLAW_*` variables are
 * left alone: OpenClaw itself, on the same machine, has its own.
 */
export function envWarnings(env: Record<string, string | undefined>): string[] {
  const known = knownEnvNames();
  const knownSet = new Set(known);
  const lines: string[] = [];
  for (const name of Object.keys(env).sort()) {
    const upper = name.toUpperCase();
    if (knownSet.has(name) || !upper.startsWith("OPEN")) continue;
    let best: { name: string; distance: number } | undefined;
    for (const candidate of known) {
      const distance = editDistance(upper, candidate);
      if (best === undefined || distance < best.distance) best = { name: candidate, distance };
    }
    if (!best) continue;
    // A typo: a few edits on a long name, one on a short one (OPENCLAW_HOME is not OPENCLAW_HOST).
    const rest = best.name.length - "OPENCLAW_".length;
    const allowed = rest >= 10 ? 3 : rest >= 6 ? 2 : 1;
    if (upper === best.name || best.distance <= allowed) {
      lines.push(`environment variable ${name} is not read; did you mean ${best.name}?`);
    }
  }
  return lines;
}
