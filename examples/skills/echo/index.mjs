/** Returns the task payload unchanged. */
export function run(input) {
  return input ?? null;
}
