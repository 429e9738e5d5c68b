import { parseArgs } from "node:util";
import { z } from "zod";
import { SCENARIO_IDS } from "./registry.js";

export const USAGE = `usage: npm run bench -- [flags]

  --scenarios <list>    comma separated, from: ${SCENARIO_IDS.join(", ")} (default: all)
  --runs <n>            runs per contender, interleaved (default 3)
  --tasks <n>           throughput: tasks per run (default 50000)
  --rate <n>            latency: tasks per second (default 1000)
  --seconds <n>         latency: for how long (default 10)
  --failover-tasks <n>  failover: checkpointed tasks on the worker that is killed (default 200)
  --nodes <n>           api, scale: simulated nodes (default 1000)
  --api-seconds <n>     api: seconds of load per endpoint (default 10)
  --scale-seconds <n>   scale: seconds the simulated nodes are watched (default 60)
  --queued-tasks <n>    scale: tasks queued in the scheduler (default 100000)
  --no-write            print only; do not write docs/benchmarks.md
`;

const int = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, "expected a whole number")
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const secondsFlag = (min: number) =>
  z
    .string()
    .regex(/^\d+(\.\d+)?$/, "expected a number of seconds")
    .transform(Number)
    .pipe(z.number().min(min).max(3600));

/** Flags spelled with dashes, by the field they fill. */
const DASHED = {
  failoverTasks: "failover-tasks",
  apiSeconds: "api-seconds",
  scaleSeconds: "scale-seconds",
  queuedTasks: "queued-tasks",
} as const;

export const BenchFlags = z.strictObject({
  scenarios: z
    .string()
    .transform((s) => [
      ...new Set(
        s
          .split(",")
          .map((x) => x.trim())
          .filter((x) => x !== ""),
      ),
    ])
    .pipe(z.array(z.enum(SCENARIO_IDS, { error: `expected one of ${SCENARIO_IDS.join(", ")}` })).min(1)),
  runs: int(1, 50),
  tasks: int(1, 10_000_000),
  rate: int(1, 100_000),
  seconds: secondsFlag(0.1),
  failoverTasks: int(1, 10_000),
  nodes: int(1, 100_000),
  apiSeconds: secondsFlag(1),
  scaleSeconds: secondsFlag(1),
  queuedTasks: int(1, 10_000_000),
  write: z.boolean(),
});
export type BenchFlags = z.output<typeof BenchFlags>;

export type ParsedFlags = { ok: true; flags: BenchFlags } | { ok: false; help: boolean; errors: string[] };

/** Reads the command line; every problem is reported naming its flag. */
export function parseFlags(argv: string[]): ParsedFlags {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        scenarios: { type: "string", default: SCENARIO_IDS.join(",") },
        runs: { type: "string", default: "3" },
        tasks: { type: "string", default: "50000" },
        rate: { type: "string", default: "1000" },
        seconds: { type: "string", default: "10" },
        "failover-tasks": { type: "string", default: "200" },
        nodes: { type: "string", default: "1000" },
        "api-seconds": { type: "string", default: "10" },
        "scale-seconds": { type: "string", default: "60" },
        "queued-tasks": { type: "string", default: "100000" },
        "no-write": { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    }).values;
  } catch (err) {
    return { ok: false, help: false, errors: [(err as Error).message] };
  }
  if (values.help) return { ok: false, help: true, errors: [] };
  const { "no-write": noWrite, help: _help, ...rest } = values;
  for (const [field, flag] of Object.entries(DASHED)) {
    rest[field] = rest[flag];
    delete rest[flag];
  }
  const parsed = BenchFlags.safeParse({ ...rest, write: !noWrite });
  if (parsed.success) return { ok: true, flags: parsed.data };
  return {
    ok: false,
    help: false,
    errors: parsed.error.issues.map((i) => {
      const field = String(i.path[0] ?? "");
      const flag = (DASHED as Record<string, string>)[field] ?? field;
      const given = (values as Record<string, unknown>)[flag];
      return `--${flag} ${JSON.stringify(given)}: ${i.message}`;
    }),
  };
}
