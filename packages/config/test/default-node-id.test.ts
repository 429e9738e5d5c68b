import { describe, expect, it, vi } from "vitest";

vi.mock("node:os", async (original) => ({
  ...(await original<typeof import("node:os")>()),
  hostname: () => "online",
}));

const { defaultNodeId, loadConfig } = await import("../src/index.js");

// Hardening item 11: node ids 'online' and 'skills' are refused (the node routes shadow them); a
// worker on a machine of that name must still start with its default id.
describe("the default worker.node_id", () => {
  it("is not a reserved id on a machine called 'online'", () => {
    expect(defaultNodeId()).toBe("online-worker");
    expect(loadConfig({ cwd: "/", env: {} }).config.worker.node_id).toBe("online-worker");
  });
});
