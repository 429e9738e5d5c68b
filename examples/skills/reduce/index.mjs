import { runSibling } from "../map/delegate.mjs";

/** The reduce step of the SDK's mapReduce: `{ inputs, reduceFunction }` → the named reduce skill's result. */
export function run(input, ctx) {
  return runSibling(input?.reduceFunction, { inputs: input?.inputs ?? [] }, ctx);
}
