import { runSibling } from "../map/delegate.mjs";

/** Seed 000's reduce step: `{ inputs, reduceFunction }` → the named reduce skill's result. */
export function run(input, ctx) {
  return runSibling(input?.reduceFunction, { inputs: input?.inputs ?? [] }, ctx);
}
