import { createRequire } from "node:module";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import type { Api } from "./api.js";

/** The dashboard's own files (HTML, CSS, a module script), shipped with the package. */
const UI_DIR = fileURLToPath(new URL("../../ui/", import.meta.url));
/** uPlot, the charting library, straight from its package. */
const UPLOT_DIR = dirname(createRequire(import.meta.url).resolve("uplot/dist/uPlot.iife.min.js"));
const UPLOT_FILES = new Set(["uPlot.iife.min.js", "uPlot.min.css"]);

/**
 * The dashboard at `/`: static files that read the HTTP API from the browser. They hold no data,
 * so they are served without a key; the API calls they make carry the key the user gives.
 */
export function registerDashboard(app: Api): void {
  app.register(fastifyStatic, { root: UI_DIR, prefix: "/ui/", index: false });
  app.register(fastifyStatic, {
    root: UPLOT_DIR,
    prefix: "/ui/vendor/",
    decorateReply: false,
    allowedPath: (path) => UPLOT_FILES.has(path.replace(/^\//, "")),
  });
  app.get("/", { schema: { hide: true } }, (_req, reply) => reply.sendFile("index.html", UI_DIR));
}
