import { statfs } from "node:fs/promises";
import { cpus, freemem, networkInterfaces, totalmem } from "node:os";

/** True for addresses in Tailscale's CGNAT range, 100.64.0.0/10. */
export function isTailscaleIp(ip: string): boolean {
  const parts = ip.split(".").map(Number);
  return parts.length === 4 && parts[0] === 100 && (parts[1] as number) >= 64 && (parts[1] as number) <= 127;
}

/** The machine's LAN address and, when it is on a tailnet, its Tailscale address. */
export function machineAddresses(interfaces: ReturnType<typeof networkInterfaces> = networkInterfaces()): {
  ip: string | null;
  tailscaleIp: string | null;
} {
  let ip: string | null = null;
  let tailscaleIp: string | null = null;
  for (const list of Object.values(interfaces)) {
    for (const a of list ?? []) {
      if (a.family !== "IPv4" || a.internal) continue;
      if (isTailscaleIp(a.address)) tailscaleIp ??= a.address;
      else ip ??= a.address;
    }
  }
  return { ip: ip ?? tailscaleIp, tailscaleIp };
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

/** CPU use between two calls (the first call measures since boot), memory and disk use, in percent. */
export class MachineLoad {
  #last = cpuTimes();
  readonly #diskPath: string;

  constructor(diskPath: string) {
    this.#diskPath = diskPath;
  }

  cpu(): number {
    const now = cpuTimes();
    const busy = now.busy - this.#last.busy;
    const total = now.total - this.#last.total;
    this.#last = now;
    return total > 0 ? round1(Math.min(100, (busy / total) * 100)) : 0;
  }

  memory(): number {
    const total = totalmem();
    return total > 0 ? round1(((total - freemem()) / total) * 100) : 0;
  }

  async disk(): Promise<number> {
    try {
      const s = await statfs(this.#diskPath);
      return s.blocks > 0 ? round1(((s.blocks - s.bavail) / s.blocks) * 100) : 0;
    } catch {
      return 0;
    }
  }
}

function cpuTimes(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const c of cpus()) {
    const t = c.times;
    busy += t.user + t.nice + t.sys + t.irq;
    total += t.user + t.nice + t.sys + t.irq + t.idle;
  }
  return { busy, total };
}
