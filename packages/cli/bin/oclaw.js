#!/usr/bin/env node
// The committed entry point of `oclaw`. npm links a bin only if its file exists at install time,
// and dist/ is built after install, so the link points here and this loads the build.
import { existsSync } from "node:fs";

const built = new URL("../dist/bin.js", import.meta.url);
if (!existsSync(built)) {
  process.stderr.write("oclaw: the CLI is not built yet; run `npm run build` in the repository first\n");
  process.exit(1);
}
await import(built.href);
