import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnOclaw, waitFor } from "@openclaw/testing";
import { scanSkills } from "@openclaw/worker";
import { afterAll, describe, expect, it } from "vitest";

const root = mkdtempSync(join(tmpdir(), "oc-skill-cli-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const LANGS = ["js", "ts", "python", "bash"] as const;
/** The file each language's skill runs from, and whether it must be executable. */
const ENTRY = { js: "index.mjs", ts: "index.ts", python: "main.py", bash: "run" } as const;

let n = 0;
/** A fresh, empty folder under the test's temp dir. */
function freshDir(): string {
  const dir = join(root, `d${++n}`);
  mkdirSync(dir);
  return dir;
}

/** Runs `oclaw <args>` to its end: exit code, stdout, stderr. */
async function oclaw(args: string[], cwd = root) {
  const proc = spawnOclaw(args, { cwd });
  const code = await proc.exitWithin(30_000);
  return { code, stdout: proc.stdout(), stderr: proc.stderr() };
}

/** The lines of `text`, without empty ones. */
const lines = (text: string) => text.split("\n").filter((l) => l.trim() !== "");

/** `oclaw skill init` of one skill per language into `dir`; the folders, by language. */
async function initAll(dir: string, prefix: string): Promise<Record<(typeof LANGS)[number], string>> {
  const results = await Promise.all(
    LANGS.map((lang) => oclaw(["skill", "init", `${prefix}-${lang}`, "--lang", lang, "--dir", dir])),
  );
  for (const [i, r] of results.entries()) expect(r.code, `${LANGS[i]}: ${r.stderr}`).toBe(0);
  return Object.fromEntries(LANGS.map((lang) => [lang, join(dir, `${prefix}-${lang}`)])) as Record<
    (typeof LANGS)[number],
    string
  >;
}

/** `oclaw skill init` of one skill into a fresh folder; its folder. */
async function initOne(lang: (typeof LANGS)[number], name: string): Promise<string> {
  const dir = freshDir();
  const r = await oclaw(["skill", "init", name, "--lang", lang, "--dir", dir]);
  expect(r.code, r.stderr).toBe(0);
  return join(dir, name);
}

/** Pids of the processes whose working directory is `dir` (a command skill runs in its folder). */
function processesIn(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/cwd`) === dir) pids.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}

/** A skill folder of its own: a SKILL.md naming `name`, and the given files. */
function customSkill(name: string, files: Record<string, string>, frontMatter = ""): string {
  const dir = join(freshDir(), name);
  mkdirSync(dir);
  writeFileSync(join(dir, "SKILL.md"), `---\nname: ${name}\ndescription: A test skill.\n${frontMatter}---\n`);
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text, { mode: 0o755 });
  return dir;
}

describe("oclaw skill init", () => {
  it("writes a skill in each language that the worker's scanner finds, at version 0.1.0, runnable", async () => {
    const dir = freshDir();
    const folders = await initAll(dir, "hello");
    for (const lang of LANGS) {
      const entry = join(folders[lang], ENTRY[lang]);
      expect(statSync(join(folders[lang], "SKILL.md")).isFile()).toBe(true);
      expect(statSync(entry).isFile(), lang).toBe(true);
      if (lang === "python" || lang === "bash") expect(statSync(entry).mode & 0o111, lang).toBe(0o111);
    }
    const scan = await scanSkills(dir);
    expect(scan.problems).toEqual([]);
    expect(scan.unrunnable).toEqual([]);
    expect(scan.skills.map((s) => [s.name, s.version]).sort()).toEqual(
      LANGS.map((lang) => [`hello-${lang}`, "0.1.0"]).sort(),
    );
    for (const s of scan.skills) expect(s.description).not.toBe("");
    // The python skill says how it runs in its front matter; the bash one is the executable `run`.
    expect(scan.locations.get("hello-python")?.command).toEqual(["python3", "main.py"]);
  });

  it("prints what it wrote and the command to run it, which works as printed", async () => {
    const cwd = freshDir();
    const init = await oclaw(["skill", "init", "greet"], cwd);
    expect(init.code).toBe(0);
    expect(init.stdout).toContain(join("skills", "greet", "SKILL.md"));
    expect(init.stdout).toContain(join("skills", "greet", "index.mjs"));
    const hint = lines(init.stdout)
      .map((l) => l.trim())
      .find((l) => l.startsWith("oclaw skill run "));
    expect(hint).toBe(`oclaw skill run skills/greet --payload '{"name":"Ada"}'`);
    // The printed command, as a shell would split it.
    const run = await oclaw(["skill", "run", "skills/greet", "--payload", '{"name":"Ada"}'], cwd);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ greeting: "Hello, Ada!", steps: 3, resumed_from: 0 });
  });

  it("quotes a name YAML would read as a number, so the scanner still reads it as the name", async () => {
    const dir = freshDir();
    const init = await oclaw(["skill", "init", "2024", "--dir", dir]);
    expect(init.code, init.stderr).toBe(0);
    const scan = await scanSkills(dir);
    expect(scan.problems).toEqual([]);
    expect(scan.skills.map((s) => s.name)).toEqual(["2024"]);
  });

  it("refuses a name that is not a subject token: exit 2, one line, nothing written", async () => {
    const dir = freshDir();
    for (const name of ["a.b", "has space", "x".repeat(65)]) {
      const r = await oclaw(["skill", "init", name, "--dir", dir]);
      expect(r.code, name).toBe(2);
      expect(lines(r.stderr), name).toHaveLength(1);
      expect(r.stderr).toContain(`oclaw skill init: invalid skill name '${name}'`);
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  it("refuses an existing folder (exit 2, one line) and leaves it as it was", async () => {
    const dir = freshDir();
    expect((await oclaw(["skill", "init", "twice", "--dir", dir])).code).toBe(0);
    const md = join(dir, "twice", "SKILL.md");
    writeFileSync(md, "---\nname: twice\ndescription: edited by hand\n---\n");
    const again = await oclaw(["skill", "init", "twice", "--dir", dir, "--lang", "python"]);
    expect(again.code).toBe(2);
    expect(lines(again.stderr)).toEqual([
      `oclaw skill init: ${join(dir, "twice")} already exists; nothing written (pick another name or --dir)`,
    ]);
    expect(readFileSync(md, "utf8")).toContain("edited by hand");
    expect(readdirSync(join(dir, "twice")).sort()).toEqual(["SKILL.md", "index.mjs"]);
  });

  it("refuses a name another folder of the skills folder already has", async () => {
    const dir = freshDir();
    mkdirSync(join(dir, "other"));
    writeFileSync(join(dir, "other", "SKILL.md"), "---\nname: taken\ndescription: here first\n---\n");
    const r = await oclaw(["skill", "init", "taken", "--dir", dir]);
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toEqual([
      `oclaw skill init: ${join(dir, "other")} already holds a skill named 'taken'`,
    ]);
    expect(readdirSync(dir)).toEqual(["other"]);
  });

  it("takes only the languages it knows (exit 2)", async () => {
    const r = await oclaw(["skill", "init", "x", "--lang", "rust", "--dir", freshDir()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Allowed choices are js, ts, python, bash");
  });
});

describe("oclaw skill run", () => {
  it("runs a new skill of each language: the result on stdout, progress and checkpoints on stderr", async () => {
    const folders = await initAll(freshDir(), "run");
    const runs = await Promise.all(
      LANGS.map((lang) => oclaw(["skill", "run", folders[lang], "--payload", '{"name":"Ada"}'])),
    );
    for (const [i, r] of runs.entries()) {
      const lang = LANGS[i] as string;
      expect(r.code, `${lang}: ${r.stderr}`).toBe(0);
      expect(JSON.parse(r.stdout), lang).toEqual({ greeting: "Hello, Ada!", steps: 3, resumed_from: 0 });
      const err = lines(r.stderr);
      expect(err, lang).toContain("progress  33% step 1 of 3");
      expect(err, lang).toContain("progress 100% step 3 of 3");
      expect(err, lang).toContain('checkpoint {"step":1}');
      expect(err, lang).toContain('checkpoint {"step":3}');
      // A module skill's ctx.log comes out on stderr too.
      if (lang === "js" || lang === "ts") expect(err, lang).toContain('info greeted {"name":"Ada"}');
    }
  });

  it("resumes from --checkpoint, and --json prints one line with the result and the last checkpoint", async () => {
    const folders = await initAll(freshDir(), "resume");
    const runs = await Promise.all(
      LANGS.map((lang) =>
        oclaw([
          "skill",
          "run",
          folders[lang],
          "--payload",
          '{"steps":4}',
          "--checkpoint",
          '{"step":2}',
          "--json",
        ]),
      ),
    );
    for (const [i, r] of runs.entries()) {
      const lang = LANGS[i] as string;
      expect(r.code, `${lang}: ${r.stderr}`).toBe(0);
      expect(lines(r.stdout), lang).toHaveLength(1);
      expect(JSON.parse(r.stdout), lang).toMatchObject({
        status: "completed",
        skill: `resume-${lang}`,
        result: { greeting: "Hello, world!", steps: 4, resumed_from: 2 },
        checkpoint: { step: 4 },
      });
      expect(r.stderr, lang).not.toContain('checkpoint {"step":2}');
      expect(r.stderr, lang).toContain('checkpoint {"step":3}');
    }
  });

  it("reads the payload from --payload-file", async () => {
    const folder = await initOne("python", "file");
    const file = join(root, "payload.json");
    writeFileSync(file, '{ "name": "Grace", "steps": 1 }\n');
    const r = await oclaw(["skill", "run", folder, "--payload-file", file]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ greeting: "Hello, Grace!", steps: 1, resumed_from: 0 });
  });

  it("a failing skill exits 1 with its error code and message in one line", async () => {
    const mod = customSkill("throws", {
      "index.mjs": `export async function run(input, ctx) {
        ctx.progress(50, "half way");
        throw new Error("the document is empty");
      }`,
    });
    const cmd = customSkill("exits", {
      run: "#!/bin/sh\necho 'reading input' >&2\necho 'disk full' >&2\nexit 3\n",
    });
    const [m, c, mJson] = await Promise.all([
      oclaw(["skill", "run", mod]),
      oclaw(["skill", "run", cmd]),
      oclaw(["skill", "run", mod, "--json"]),
    ]);
    expect(m.code).toBe(1);
    expect(m.stdout).toBe("");
    expect(lines(m.stderr).filter((l) => l.startsWith("oclaw skill run:"))).toEqual([
      "oclaw skill run: [OC-6001] the document is empty",
    ]);
    expect(lines(m.stderr)).toContain("progress  50% half way");

    expect(c.code).toBe(1);
    // The command's stderr as it came, then one line ending with its last line.
    expect(lines(c.stderr).slice(0, 2)).toEqual(["reading input", "disk full"]);
    expect(lines(c.stderr).at(-1)).toBe(
      `oclaw skill run: [OC-6002] command '${join(cmd, "run")}' exited with code 3: disk full (its stderr is above)`,
    );

    expect(mJson.code).toBe(1);
    expect(JSON.parse(mJson.stdout)).toMatchObject({
      status: "failed",
      skill: "throws",
      error: { code: "OC-6001", message: "the document is empty", retryable: true },
    });
  });

  it("a folder with no way to run it fails with OC-6008", async () => {
    const dir = customSkill("nothing", {});
    const r = await oclaw(["skill", "run", dir]);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/^oclaw skill run: \[OC-6008\] skill 'nothing' has no way to run it/);
  });

  it("Ctrl+C (SIGINT) cancels a long-running skill of each language promptly: exit 1, OC-6005, nothing left running", async () => {
    const folders = await initAll(freshDir(), "long");
    const procs = LANGS.map((lang) =>
      spawnOclaw(["skill", "run", folders[lang], "--payload", '{"steps":100000}'], { cwd: root }),
    );
    // Under way: its first checkpoint is out.
    await Promise.all(
      procs.map((p) => waitFor(() => p.stderr().includes('checkpoint {"step":1}'), { timeout: 20_000 })),
    );
    const codes = await Promise.all(
      procs.map((p) => {
        p.kill("SIGINT");
        return p.exitWithin(5_000);
      }),
    );
    for (const [i, p] of procs.entries()) {
      const lang = LANGS[i] as string;
      expect(codes[i], `${lang}: ${p.stderr()}`).toBe(1);
      expect(p.stdout(), lang).toBe("");
      expect(lines(p.stderr()).at(-1), lang).toBe("oclaw skill run: [OC-6005] cancelled (SIGINT)");
    }
    // A command skill's process group was ended with it (bash's sleep included).
    await waitFor(() => processesIn(folders.python).length + processesIn(folders.bash).length === 0, {
      timeout: 5_000,
      message: "a command skill still runs",
    });
  });

  it("SIGTERM cancels too, and --json says cancelled with the last checkpoint", async () => {
    const folder = await initOne("js", "term-js");
    const proc = spawnOclaw(["skill", "run", folder, "--payload", '{"steps":100000}', "--json"], {
      cwd: root,
    });
    await waitFor(() => proc.stderr().includes('checkpoint {"step":2}'), { timeout: 20_000 });
    proc.kill("SIGTERM");
    expect(await proc.exitWithin(5_000)).toBe(1);
    const out = JSON.parse(proc.stdout()) as { checkpoint: { step: number } };
    expect(out).toMatchObject({
      status: "cancelled",
      skill: "term-js",
      error: { code: "OC-6005", message: "cancelled (SIGTERM)" },
    });
    expect(out.checkpoint.step).toBeGreaterThanOrEqual(2);
  });

  it("usage errors exit 2 in one line: bad JSON names its flag, a missing folder, a folder that is not a skill", async () => {
    const folder = await initOne("js", "usage");
    const cases: [string[], string][] = [
      [["--payload", "{bad"], "oclaw skill run: --payload is not JSON: "],
      [["--checkpoint", "step 2"], "oclaw skill run: --checkpoint is not JSON: "],
      [
        ["--payload", "1", "--payload-file", "x.json"],
        "oclaw skill run: give --payload or --payload-file, not both",
      ],
      [["--payload-file", join(root, "no-such.json")], "oclaw skill run: --payload-file: cannot read "],
    ];
    const bad = join(root, "bad.json");
    writeFileSync(bad, "{ not json");
    cases.push([["--payload-file", bad], `oclaw skill run: --payload-file (${bad}) is not JSON: `]);
    const runs = await Promise.all(cases.map(([flags]) => oclaw(["skill", "run", folder, ...flags])));
    for (const [i, r] of runs.entries()) {
      const [flags, start] = cases[i] as [string[], string];
      expect(r.code, flags.join(" ")).toBe(2);
      expect(lines(r.stderr), flags.join(" ")).toHaveLength(1);
      expect(r.stderr.startsWith(start), `${flags.join(" ")}: ${r.stderr}`).toBe(true);
    }
    const missing = await oclaw(["skill", "run", join(root, "no-such-skill")]);
    expect(missing.code).toBe(2);
    expect(lines(missing.stderr)).toEqual([
      `oclaw skill run: ${join(root, "no-such-skill")} is not a folder (give a skill's folder, the one holding its SKILL.md)`,
    ]);
    const notSkill = await oclaw(["skill", "run", freshDir()]);
    expect(notSkill.code).toBe(2);
    expect(lines(notSkill.stderr)).toHaveLength(1);
    expect(notSkill.stderr).toMatch(/^oclaw skill run: \[OC-3001\] .*SKILL\.md: missing/);
  });
});
