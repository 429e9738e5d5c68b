import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { basename } from "node:path";

/** Linux's USER_HZ: /proc reports CPU time in these ticks; 100 on every mainstream kernel. */
const TICKS_PER_S = 100;

function read(path: string, why: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new Error(`cannot read ${path} (${why} needs Linux): ${(err as Error).message}`);
  }
}

/** Resident size of a process in MB (VmRSS of /proc/<pid>/status). */
export function rssMb(pid: number): number {
  const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(read(`/proc/${pid}/status`, "the memory scenario"))?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kb) / 1024;
}

/** CPU time (user + system) a process has used so far, in seconds; 0 once it is gone. */
export function cpuSeconds(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return 0;
  }
  // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
}

function isNode(pid: number): boolean {
  try {
    return basename(readlinkSync(`/proc/${pid}/exe`)).startsWith("node");
  } catch {
    return false;
  }
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}

/**
 * The node process that runs a service started as `pid`: the process itself, or, if `pid` is a
 * wrapper (a shell, a version manager's shim), the first node process below it.
 */
export function nodeProcessOf(pid: number): number {
  const queue = [pid];
  for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
    if (isNode(p)) return p;
    queue.push(...childrenOf(p));
  }
  throw new Error(`no node process found at or below pid ${pid}`);
}

/**
 * CPU used by a set of named processes between `start()` and `stop()`: where a run's time went.
 */
export class CpuMeter {
  readonly #pids: Map<string, number>;
  #before = new Map<string, number>();

  constructor(pids: Record<string, number>) {
    this.#pids = new Map(Object.entries(pids));
  }

  start(): void {
    this.#before = new Map([...this.#pids].map(([name, pid]) => [name, cpuSeconds(pid)]));
  }

  /** CPU seconds per process since `start()`. */
  stop(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, pid] of this.#pids) out[name] = cpuSeconds(pid) - (this.#before.get(name) ?? 0);
    return out;
  }
}
