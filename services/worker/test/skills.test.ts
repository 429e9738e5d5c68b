import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkSkillsDir, parseSkillMd, scanSkills } from "../src/skills.js";

function skillsDir(folders: Record<string, Record<string, string>>): string {
  const dir = mkdtempSync(join(tmpdir(), "oc-skills-"));
  for (const [folder, files] of Object.entries(folders)) {
    mkdirSync(join(dir, folder));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, folder, name), text);
  }
  return dir;
}

const md = (front: string) => `---\n${front}\n---\n\n# Body\n`;

describe("SKILL.md", () => {
  it("reads name, description and version from the front matter", () => {
    const r = parseSkillMd(md("name: web-search\ndescription: Searches the web\nversion: 1.2.0"), "SKILL.md");
    expect(r).toEqual({
      ok: true,
      value: { name: "web-search", description: "Searches the web", version: "1.2.0" },
    });
  });

  it("keeps unknown front matter keys (OpenClaw skills carry more) and numeric versions", () => {
    const r = parseSkillMd(md("name: x\ndescription: d\nversion: 2\nhomepage: https://x"), "SKILL.md");
    expect(r.ok && r.value.version).toBe("2");
  });

  it("reports missing front matter", () => {
    const r = parseSkillMd("# just a heading\n", "/s/SKILL.md");
    expect(r.ok).toBe(false);
    expect(!r.ok && r.problem.message).toContain("no YAML front matter");
  });

  it("reports bad YAML", () => {
    const r = parseSkillMd(md("name: [unclosed\ndescription: x"), "/s/SKILL.md");
    expect(!r.ok && r.problem.message).toContain("not valid YAML");
  });

  it("reports a missing description and a name that is not a subject token", () => {
    const a = parseSkillMd(md("name: ok"), "f");
    expect(!a.ok && a.problem.message).toContain("description");
    const b = parseSkillMd(md("name: web.search\ndescription: d"), "f");
    expect(!b.ok && b.problem.message).toMatch(/name: .*'\.'/);
  });
});

describe("how a skill says it runs", () => {
  it("reads entry, or command as a list or a string split on spaces", () => {
    const e = parseSkillMd(md("name: a\ndescription: d\nentry: lib/main.mjs"), "f");
    expect(e.ok && e.value.entry).toBe("lib/main.mjs");
    const l = parseSkillMd(md('name: a\ndescription: d\ncommand: ["python3", "main.py"]'), "f");
    expect(l.ok && l.value.command).toEqual(["python3", "main.py"]);
    const s = parseSkillMd(md("name: a\ndescription: d\ncommand: python3  main.py"), "f");
    expect(s.ok && s.value.command).toEqual(["python3", "main.py"]);
  });

  it("refuses both at once, and an empty command", () => {
    const both = parseSkillMd(md("name: a\ndescription: d\nentry: x.mjs\ncommand: ./run"), "f");
    expect(!both.ok && both.problem.message).toContain("not both");
    const empty = parseSkillMd(md("name: a\ndescription: d\ncommand: []"), "f");
    expect(empty.ok).toBe(false);
  });

  it("records each skill's folder, SKILL.md winning over skill.json", async () => {
    const dir = skillsDir({
      a: { "SKILL.md": md("name: a\ndescription: d\nentry: main.mjs"), "skill.json": '{"command":"./run"}' },
      b: { "SKILL.md": md("name: b\ndescription: d"), "skill.json": '{"command":["node","b.mjs"]}' },
      c: { "SKILL.md": md("name: c\ndescription: d") },
    });
    const scan = await scanSkills(dir);
    expect(scan.locations.get("a")).toEqual({ dir: join(dir, "a"), entry: "main.mjs" });
    expect(scan.locations.get("b")).toEqual({ dir: join(dir, "b"), command: ["node", "b.mjs"] });
    expect(scan.locations.get("c")).toEqual({ dir: join(dir, "c") });
  });
});

describe("scanSkills", () => {
  it("lists good skills and skips bad folders, naming the file at fault", async () => {
    const dir = skillsDir({
      echo: { "SKILL.md": md("name: echo\ndescription: Echo\nversion: 1.0.0") },
      json: {
        "SKILL.md": md("name: json-skill\ndescription: From json"),
        "skill.json": JSON.stringify({ name: "json-skill", version: "3.1.0" }),
      },
      nofront: { "SKILL.md": "no front matter" },
      badyaml: { "SKILL.md": md("name: : :\n  - [") },
      empty: {},
      badjson: { "SKILL.md": md("name: bj\ndescription: d"), "skill.json": "{nope" },
      mismatch: {
        "SKILL.md": md("name: mm\ndescription: d"),
        "skill.json": JSON.stringify({ name: "other" }),
      },
      "zz-dup": { "SKILL.md": md("name: echo\ndescription: again") },
      ".hidden": { "SKILL.md": md("name: hidden\ndescription: d") },
    });
    const scan = await scanSkills(dir);
    expect(scan.skills.map((s) => s.name).sort()).toEqual(["echo", "json-skill"]);
    expect(scan.skills.find((s) => s.name === "json-skill")?.version).toBe("3.1.0");
    const files = scan.problems.map((p) => p.file.slice(dir.length + 1)).sort();
    // Folders are read in name order, so the later folder of a duplicate name is the one skipped.
    expect(files).toEqual([
      "badjson/skill.json",
      "badyaml/SKILL.md",
      "empty/SKILL.md",
      "mismatch/skill.json",
      "nofront/SKILL.md",
      "zz-dup/SKILL.md",
    ]);
  });

  it("follows symlinked skill folders and ignores plain files", async () => {
    const { symlinkSync } = await import("node:fs");
    const elsewhere = skillsDir({ shared: { "SKILL.md": md("name: shared\ndescription: Linked in") } });
    const dir = skillsDir({});
    symlinkSync(join(elsewhere, "shared"), join(dir, "linked"));
    writeFileSync(join(dir, "README.md"), "not a skill");
    const scan = await scanSkills(dir);
    expect(scan.skills.map((s) => s.name)).toEqual(["shared"]);
    expect(scan.problems).toEqual([]);
  });

  // Reproduction: the README's tour added a `translate` folder holding only a SKILL.md; the node
  // announced it, and every task for it failed (OC-6008) with no word at start.
  it("names the skills it announces that nothing here can run", async () => {
    const dir = skillsDir({
      translate: { "SKILL.md": md("name: translate\ndescription: Translates") },
      echo: { "SKILL.md": md("name: echo\ndescription: Echo"), "index.mjs": "export const run = (i) => i;" },
    });
    const scan = await scanSkills(dir);
    expect(scan.skills.map((s) => s.name).sort()).toEqual(["echo", "translate"]);
    expect(scan.unrunnable).toEqual([
      {
        file: join(dir, "translate"),
        message: expect.stringContaining("skill 'translate' has no way to run it"),
      },
    ]);
  });

  // Reproduction: `oclaw worker --skills-dir /does-not-exist` joined with no skills after a
  // misleading "skill skipped" warning.
  it("refuses a skills directory that is missing or not a directory, naming it", async () => {
    await expect(checkSkillsDir("/does-not-exist")).rejects.toMatchObject({
      code: "OC-3002",
      message: expect.stringContaining("skills directory /does-not-exist does not exist"),
    });
    const dir = skillsDir({});
    writeFileSync(join(dir, "file"), "x");
    await expect(checkSkillsDir(join(dir, "file"))).rejects.toMatchObject({
      message: expect.stringContaining("is not a directory"),
    });
    await expect(checkSkillsDir(dir)).resolves.toBeUndefined();
  });

  it("reports a missing directory without throwing", async () => {
    const scan = await scanSkills("/nonexistent/skills");
    expect(scan.skills).toEqual([]);
    expect(scan.problems[0]?.message).toContain("ENOENT");
  });

  it("changes its signature when a manifest changes", async () => {
    const dir = skillsDir({ echo: { "SKILL.md": md("name: echo\ndescription: Echo") } });
    const a = await scanSkills(dir);
    writeFileSync(join(dir, "echo", "SKILL.md"), md("name: echo\ndescription: Echo, longer now"));
    const b = await scanSkills(dir);
    expect(b.signature).not.toBe(a.signature);
    rmSync(join(dir, "echo"), { recursive: true });
    expect((await scanSkills(dir)).skills).toEqual([]);
  });
});
