/** Runs the module skill `name` that sits beside this folder (same skills directory). */
export async function runSibling(name, input, ctx) {
  if (typeof name !== "string" || !/^[A-Za-z0-9_-]{1,64}$/.test(name)) {
    throw Object.assign(new Error(`the skill to apply must be a skill name, got ${JSON.stringify(name)}`), {
      retryable: false,
    });
  }
  let mod;
  try {
    mod = await import(new URL(`../${name}/index.mjs`, import.meta.url).href);
  } catch {
    throw Object.assign(new Error(`this node has no module skill '${name}' beside this one`), {
      retryable: true,
    });
  }
  const run = typeof mod.run === "function" ? mod.run : mod.default;
  if (typeof run !== "function")
    throw Object.assign(new Error(`skill '${name}' exports no run function`), { retryable: false });
  return run(input, ctx);
}
