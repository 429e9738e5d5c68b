import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// `oclaw up` records the cluster it started in $OCLAW_HOME (default ~/.oclaw) for the other oclaw
// commands. Each test file gets its own, so no test follows another's cluster or the user's.
process.env.OCLAW_HOME = mkdtempSync(join(tmpdir(), "oclaw-home-"));
