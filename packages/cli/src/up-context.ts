import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { z } from "zod";

/**
 * While `oclaw up` runs it records which cluster it started, so that every other `oclaw` command
 * on this machine talks to that cluster without the user exporting anything (as kubectl's current
 * context). The record is a file in `$OCLAW_HOME` (default `~/.oclaw`), removed when `up` stops;
 * a record whose `up` process is gone is ignored.
 */
const UpContextSchema = z.object({
  pid: z.number().int().positive(),
  nats_url: z.string().min(1),
  subject_prefix: z.string().min(1),
  api_url: z.string().min(1),
  config_file: z.string().optional(),
  secrets_file: z.string().optional(),
  data_dir: z.string(),
  started_at: z.string(),
});
export type UpContext = z.infer<typeof UpContextSchema>;

type Env = Record<string, string | undefined>;

/** The file a running `oclaw up` records itself in. */
export function upContextFile(env: Env = process.env): string {
  return join(env.OCLAW_HOME || join(homedir(), ".oclaw"), "up.json");
}

export function writeUpContext(ctx: UpContext, env: Env = process.env): void {
  const file = upContextFile(env);
  mkdirSync(join(file, ".."), { recursive: true });
  // Written whole and renamed, so a command never reads half a record.
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(ctx, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

/** Removes the record if it is still this process's (another `up` may have started since). */
export function forgetUpContext(pid: number = process.pid, env: Env = process.env): void {
  if (readRecord(env)?.pid === pid) rmSync(upContextFile(env), { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function readRecord(env: Env): UpContext | undefined {
  let text: string;
  try {
    text = readFileSync(upContextFile(env), "utf8");
  } catch {
    return undefined;
  }
  try {
    const parsed = UpContextSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The cluster a running `oclaw up` started, if one runs on this machine. */
export function readUpContext(env: Env = process.env): UpContext | undefined {
  const ctx = readRecord(env);
  return ctx && alive(ctx.pid) ? ctx : undefined;
}

/** What a command was told about which cluster to use; any of it overrides the running `up`. */
export interface ClusterChoice {
  config?: unknown;
  natsUrl?: unknown;
  apiUrl?: unknown;
}

/**
 * The running `up` a command should follow: only when neither a flag nor the environment names a
 * cluster (`-c`, `--nats-url`, `--api-url`, OPENCLAW_CONFIG, NATS_URL, OPENCLAW_API_URL).
 */
export function impliedUpContext(o: ClusterChoice, env: Env = process.env): UpContext | undefined {
  if (o.config || o.natsUrl || o.apiUrl) return undefined;
  if (env.OPENCLAW_CONFIG || env.NATS_URL || env.OPENCLAW_API_URL) return undefined;
  return readUpContext(env);
}
