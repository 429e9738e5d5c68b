import type { ElectOutcome } from "@openclaw/bus";
import { silentLogger } from "@openclaw/log";
import { envelope } from "@openclaw/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type NodeStore, openStore } from "../src/db/node-store.js";
import { type Api, buildApi } from "../src/http/api.js";
import type { Leadership } from "../src/leadership.js";
import { tempDir } from "./fixtures.js";

const NOW = new Date("2026-11-21T19:30:05.000Z");
const SENDER = { service: "scheduler", instance: "sched-a" };

/** A leadership whose leaders and answers the test sets. */
function fakeLeadership() {
  const asked: { roles: readonly string[]; reason: string }[] = [];
  const answering = new Set<string>(["scheduler", "health-monitor"]);
  /** Roles whose leader refuses: elected less than one election timeout ago. */
  const refusing = new Set<string>();
  const leadership: Leadership = {
    async leaders() {
      return {
        ttlMs: 5000,
        leaders: {
          scheduler: {
            role: "scheduler",
            holder: "sched-a",
            term: 42,
            acquired_at: "2026-11-21T19:00:00.000Z",
            renewed_at: "2026-11-21T19:30:04.000Z",
            expires_at: "2026-11-21T19:30:09.000Z",
          },
          "health-monitor": null,
        },
      };
    },
    async elect(roles, reason) {
      asked.push({ roles, reason });
      return roles.map(
        (role): ElectOutcome =>
          refusing.has(role)
            ? {
                role,
                ok: false,
                reason: "too_soon",
                message: `the ${role} leader ${role}-leader was elected 1.2s ago (term 7); a new election is refused within one election timeout (5.0s) of the last: try again in 3.8s`,
                retryAfterMs: 3800,
              }
            : answering.has(role)
              ? {
                  role,
                  ok: true,
                  reply: {
                    ...envelope(SENDER),
                    role,
                    holder: `${role}-leader`,
                    term: 7,
                    stepped_down: true,
                    hold_off_ms: 5000,
                  },
                }
              : {
                  role,
                  ok: false,
                  reason: "no_leader",
                  message: `no ${role} leader answered within 5000 ms`,
                },
      );
    },
  };
  return { leadership, asked, answering, refusing };
}

describe("leadership routes", () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: NodeStore;
  let api: Api;
  let fake: ReturnType<typeof fakeLeadership>;

  beforeEach(() => {
    tmp = tempDir();
    store = openStore(tmp.file("cluster.db"));
    fake = fakeLeadership();
    api = buildApi({
      store,
      log: silentLogger(),
      instance: "c1",
      now: () => NOW,
      leadership: fake.leadership,
    });
  });

  afterEach(async () => {
    await api.close();
    store.close();
    tmp.cleanup();
  });

  const post = async (body?: unknown) => {
    const res = await api.inject({
      method: "POST",
      url: "/api/v1/cluster/elect",
      ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
    });
    return { status: res.statusCode, body: res.json() };
  };

  it("GET /api/v1/cluster/leaders lists every role, null where nobody leads", async () => {
    const res = await api.inject({ method: "GET", url: "/api/v1/cluster/leaders" });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      checked_at: NOW.toISOString(),
      lease_ttl_ms: 5000,
      leaders: {
        scheduler: {
          role: "scheduler",
          holder: "sched-a",
          term: 42,
          acquired_at: "2026-11-21T19:00:00.000Z",
          renewed_at: "2026-11-21T19:30:04.000Z",
          expires_at: "2026-11-21T19:30:09.000Z",
        },
        "health-monitor": null,
      },
    });
  });

  it("POST /api/v1/cluster/elect asks one role, or every role without a body", async () => {
    expect(await post({ role: "scheduler", reason: "maintenance" })).toEqual({
      status: 200,
      body: {
        stepped_down: [{ role: "scheduler", holder: "scheduler-leader", term: 7, hold_off_ms: 5000 }],
        not_answered: [],
      },
    });
    expect(fake.asked.at(-1)).toEqual({ roles: ["scheduler"], reason: "maintenance" });

    fake.answering.delete("health-monitor");
    const both = await post();
    expect(both.status).toBe(200);
    expect(both.body).toEqual({
      stepped_down: [{ role: "scheduler", holder: "scheduler-leader", term: 7, hold_off_ms: 5000 }],
      not_answered: [
        {
          role: "health-monitor",
          reason: "no_leader",
          message: "no health-monitor leader answered within 5000 ms",
        },
      ],
    });
    expect(fake.asked.at(-1)?.roles).toEqual(["scheduler", "health-monitor"]);
  });

  // Hardening item 8: elections could be forced without limit (repeated elects kept the only
  // scheduler out ~85% of the time); a leader elected less than one election timeout ago refuses.
  it("answers 429 OC-4031 with Retry-After when the leader refused, elected less than one election timeout ago", async () => {
    fake.refusing.add("scheduler");
    const res = await api.inject({
      method: "POST",
      url: "/api/v1/cluster/elect",
      payload: { role: "scheduler" },
    });
    expect(res.statusCode).toBe(429);
    expect(res.headers["retry-after"]).toBe("4");
    expect(res.json()).toMatchObject({
      statusCode: 429,
      code: "OC-4031",
      message:
        "the scheduler leader scheduler-leader was elected 1.2s ago (term 7); a new election is refused within one election timeout (5.0s) of the last: try again in 3.8s; nothing stepped down",
    });
    // Every role: the one that stepped down makes it a 200, naming the refusal.
    const both = await post();
    expect(both.status).toBe(200);
    expect(both.body).toMatchObject({
      stepped_down: [{ role: "health-monitor" }],
      not_answered: [{ role: "scheduler", reason: "too_soon" }],
    });
  });

  it("answers 503 OC-5004 when no leader answered", async () => {
    fake.answering.clear();
    const res = await post({ role: "health-monitor" });
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({
      statusCode: 503,
      code: "OC-5004",
      message: expect.stringContaining("no health-monitor leader answered within 5000 ms"),
    });
  });

  it("refuses an unknown role or field with 400 OC-4000 naming it", async () => {
    const bad = await post({ role: "janitor" });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: "OC-4000", field: "role" });
    expect(bad.body.message).toContain("'janitor' is not a leader role; one of: scheduler, health-monitor");
    const unknown = await post({ role: "scheduler", force: true });
    expect(unknown.status).toBe(400);
    expect(unknown.body).toMatchObject({ code: "OC-4000", field: "force" });
    expect(fake.asked).toEqual([]);
  });

  it("answers 503 OC-5003 without a NATS connection", async () => {
    const offline = buildApi({ store, log: silentLogger(), instance: "c2" });
    try {
      for (const req of [
        { method: "GET" as const, url: "/api/v1/cluster/leaders" },
        { method: "POST" as const, url: "/api/v1/cluster/elect" },
      ]) {
        const res = await offline.inject(req);
        expect(res.statusCode).toBe(503);
        expect(res.json()).toMatchObject({ code: "OC-5003" });
      }
    } finally {
      await offline.close();
    }
  });
});
