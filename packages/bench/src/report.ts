import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { SCENARIO_IDS } from "./registry.js";
import { renderMarkdown, type Table } from "./table.js";

/** The repository's docs/benchmarks.md (this file is packages/bench/dist/report.js). */
export const BENCHMARKS_MD = fileURLToPath(new URL("../../../docs/benchmarks.md", import.meta.url));

function firstLine(cmd: string, args: string[]): string {
  try {
    return (
      execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).split("\n")[0] ?? ""
    );
  } catch {
    return "not found";
  }
}

function osName(): string {
  try {
    const pretty = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync("/etc/os-release", "utf8"))?.[1];
    if (pretty) return `${pretty}, kernel ${release()}`;
  } catch {
    // Not Linux, or no os-release.
  }
  return `${process.platform} ${release()}`;
}

/** bullmq's version, from its package.json (found next to its resolved entry point). */
function bullmqVersion(): string {
  try {
    let dir = dirname(fileURLToPath(import.meta.resolve("bullmq")));
    for (let i = 0; i < 6; i++, dir = dirname(dir)) {
      try {
        const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
          name?: string;
          version?: string;
        };
        if (pkg.name === "bullmq" && pkg.version) return pkg.version;
      } catch {
        // No package.json at this level.
      }
    }
  } catch {
    // Not installed.
  }
  return "unknown";
}

export interface Environment {
  machine: string[];
  versions: string[];
}

/** What the figures were measured on: the machine and every program's version. */
export function describeEnvironment(): Environment {
  const cpu = cpus();
  const commit = firstLine("git", ["rev-parse", "--short", "HEAD"]);
  const dirty =
    commit !== "not found" && firstLine("git", ["status", "--porcelain"]) !== ""
      ? " (with uncommitted changes)"
      : "";
  return {
    machine: [
      `CPU: ${cpu[0]?.model.trim() ?? "unknown"}, ${cpu.length} cores`,
      `memory: ${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
      `OS: ${osName()}`,
    ],
    versions: [
      `node ${process.version}`,
      firstLine(process.env.NATS_SERVER_BIN ?? "nats-server", ["--version"]),
      firstLine(process.env.REDIS_SERVER_BIN ?? "redis-server", ["--version"]),
      `bullmq ${bullmqVersion()}`,
      `openclaw-cluster ${commit}${dirty}`,
    ],
  };
}

export interface Report {
  tables: Table[];
  /** The exact command, as it would be typed. */
  command: string;
  date: Date;
  env: Environment;
}

const SECTION = /<!-- bench:begin (\S+) -->\n[\s\S]*?<!-- bench:end \1 -->\n/g;

/** The scenario sections of an earlier document, by scenario id. */
export function readSections(doc: string): Map<string, string> {
  return new Map([...doc.matchAll(SECTION)].map((m) => [m[1] as string, m[0]]));
}

/** One scenario's section, with when and how it was measured (sections of several runs can sit side by side). */
function section(table: Table, r: Report): string {
  const commit = r.env.versions.find((v) => v.startsWith("openclaw-cluster")) ?? "";
  return [
    `<!-- bench:begin ${table.id} -->`,
    renderMarkdown(table).replace(
      /\n\n/,
      `\n\n_Measured ${r.date.toISOString()} with \`${r.command}\` (${commit})._\n\n`,
    ),
    `<!-- bench:end ${table.id} -->`,
    "",
  ].join("\n");
}

/**
 * The whole document: the machine and versions of this run, then every scenario's section, this
 * run's replacing those of the same scenario in `previous` (the earlier document) and the others
 * kept, so running one scenario (`--scenarios latency`) does not drop the rest.
 */
export function renderDocument(r: Report, previous = ""): string {
  const sections = readSections(previous);
  for (const table of r.tables) sections.set(table.id, section(table, r));
  const order = (id: string) => {
    const i = (SCENARIO_IDS as readonly string[]).indexOf(id);
    return i === -1 ? SCENARIO_IDS.length : i;
  };
  const ids = [...sections.keys()].sort((a, b) => order(a) - order(b) || a.localeCompare(b));
  return [
    "# Benchmarks",
    "",
    "Written by `npm run bench` (packages/bench); do not edit by hand. Each scenario runs every contender",
    "on fresh infrastructure (a new nats-server with file storage, a new redis-server, new service",
    "processes, all on loopback), the contenders interleaved (ours, baseline, ours, ...). Figures are",
    "medians with min–max over the runs. Everything (servers, services, workers, the bench) shares one",
    "machine, so each side's processes compete for the same cores. Each section says when and with which",
    "command it was measured; the machine and versions below are those of the latest run.",
    "Where the time goes, what has been done about it and what is next: [performance.md](performance.md).",
    "",
    `- date: ${r.date.toISOString()}`,
    `- command: \`${r.command}\``,
    ...r.env.machine.map((l) => `- ${l}`),
    ...r.env.versions.map((l) => `- ${l}`),
    "",
    ...ids.map((id) => sections.get(id) as string),
  ].join("\n");
}

export function writeDocument(r: Report, path = BENCHMARKS_MD): void {
  const previous = existsSync(path) ? readFileSync(path, "utf8") : "";
  writeFileSync(path, renderDocument(r, previous));
}
