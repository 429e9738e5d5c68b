/**
 * `npm run bench`: runs the chosen scenarios, prints a table per scenario to stdout (progress to
 * stderr) and writes them all to docs/benchmarks.md with the machine, versions and command.
 * Exit status: 0 when every run was measured, 1 when a run failed, 2 for bad flags, 130 on Ctrl+C.
 */
import { closeEverything } from "./cleanup.js";
import { parseFlags, USAGE } from "./flags.js";
import { runScenario } from "./harness.js";
import { stderrLog } from "./progress.js";
import { buildScenario } from "./registry.js";
import { BENCHMARKS_MD, describeEnvironment, writeDocument } from "./report.js";
import { renderText, summarize, type Table } from "./table.js";

const argv = process.argv.slice(2);
const parsed = parseFlags(argv);
if (!parsed.ok) {
  if (parsed.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  for (const e of parsed.errors) process.stderr.write(`bench: ${e}\n`);
  process.stderr.write(USAGE);
  process.exit(2);
}
const { flags } = parsed;

// Ctrl+C: no new run starts, everything started is stopped, then exit. A second Ctrl+C exits at
// once (the exit hooks still SIGKILL every child).
const interrupted = new AbortController();
process.on("SIGINT", () => {
  if (interrupted.signal.aborted) process.exit(130);
  interrupted.abort();
  stderrLog("interrupted: stopping everything (Ctrl+C again to exit at once)");
  void closeEverything(stderrLog).finally(() => process.exit(130));
});
process.on("SIGTERM", () => {
  void closeEverything(stderrLog).finally(() => process.exit(143));
});

const date = new Date();
const tables: Table[] = [];
for (const id of flags.scenarios) {
  const scenario = buildScenario(id, flags);
  stderrLog(
    `${scenario.title}: ${flags.runs} run(s) of ${scenario.contenders.map((c) => c.label).join(", ")}`,
  );
  const result = await runScenario(scenario, {
    runs: flags.runs,
    log: stderrLog,
    signal: interrupted.signal,
  });
  const table = summarize(result);
  tables.push(table);
  process.stdout.write(`\n${renderText(table)}`);
}

if (flags.write) {
  writeDocument({
    tables,
    command: ["npm run bench", ...(argv.length > 0 ? ["--", ...argv] : [])].join(" "),
    date,
    env: describeEnvironment(),
  });
  stderrLog(`wrote ${BENCHMARKS_MD}`);
}
process.exit(tables.some((t) => t.errors.length > 0) ? 1 : 0);
