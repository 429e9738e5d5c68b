import { hostname } from "node:os";
import {
  type Cluster,
  type ElectOutcome,
  type LeaderInfo,
  readLeaders,
  requestElection,
} from "@openclaw/bus";
import { DURATION_RULE, LEADER_ROLES, parseDuration } from "@openclaw/protocol";
import { type Command, Option } from "commander";
import { type ConnectOptions, connectFlags, withCluster } from "./connect.js";
import { EXIT } from "./service.js";

interface ElectOptions extends ConnectOptions {
  role?: string;
  timeout?: string;
  wait?: boolean;
  reason?: string;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/** The leaders as a small table, one role a line. */
function leadersTable(leaders: Record<string, LeaderInfo | null>, now: number): string {
  const rows = [["ROLE", "LEADER", "TERM", "SINCE", "EXPIRES IN"]];
  for (const [role, l] of Object.entries(leaders)) {
    rows.push(
      l
        ? [
            role,
            l.holder,
            String(l.term),
            l.acquired_at,
            seconds(Math.max(0, Date.parse(l.expires_at) - now)),
          ]
        : [role, "(none)", "-", "-", "-"],
    );
  }
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** `oclaw leaders`: every role's leader, from the `leases` bucket. */
export function leaders(o: ConnectOptions): Promise<void> {
  return withCluster("leaders", o, async (cluster) => {
    const { ttlMs, leaders } = await readLeaders(cluster);
    const now = Date.now();
    process.stdout.write(
      o.json
        ? `${JSON.stringify({ checked_at: new Date(now).toISOString(), lease_ttl_ms: ttlMs, leaders })}\n`
        : `${leadersTable(leaders, now)}\n`,
    );
    return EXIT.ok;
  });
}

/** Waits until someone leads `role` in a term after `term`; undefined when nobody does in time. */
async function nextLeader(cluster: Cluster, role: string, term: number, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const l = (await readLeaders(cluster, [role])).leaders[role];
    if (l && l.term > term) return l;
    if (Date.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * `oclaw elect [--role r]`: asks the leader of each role (default: every role) to step down, so a
 * new election happens; exits 1 when a role's leader did not answer.
 */
export function elect(o: ElectOptions): Promise<void> {
  const timeoutMs = parseDuration(o.timeout ?? "5s");
  if (timeoutMs === undefined || timeoutMs <= 0) {
    process.stderr.write(`oclaw elect: --timeout '${o.timeout}' is not ${DURATION_RULE}\n`);
    process.exit(EXIT.usage);
  }
  return withCluster("elect", o, async (cluster, config, sender) => {
    const roles = o.role ? [o.role] : [...LEADER_ROLES];
    const outcomes: ElectOutcome[] = await Promise.all(
      roles.map((role) =>
        requestElection(cluster, sender, role, {
          timeoutMs,
          reason: o.reason ?? `oclaw elect on ${hostname()}`,
        }),
      ),
    );
    const result = {
      stepped_down: [] as { role: string; holder: string; term: number; hold_off_ms: number }[],
      not_answered: [] as { role: string; reason: string; message: string }[],
      elected: [] as LeaderInfo[],
    };
    for (const out of outcomes) {
      if (out.ok) {
        const { role, holder, term, hold_off_ms } = out.reply;
        result.stepped_down.push({ role, holder, term, hold_off_ms });
        if (!o.json) {
          process.stdout.write(
            `${role}: ${holder} stepped down (term ${term}); it stays out of the election for ${seconds(hold_off_ms)}\n`,
          );
        }
      } else {
        result.not_answered.push({ role: out.role, reason: out.reason, message: out.message });
        // OC-4031: the leader refused, elected less than one election timeout ago.
        const code = out.reason === "too_soon" ? "OC-4031" : "OC-5004";
        if (!o.json) process.stderr.write(`oclaw elect: [${code}] ${out.message}\n`);
      }
    }
    if (o.wait) {
      // A standby wins within a renew interval; alone, the old leader is back after its hold-off.
      await Promise.all(
        result.stepped_down.map(async (s) => {
          const waitMs = s.hold_off_ms + config.cluster.election_timeout + timeoutMs;
          const next = await nextLeader(cluster, s.role, s.term, waitMs);
          if (next) {
            result.elected.push(next);
            if (!o.json) process.stdout.write(`${s.role}: ${next.holder} leads now (term ${next.term})\n`);
          } else {
            result.not_answered.push({
              role: s.role,
              reason: "no_leader",
              message: `nobody took the ${s.role} lease within ${seconds(waitMs)}`,
            });
            if (!o.json) process.stderr.write(`oclaw elect: nobody took the ${s.role} lease in time\n`);
          }
        }),
      );
    }
    if (o.json) {
      const shown = o.wait
        ? result
        : { stepped_down: result.stepped_down, not_answered: result.not_answered };
      process.stdout.write(`${JSON.stringify(shown)}\n`);
    }
    return result.not_answered.length === 0 ? EXIT.ok : EXIT.failed;
  });
}

export function registerLeaderCommands(program: Command): void {
  connectFlags(
    program
      .command("leaders")
      .description("show which instance leads each role (scheduler, health-monitor), from the leases bucket"),
  ).action((opts: ConnectOptions) => leaders(opts));

  connectFlags(
    program
      .command("elect")
      .description(
        "trigger a leader election: the current leader steps down and stays out for one election timeout, so a standby takes over",
      )
      .addOption(new Option("--role <role>", "only this role (default: every role)").choices(LEADER_ROLES))
      .option("--timeout <duration>", "how long to wait for each leader's answer", "5s")
      .option("--wait", "wait until a new leader holds each lease, and print it")
      .option("--reason <text>", "why, for the services' logs"),
  ).action((opts: ElectOptions) => elect(opts));
}
