// Hash routes: `#/tasks/<id>` and `#/nodes/<id>` open that detail in the side panel, anything
// else shows the lists alone. Opening a detail from the page pushes a history entry, so the
// browser's back closes it (or goes back to the detail before it); a URL with a route opens it.

import { $ } from "./view.js";

const views = {};
let shown = null; // "kind:id" of the detail on screen
let closing = false; // going back past the details opened from the page

/** Registers what opens and closes a kind of detail ("tasks", "nodes"). */
export function defineView(kind, view) {
  views[kind] = view;
}

/** The route a hash names, or null: ids are one encoded path segment each. */
export function parseHash(hash) {
  const m = /^#\/(tasks|nodes)\/([^/]+)\/?$/.exec(hash);
  if (!m) return null;
  try {
    return { kind: m[1], id: decodeURIComponent(m[2]) };
  } catch {
    return null;
  }
}

/** Shows what the address bar names. Called at start, on back/forward and after `go`. */
export function route() {
  if (closing) {
    closing = false;
    // Back where the page was opened: if that was a detail's URL, it closes too.
    if (parseHash(location.hash)) history.replaceState(null, "", location.pathname + location.search);
  }
  const r = parseHash(location.hash);
  const next = r && views[r.kind] ? `${r.kind}:${r.id}` : null;
  if (next === shown) return;
  for (const [kind, view] of Object.entries(views)) if (!r || r.kind !== kind) view.close();
  shown = next;
  const panel = $("#detail");
  if (!next) {
    panel.hidden = true;
    return;
  }
  panel.hidden = false;
  panel.scrollTop = 0;
  $("#detail-back").hidden = (history.state?.depth ?? 0) < 2;
  views[r.kind].open(r.id);
  panel.focus({ preventScroll: true });
}

/** Opens a detail from the page: a new history entry, one deeper than the one shown. */
export function go(hash) {
  if (hash === location.hash) return;
  const depth = (parseHash(location.hash) ? (history.state?.depth ?? 0) : 0) + 1;
  history.pushState({ depth }, "", hash);
  route();
}

/** Closes the panel: back past every detail opened from the page, or drops a route opened by URL. */
export function closeDetail() {
  const depth = history.state?.depth ?? 0;
  if (depth > 0) {
    closing = true;
    history.go(-depth);
  } else {
    history.replaceState(null, "", location.pathname + location.search);
    route();
  }
}

export function startRouter() {
  window.addEventListener("popstate", route);
  window.addEventListener("hashchange", route);
  // Links to details go through `go`, so back returns to where they were clicked. Caught on the
  // way down, so a link in a clickable row opens what it names, not what the row does.
  document.addEventListener(
    "click",
    (e) => {
      const a = e.target.closest?.('a[href^="#/"]');
      if (!a || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      e.stopPropagation();
      go(a.getAttribute("href"));
    },
    true,
  );
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !$("#detail").hidden) closeDetail();
  });
  $("#detail-close").addEventListener("click", closeDetail);
  $("#detail-back").addEventListener("click", () => history.back());
  route();
}
