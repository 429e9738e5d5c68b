// Small view helpers shared by every part of the dashboard.

export const $ = (selector) => document.querySelector(selector);

/** An element with attributes (`on*` ones become listeners) and children (strings become text). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children.flat())
    node.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  return node;
}

export const status = (s) => el("span", { class: `s-${s}` }, s ?? "-");

export function ago(iso) {
  if (!iso) return "-";
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return `${Math.floor(s / 3600)}h ago`;
}

export const time = (iso) => (iso ? new Date(iso).toLocaleTimeString() : "-");

export const shortList = (items, max = 4) =>
  items.length <= max ? items.join(", ") : `${items.slice(0, max).join(", ")} +${items.length - max}`;

/** Ids in URLs: each one is one path segment, whatever it holds. */
export const taskHash = (id) => `#/tasks/${encodeURIComponent(id)}`;
export const nodeHash = (id) => `#/nodes/${encodeURIComponent(id)}`;

/** A link to a task's or a node's detail, showing the id exactly as it is. */
export const taskLink = (id) => el("a", { href: taskHash(id), class: "id" }, id);
export const nodeLink = (id) => (id ? el("a", { href: nodeHash(id), class: "id" }, id) : "-");

/** Sets an element's text only when it changed (keeps a selection in it across redraws). */
export function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

/** A JSON value as indented text; `undefined` (absent) as "-". */
export const pretty = (value) => (value === undefined ? "-" : JSON.stringify(value, null, 2));

/** A grid of name/value pairs; each value carries `data-field` = its name. */
export function fieldGrid(target, fields) {
  target.replaceChildren(
    ...fields.flatMap(([k, v]) => [el("div", {}, k), el("div", { "data-field": k }, v)]),
  );
}
