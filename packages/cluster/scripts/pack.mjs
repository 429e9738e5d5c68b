#!/usr/bin/env node
// `npm run sdk:pack [-- --out DIR]`: builds the SDK and writes npm tarballs of @openclaw/cluster and
// every workspace package it needs at run time (its `dependencies`, transitively) into DIR
// (default ./sdk-dist), then prints the one `npm install` command that installs them in another
// project.
//
// Each tarball holds package.json and dist/ (and a README, if the package has one). In the packed
// package.json the workspace dependencies ("*") become `file:./<tarball>`: npm resolves those next
// to the tarball being installed, so it takes the sibling tarballs and never asks the registry for
// an @openclaw/* package (with "*" it looks each one up there first, and would take one published
// under that name). Keep the tarballs together in one folder.
import { spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const SDK = "@openclaw/cluster";

/** What stops the packing, said in one line (the staging folder is removed first). */
class PackError extends Error {}

function fail(message) {
  throw new PackError(message);
}

function args(argv) {
  let out = join(ROOT, "sdk-dist");
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--out" && argv[i + 1]) out = resolve(argv[++i]);
    else if (a.startsWith("--out=")) out = resolve(a.slice("--out=".length));
    else if (a === "-h" || a === "--help") {
      process.stdout.write("usage: npm run sdk:pack [-- --out DIR]   (default DIR: ./sdk-dist)\n");
      process.exit(0);
    } else fail(`unknown argument ${JSON.stringify(a)} (usage: npm run sdk:pack [-- --out DIR])`);
  }
  return { out };
}

const readJson = (file) => JSON.parse(readFileSync(file, "utf8"));

/** Workspace package name -> folder, from the root package.json's "workspaces" ("dir/*" forms). */
function workspaces() {
  const map = new Map();
  for (const pattern of readJson(join(ROOT, "package.json")).workspaces ?? []) {
    const dirs = pattern.endsWith("/*")
      ? readdirSync(join(ROOT, pattern.slice(0, -2)), { withFileTypes: true })
          .filter((d) => d.isDirectory())
          .map((d) => join(ROOT, pattern.slice(0, -2), d.name))
      : [join(ROOT, pattern)];
    for (const dir of dirs) {
      if (existsSync(join(dir, "package.json"))) map.set(readJson(join(dir, "package.json")).name, dir);
    }
  }
  return map;
}

/** The SDK and the workspace packages it depends on at run time, transitively, SDK first. */
function closure(all) {
  const order = [];
  const queue = [SDK];
  while (queue.length > 0) {
    const name = queue.shift();
    if (order.some((p) => p.name === name)) continue;
    const dir = all.get(name);
    if (!dir) fail(`no workspace package ${name}`);
    const pkg = readJson(join(dir, "package.json"));
    order.push({ name, dir, pkg });
    const deps = { ...pkg.dependencies, ...pkg.optionalDependencies };
    for (const dep of Object.keys(deps)) if (all.has(dep)) queue.push(dep);
  }
  return order;
}

/** The file name `npm pack` gives a package: @scope/name@1.2.3 -> scope-name-1.2.3.tgz. */
const tarballName = (pkg) => `${pkg.name.replace(/^@/, "").replace("/", "-")}-${pkg.version}.tgz`;

const shellQuote = (s) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`);

function main() {
  const { out } = args(process.argv.slice(2));
  const all = workspaces();
  const packages = closure(all);
  const names = new Set(packages.map((p) => p.name));

  // Build the SDK and the packages it references (tsc -b follows tsconfig references).
  const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
  const build = spawnSync(process.execPath, [tsc, "-b", join(all.get(SDK), "tsconfig.json")], {
    cwd: ROOT,
    stdio: "inherit",
  });
  if (build.status !== 0) fail(`the build failed (tsc -b ${all.get(SDK)}): see above`);

  const staging = mkdtempSync(join(tmpdir(), "oc-sdk-pack-"));
  try {
    const dirs = [];
    for (const { name, dir, pkg } of packages) {
      if (!existsSync(join(dir, "dist"))) fail(`${name} has no dist/ after the build (${dir})`);
      const stage = join(staging, tarballName(pkg).replace(/\.tgz$/, ""));
      mkdirSync(stage);
      const packed = { ...pkg };
      delete packed.scripts;
      delete packed.devDependencies;
      for (const field of ["dependencies", "optionalDependencies"]) {
        if (!packed[field]) continue;
        packed[field] = { ...packed[field] };
        for (const dep of Object.keys(packed[field])) {
          if (names.has(dep))
            packed[field][dep] = `file:./${tarballName(readJson(join(all.get(dep), "package.json")))}`;
        }
      }
      packed.files = ["dist"];
      writeFileSync(join(stage, "package.json"), `${JSON.stringify(packed, null, 2)}\n`);
      cpSync(join(dir, "dist"), join(stage, "dist"), { recursive: true });
      for (const f of readdirSync(dir)) if (/^readme(\.|$)/i.test(f)) cpSync(join(dir, f), join(stage, f));
      dirs.push(stage);
    }

    mkdirSync(out, { recursive: true });
    // Tarballs of earlier runs (another version) would be installed beside these by `*.tgz`.
    const prefixes = [...all.keys()].map((n) => `${n.replace(/^@/, "").replace("/", "-")}-`);
    for (const f of readdirSync(out)) {
      if (f.endsWith(".tgz") && prefixes.some((p) => f.startsWith(p) && /^\d/.test(f.slice(p.length)))) {
        rmSync(join(out, f));
      }
    }

    const pack = spawnSync(
      "npm",
      ["pack", ...dirs, "--pack-destination", out, "--json", "--ignore-scripts"],
      {
        cwd: staging,
        encoding: "utf8",
      },
    );
    if (pack.status !== 0) fail(`npm pack failed:\n${pack.stderr}`);
    const results = JSON.parse(pack.stdout);
    const files = results.map((r) => join(out, r.filename));
    for (const [i, r] of results.entries()) {
      if (r.filename !== tarballName(packages[i].pkg))
        fail(`npm named ${r.filename}, not ${tarballName(packages[i].pkg)}`);
    }

    process.stdout.write(`packed ${results.length} packages into ${out}:\n`);
    for (const r of results) {
      process.stdout.write(`  ${r.filename}  ${r.entryCount} files, ${(r.size / 1024).toFixed(0)} kB\n`);
    }
    process.stdout.write(
      `\nIn the other project (Node ${readJson(join(ROOT, "package.json")).engines?.node ?? ">=20.19"}), run:\n\n` +
        `  npm install ${files.map(shellQuote).join(" ")}\n\n`,
    );
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

try {
  main();
} catch (err) {
  if (!(err instanceof PackError)) throw err;
  process.stderr.write(`sdk:pack: ${err.message}\n`);
  process.exitCode = 1;
}
