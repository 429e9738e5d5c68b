import type { Stats } from "node:fs";
import { stat } from "node:fs/promises";

/**
 * How long a successful stat of a skill's file answers for it. Every attempt looks at its skill's
 * folder and module file (to run the current version); under load that was a third of a worker's
 * CPU. A changed skill file is used by attempts that start at most this long after the change.
 */
export const STAT_TTL_MS = 1000;

const cache = new Map<string, { at: number; stats: Promise<Stats> }>();

/** `fs.stat`, answered from a stat of the same path made less than STAT_TTL_MS ago; failures are not kept. */
export function statCached(path: string): Promise<Stats> {
  const now = Date.now();
  const hit = cache.get(path);
  if (hit && now - hit.at < STAT_TTL_MS) return hit.stats;
  const stats = stat(path);
  cache.set(path, { at: now, stats });
  stats.catch(() => {
    if (cache.get(path)?.stats === stats) cache.delete(path);
  });
  return stats;
}
