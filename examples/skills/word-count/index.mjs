/** Letters and digits, with inner apostrophes kept ("don't" is one word). */
const WORD = /[\p{L}\p{N}]+(?:['’][\p{L}\p{N}]+)*/gu;

/** Counts the lower-cased words of `document`: the map step of a word-count map-reduce. */
export function run(input) {
  const document = input?.document;
  if (typeof document !== "string") {
    throw Object.assign(new Error("input.document must be a string"), { retryable: false });
  }
  // A Map, so a word like "__proto__" or "constructor" is counted like any other.
  const counts = new Map();
  for (const [word] of document.toLowerCase().matchAll(WORD)) counts.set(word, (counts.get(word) ?? 0) + 1);
  return { counts: Object.fromEntries(counts) };
}
