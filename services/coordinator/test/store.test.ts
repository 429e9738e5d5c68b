import { mkdirSync, writeFileSync } from "node:fs";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { applyMigrations, MIGRATIONS } from "../src/db/migrations.js";
import { type NodeStore, openStore } from "../src/db/node-store.js";
import { deriveStatus } from "../src/status.js";
import { healthRecord, leftEvent, nodeRecord, offlineEvent, tempDir } from "./fixtures.js";

describe("migrations", () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(() => tmp.cleanup());

  it("are numbered 1, 2, 3, ... without gaps", () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
  });

  it("apply once, and re-opening the database applies nothing again", () => {
    const path = tmp.file("sub/dir/cluster.db");
    openStore(path).close(); // creates the parent directories too
    const db = new Database(path);
    try {
      const rows = db.prepare("SELECT version, name FROM schema_migrations ORDER BY version").all();
      expect(rows).toEqual(MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
      expect(applyMigrations(db)).toEqual([]);
      expect(db.prepare("SELECT COUNT(*) AS n FROM schema_migrations").get()).toEqual({
        n: MIGRATIONS.length,
      });
      expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    } finally {
      db.close();
    }
    openStore(path).close();
  });

  it("apply only the migrations newer than the database", () => {
    const db = new Database(tmp.file("m.db"));
    try {
      const extra = [
        ...MIGRATIONS,
        { version: MIGRATIONS.length + 1, name: "extra", sql: "CREATE TABLE extra (x)" },
      ];
      expect(applyMigrations(db)).toEqual(MIGRATIONS.map((m) => m.version));
      expect(applyMigrations(db, extra)).toEqual([MIGRATIONS.length + 1]);
      expect(applyMigrations(db, extra)).toEqual([]);
    } finally {
      db.close();
    }
  });
});

describe("status derivation", () => {
  const base = {
    state: "active" as const,
    health: "online" as const,
    running_tasks: 0,
    max_concurrent_tasks: 2,
  };

  it("is online for an active, healthy node with free slots", () => {
    expect(deriveStatus(base)).toBe("online");
    expect(deriveStatus({ ...base, health: null })).toBe("online");
    expect(deriveStatus({ ...base, health: "suspect" })).toBe("online");
  });

  it("is busy when every slot is taken", () => {
    expect(deriveStatus({ ...base, running_tasks: 2 })).toBe("busy");
    expect(deriveStatus({ ...base, running_tasks: 3 })).toBe("busy");
  });

  it("is offline when the node left or the health monitor says offline, even when full", () => {
    expect(deriveStatus({ ...base, state: "left", running_tasks: 2 })).toBe("offline");
    expect(deriveStatus({ ...base, health: "offline", running_tasks: 2 })).toBe("offline");
  });
});

describe("node store", () => {
  let tmp: ReturnType<typeof tempDir>;
  let store: NodeStore;
  beforeEach(() => {
    tmp = tempDir();
    store = openStore(tmp.file("cluster.db"));
  });
  afterEach(() => {
    store.close();
    tmp.cleanup();
  });

  it("forgets a node's health when it comes back as a new process, and ignores health of another session", () => {
    store.applyBatch([nodeRecord("w1")], [healthRecord("w1", "offline", "heartbeat_timeout")]);
    expect(store.getNode("w1")?.status).toBe("offline");
    const restarted = nodeRecord("w1");
    restarted.node.session = "s-new";
    store.applyBatch([restarted]);
    expect(store.getNode("w1")).toMatchObject({ status: "online", health: null });
    // A late health record of the old session does not apply; one of the new session does.
    expect(store.applyBatch([], [healthRecord("w1", "offline")])).toHaveLength(1);
    expect(store.getNode("w1")?.status).toBe("online");
    const fresh = { ...healthRecord("w1", "suspect"), session: "s-new" };
    expect(store.applyBatch([], [fresh])).toEqual([]);
    expect(store.getNode("w1")?.health).toBe("suspect");
  });

  it("filters nodes by status and by skill", () => {
    store.applyBatch([
      nodeRecord("a", { skills: ["python", "shell"] }),
      nodeRecord("b", { skills: ["python"], max: 1, running: 1 }),
      nodeRecord("c", { skills: ["python"], state: "left" }),
      nodeRecord("d", { skills: ["shell"] }),
    ]);
    expect(store.listNodes().map((n) => n.node_id)).toEqual(["a", "b", "c", "d"]);
    expect(store.listNodes(["online"]).map((n) => n.node_id)).toEqual(["a", "d"]);
    expect(store.listNodes(["busy", "offline"]).map((n) => n.node_id)).toEqual(["b", "c"]);
    expect(store.nodesWithSkill("python").map((n) => n.node_id)).toEqual(["a", "b", "c"]);
    expect(store.nodesWithSkill("python", ["online", "busy"]).map((n) => n.node_id)).toEqual(["a", "b"]);
    expect(store.nodesWithSkill("rust")).toEqual([]);
  });

  it("re-indexes skills when a node's skills change", () => {
    store.applyBatch([nodeRecord("a", { skills: ["python"] })]);
    store.applyBatch([nodeRecord("a", { skills: ["rust"] })]);
    expect(store.nodesWithSkill("python")).toEqual([]);
    expect(store.nodesWithSkill("rust").map((n) => n.node_id)).toEqual(["a"]);
  });

  it("applies health to the node's status and keeps it across record updates", () => {
    store.applyBatch([nodeRecord("a")], [healthRecord("a", "offline", "no heartbeat for 90s")]);
    expect(store.getNode("a")).toMatchObject({
      status: "offline",
      health: "offline",
      health_reason: "no heartbeat for 90s",
    });
    store.applyBatch([nodeRecord("a", { running: 1 })]);
    expect(store.getNode("a")).toMatchObject({ status: "offline", running_tasks: 1 });
    store.applyBatch([], [healthRecord("a", "online")]);
    expect(store.getNode("a")?.status).toBe("online");
  });

  it("hands back health records of nodes it has no row for", () => {
    const unmatched = store.applyBatch([], [healthRecord("ghost", "online")]);
    expect(unmatched.map((h) => h.node_id)).toEqual(["ghost"]);
    expect(store.getNode("ghost")).toBeUndefined();
  });

  it("stores events with the cursor, newest first, and moves the cursor past invalid ones", () => {
    expect(store.eventCursor()).toBe(0);
    store.recordEvent(3, offlineEvent("a"));
    store.recordEvent(4, undefined);
    store.recordEvent(7, leftEvent("a"));
    expect(store.eventCursor()).toBe(7);
    const events = store.nodeEvents("a", 10);
    expect(events.map((e) => [e.seq, e.kind])).toEqual([
      [7, "left"],
      [3, "offline"],
    ]);
    expect(JSON.parse(events[0]?.data ?? "{}")).toEqual({ reason: "SIGTERM" });
    expect(store.nodeEvents("a", 1)).toHaveLength(1);
    store.resetEventHistory();
    expect(store.eventCursor()).toBe(0);
    expect(store.nodeEvents("a", 10)).toEqual([]);
  });

  it("counts nodes and capacity per status", () => {
    store.applyBatch(
      [
        nodeRecord("a", { max: 4, running: 1 }),
        nodeRecord("b", { max: 2, running: 2 }),
        nodeRecord("c", { state: "left" }),
        nodeRecord("d"),
      ],
      [healthRecord("d", "offline")],
    );
    const totals = Object.fromEntries(store.statusTotals().map((t) => [t.status, t]));
    expect(totals.online).toMatchObject({ count: 1, capacity: 4, used: 1, timed_out: 0 });
    expect(totals.busy).toMatchObject({ count: 1, capacity: 2, used: 2 });
    expect(totals.offline).toMatchObject({ count: 2, timed_out: 1 });
  });
});

describe("openStore on a path it cannot open (--db-path /that/is/a/file/x.db gave OC-5000 without the path)", () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(() => tmp.cleanup());

  const failure = (path: string) => {
    try {
      openStore(path).close();
    } catch (err) {
      return err as { code?: string; message: string };
    }
    throw new Error(`openStore(${path}) opened`);
  };

  it("is OC-5001 naming the path: a folder that cannot be made, a folder, a file that is not SQLite", () => {
    writeFileSync(tmp.file("plain"), "not a folder");
    writeFileSync(tmp.file("garbage.db"), "x".repeat(4096));
    mkdirSync(tmp.file("folder.db"));
    for (const path of [tmp.file("plain/cluster.db"), tmp.file("folder.db"), tmp.file("garbage.db")]) {
      const err = failure(path);
      expect(err.code, path).toBe("OC-5001");
      expect(err.message).toContain(`cannot open the read model at ${path} (`);
      expect(err.message).toContain("storage.path (--db-path, OPENCLAW_DB_PATH)");
    }
  });
});
