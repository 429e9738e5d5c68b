// Talking to the coordinator's HTTP API from the browser. An API key, when the API needs one, is
// kept in this browser (localStorage) and sent as a bearer token with every call.

import { $ } from "./view.js";

const KEY_ITEM = "openclaw.apiKey";
let key = localStorage.getItem(KEY_ITEM) ?? "";

export function setKey(value) {
  key = value;
  localStorage.setItem(KEY_ITEM, key);
}

/** An answer that was not 2xx: its HTTP status and the API's message. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function headers(extra = {}) {
  return key ? { ...extra, authorization: `Bearer ${key}` } : extra;
}

export function showError(message) {
  const box = $("#error");
  box.textContent = message ?? "";
  box.hidden = !message;
}

export async function api(path, init = {}) {
  const res = await fetch(path, { ...init, headers: headers(init.headers) });
  if (res.ok) return res;
  if (res.status === 401 || res.status === 403) $("#key-form").hidden = false;
  const body = await res.json().catch(() => ({}));
  throw new ApiError(res.status, body.message ?? `${res.status} ${res.statusText}`);
}

export const getJson = async (path) => (await api(path)).json();

export const post = (path, body) =>
  api(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body ?? {}),
  });

let afterAct = async () => undefined;
/** What runs after a button's action succeeded (the app redraws everything). */
export function onActed(fn) {
  afterAct = fn;
}

/** A button's action: its error goes to the error line, success redraws. */
export async function act(work) {
  try {
    await work();
    showError("");
    await afterAct();
  } catch (err) {
    showError(err.message);
  }
}

/** Reads a server-sent event stream with fetch (EventSource cannot send an API key). */
export async function readEvents(path, onData, signal) {
  const res = await api(path, { headers: { accept: "text/event-stream" }, signal });
  if (!res.body) return;
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block
        .split("\n")
        .filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).trimStart())
        .join("\n");
      if (data) onData(JSON.parse(data));
    }
  }
}
