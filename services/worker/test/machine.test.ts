import type { NetworkInterfaceInfo } from "node:os";
import { describe, expect, it } from "vitest";
import { isTailscaleIp, MachineLoad, machineAddresses } from "../src/machine.js";

function v4(address: string, internal = false): NetworkInterfaceInfo {
  return {
    address,
    family: "IPv4",
    internal,
    netmask: "255.255.255.0",
    mac: "00:00:00:00:00:00",
    cidr: null,
  };
}

describe("machine addresses", () => {
  it("recognises Tailscale's 100.64.0.0/10 range only", () => {
    expect(isTailscaleIp("100.64.0.1")).toBe(true);
    expect(isTailscaleIp("100.127.255.254")).toBe(true);
    expect(isTailscaleIp("100.63.0.1")).toBe(false);
    expect(isTailscaleIp("100.128.0.1")).toBe(false);
    expect(isTailscaleIp("10.0.0.1")).toBe(false);
  });

  it("separates the LAN address from the tailnet address", () => {
    const a = machineAddresses({
      lo: [v4("127.0.0.1", true)],
      eth0: [v4("192.168.1.5")],
      tailscale0: [v4("100.101.1.2")],
    });
    expect(a).toEqual({ ip: "192.168.1.5", tailscaleIp: "100.101.1.2" });
  });

  it("falls back to the tailnet address, then to none", () => {
    expect(machineAddresses({ tailscale0: [v4("100.101.1.2")] })).toEqual({
      ip: "100.101.1.2",
      tailscaleIp: "100.101.1.2",
    });
    expect(machineAddresses({ lo: [v4("127.0.0.1", true)] })).toEqual({ ip: null, tailscaleIp: null });
  });
});

describe("machine load", () => {
  it("reports percentages between 0 and 100", async () => {
    const load = new MachineLoad("/");
    for (const v of [load.cpu(), load.memory(), await load.disk()]) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(100);
    }
    expect(await load.disk()).toBeGreaterThan(0);
  });
});
