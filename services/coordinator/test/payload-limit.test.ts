import { startNatsServer, uniquePrefix } from "@openclaw/testing";
import { describe, expect, it } from "vitest";
import { tempDir } from "./fixtures.js";
import { captureLogger, Harness } from "./harness.js";

describe("payload limit", () => {
  it("stays under the NATS server's max_payload, so a big payload gets OC-4002 rather than a failed publish", async () => {
    // A server with NATS's default limit (1 MB), below tasks.max_payload_bytes (1 MiB) plus the envelope.
    const server = await startNatsServer({ extraConfig: "max_payload: 1MB" });
    const tmp = tempDir();
    const h = new Harness(server.url, uniquePrefix());
    try {
      const { log, lines } = captureLogger();
      const coordinator = await h.coordinator(await h.context({ dbPath: tmp.file("c.db"), log }));
      expect(lines.some((l) => l.error_code === "OC-4002" && typeof l.limit === "number")).toBe(true);
      const res = await fetch(`${coordinator.url}/api/v1/tasks`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ type: "echo", payload: "x".repeat(1_000_000) }),
      });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ code: "OC-4002", field: "payload" });
      const small = await fetch(`${coordinator.url}/api/v1/tasks`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ type: "echo", payload: "x".repeat(500_000) }),
      });
      expect(small.status).toBe(202);
    } finally {
      await h.closeAll();
      tmp.cleanup();
      await server.stop();
    }
  });
});
