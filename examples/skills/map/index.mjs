import { runSibling } from "./delegate.mjs";

/** Seed 000's map step: `{ document, mapFunction }` → the named map skill's result for the document. */
export function run(input, ctx) {
  return runSibling(input?.mapFunction, { document: input?.document }, ctx);
}
