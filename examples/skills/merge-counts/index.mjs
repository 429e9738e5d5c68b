/**
 * Adds up word counts: the reduce step of a word-count map-reduce. `inputs` holds the results of
 * the map tasks; a null (a map task that produced nothing) is skipped.
 */
export function run(input) {
  const inputs = input?.inputs;
  if (!Array.isArray(inputs)) throw invalid("input.inputs must be a list of { counts } results");
  const total = new Map();
  inputs.forEach((item, i) => {
    if (item === null || item === undefined) return;
    const counts = item.counts;
    if (typeof counts !== "object" || counts === null || Array.isArray(counts)) {
      throw invalid(`inputs[${i}] has no counts object`);
    }
    for (const [word, n] of Object.entries(counts)) {
      if (typeof n !== "number" || !Number.isFinite(n))
        throw invalid(`inputs[${i}].counts.${word} is not a number`);
      total.set(word, (total.get(word) ?? 0) + n);
    }
  });
  return { counts: Object.fromEntries(total) };
}

function invalid(message) {
  return Object.assign(new Error(message), { retryable: false });
}
