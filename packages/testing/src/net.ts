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
