import { createServer } from "node:net";

/**
 * A TCP port that was free a moment ago on 127.0.0.1. Only for a server started by a program the
 * test does not control (like `oclaw up`'s nats-server); a server of our own should listen on 0.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

/** `count` consecutive TCP ports that were free a moment ago on 127.0.0.1 (for `--metrics-port N`). */
export async function freePortRange(count: number): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const base = await freePort();
    if (base + count > 65_535) continue;
    let free = true;
    for (let i = 1; i < count && free; i++) free = await canListen(base + i);
    if (free) return base;
  }
  throw new Error(`no ${count} consecutive free ports found`);
}
