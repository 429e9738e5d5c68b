import { runSibling } from "./delegate.mjs";

/** The map step of the SDK's mapReduce: `{ document, mapFunction }` → the named map skill's result for the document. */
export function run(input, ctx) {
  return runSibling(input?.mapFunction, { document: input?.document }, ctx);
}
