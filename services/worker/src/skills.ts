import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { fieldIssues, formatIssues, OcError, type SkillInfo, SkillName } from "@openclaw/protocol";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { resolveRun } from "./runtime/resolve.js";

/** How a skill runs, when it says so: a module file, or a command (a string is split on spaces). */
const HowToRunKeys = {
  entry: z.string().trim().min(1, "must not be empty").max(500).optional(),
  command: z
    .union([
      z
        .string()
        .trim()
        .min(1, "must not be empty")
        .transform((s) => s.split(/\s+/)),
      z.array(z.string().min(1)).min(1).max(100),
    ])
    .optional(),
};
const notBoth = (v: { entry?: string | undefined; command?: string[] | undefined }) =>
  v.entry === undefined || v.command === undefined;
const NOT_BOTH = { message: "give entry or command, not both", path: ["command"] };

/** SKILL.md front matter: `name` and `description` as in OpenClaw skills, optional `version`. */
export const SkillFrontMatter = z
  .looseObject({
    name: SkillName,
    description: z.string().trim().min(1, "must not be empty").max(2000),
    version: z.union([z.string(), z.number()]).transform(String).optional(),
    ...HowToRunKeys,
  })
  .refine(notBoth, NOT_BOTH);

/** Seed 004's optional `skill.json` beside SKILL.md; only these fields are read. */
export const SkillJson = z
  .looseObject({
    name: z.string().optional(),
    version: z.union([z.string(), z.number()]).transform(String).optional(),
    description: z.string().optional(),
    ...HowToRunKeys,
  })
  .refine(notBoth, NOT_BOTH);

/** Where a skill lives and what its manifest says about running it (SKILL.md wins over skill.json). */
export interface SkillLocation {
  dir: string;
  entry?: string;
  command?: string[];
}

export interface SkillProblem {
  /** The file (or folder) at fault. */
  file: string;
  message: string;
}

export interface SkillScan {
  skills: SkillInfo[];
  problems: SkillProblem[];
  /** Each good skill's folder and run declaration, by skill name. */
  locations: Map<string, SkillLocation>;
  /** Skills announced that nothing here can run (a SKILL.md alone): their tasks fail (OC-6008). */
  unrunnable: SkillProblem[];
  /** Changes whenever a skill folder or one of its manifest files changes. */
  signature: string;
}

const FRONT_MATTER = /^---\r?\n([\s\S]*?)\r?\n---(?:\r?\n|$)/;

/** Reads one SKILL.md; returns the front matter or a problem naming the file. */
export function parseSkillMd(
  text: string,
  file: string,
): { ok: true; value: z.output<typeof SkillFrontMatter> } | { ok: false; problem: SkillProblem } {
  const fail = (message: string) => ({ ok: false as const, problem: { file, message } });
  const match = FRONT_MATTER.exec(text.replace(/^\uFEFF/, ""));
  if (!match)
    return fail(
      "no YAML front matter (the file must start with a '---' line, then name and description, then '---')",
    );
  let doc: unknown;
  try {
    doc = parseYaml(match[1] as string);
  } catch (err) {
    return fail(`front matter is not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  const parsed = SkillFrontMatter.safeParse(doc ?? {});
  if (!parsed.success) return fail(formatIssues(fieldIssues(parsed.error)));
  return { ok: true, value: parsed.data };
}

async function fileSignature(path: string): Promise<string> {
  try {
    const s = await stat(path);
    return `${s.mtimeMs}:${s.size}`;
  } catch {
    return "-";
  }
}

/**
 * Refuses a skills directory that does not exist or cannot be read (OC-3002): a worker started
 * with a mistyped path would otherwise join with no skills and look healthy.
 */
export async function checkSkillsDir(dir: string): Promise<void> {
  const why = await stat(dir).then(
    (s) => (s.isDirectory() ? undefined : "is not a directory"),
    (err: NodeJS.ErrnoException) =>
      err.code === "ENOENT" ? "does not exist" : `cannot be read (${err.code})`,
  );
  const unreadable =
    why ??
    (await readdir(dir).then(
      () => undefined,
      (err: NodeJS.ErrnoException) => `cannot be read (${err.code})`,
    ));
  if (unreadable) {
    throw new OcError(
      "OC-3002",
      `skills directory ${dir} ${unreadable}: create it (oclaw skill init <name> --dir ${dir}) or point worker.skills_dir (--skills-dir) at your skills`,
    );
  }
}

/**
 * Reads a skills directory: one folder per skill with a SKILL.md and optionally a skill.json.
 * A malformed folder is reported in `problems` and skipped; it never throws for one.
 */
export async function scanSkills(dir: string): Promise<SkillScan> {
  const problems: SkillProblem[] = [];
  let entries: string[];
  try {
    const all = (await readdir(dir, { withFileTypes: true })).filter((e) => !e.name.startsWith("."));
    entries = [];
    for (const e of all) {
      // Follow symlinks: a skill folder linked in from elsewhere is a skill folder.
      const isDir =
        e.isDirectory() ||
        (e.isSymbolicLink() && (await stat(join(dir, e.name)).catch(() => undefined))?.isDirectory());
      if (isDir) entries.push(e.name);
    }
    entries.sort();
  } catch (err) {
    return {
      skills: [],
      problems: [
        { file: dir, message: `skills directory cannot be read (${(err as NodeJS.ErrnoException).code})` },
      ],
      locations: new Map(),
      unrunnable: [],
      signature: "missing",
    };
  }
  const skills: SkillInfo[] = [];
  const locations = new Map<string, SkillLocation>();
  const sig: string[] = [];
  for (const folder of entries) {
    const path = join(dir, folder);
    sig.push(
      `${folder}=${await fileSignature(join(path, "SKILL.md"))}/${await fileSignature(join(path, "skill.json"))}`,
    );
    const read = await readSkillFolder(path);
    if (!read.ok) {
      problems.push(read.problem);
      continue;
    }
    const { skill, location } = read;
    if (skills.some((s) => s.name === skill.name)) {
      problems.push({
        file: join(path, "SKILL.md"),
        message: `skill name '${skill.name}' is already used by another folder`,
      });
      continue;
    }
    skills.push(skill);
    locations.set(skill.name, location);
  }
  const unrunnable: SkillProblem[] = [];
  for (const [name, location] of locations) {
    const how = await resolveRun(name, location);
    if (how.kind === "none") unrunnable.push({ file: location.dir, message: how.message });
  }
  return { skills, problems, locations, unrunnable, signature: sig.join("|") };
}

/**
 * Reads one skill folder: its SKILL.md and optional skill.json. Returns what the worker announces
 * and where the skill lives, or the problem (naming the file at fault) that makes it skip the folder.
 */
export async function readSkillFolder(
  path: string,
): Promise<{ ok: true; skill: SkillInfo; location: SkillLocation } | { ok: false; problem: SkillProblem }> {
  const mdPath = join(path, "SKILL.md");
  const jsonPath = join(path, "skill.json");
  const fail = (file: string, message: string) => ({ ok: false as const, problem: { file, message } });
  let text: string;
  try {
    text = await readFile(mdPath, "utf8");
  } catch {
    return fail(mdPath, "missing: every skill folder needs a SKILL.md");
  }
  const parsedMd = parseSkillMd(text, mdPath);
  if (!parsedMd.ok) return { ok: false, problem: parsedMd.problem };
  const md = parsedMd.value;
  let version = md.version ?? null;
  let description = md.description;
  let run: Omit<SkillLocation, "dir"> = pickRun(md);
  const json = await readFile(jsonPath, "utf8").catch(() => undefined);
  if (json !== undefined) {
    let parsed: z.ZodSafeParseResult<z.output<typeof SkillJson>>;
    try {
      parsed = SkillJson.safeParse(JSON.parse(json));
    } catch (err) {
      return fail(jsonPath, `not valid JSON: ${(err as Error).message}`);
    }
    if (!parsed.success) return fail(jsonPath, formatIssues(fieldIssues(parsed.error)));
    if (parsed.data.name !== undefined && parsed.data.name !== md.name) {
      return fail(jsonPath, `name '${parsed.data.name}' differs from SKILL.md name '${md.name}'`);
    }
    version = version ?? parsed.data.version ?? null;
    if (run.entry === undefined && run.command === undefined) run = pickRun(parsed.data);
    description = description || (parsed.data.description ?? "");
  }
  return { ok: true, skill: { name: md.name, version, description }, location: { dir: path, ...run } };
}

function pickRun(v: {
  entry?: string | undefined;
  command?: string[] | undefined;
}): Omit<SkillLocation, "dir"> {
  if (v.entry !== undefined) return { entry: v.entry };
  if (v.command !== undefined) return { command: v.command };
  return {};
}
