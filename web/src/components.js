// Small pieces shared by the pages.
import { useEffect, useState } from "preact/hooks";
import { get } from "./api.js";
import { html } from "./html.js";

export function ErrorText({ error }) {
  if (!error) return null;
  const msg = error.message || String(error);
  const field = error.field && !msg.includes(error.field) ? ` (${error.field})` : "";
  return html`<p class="error" role="alert">${msg}${field}</p>`;
}

export function Empty({ title, children }) {
  return html`<div class="empty"><h3>${title}</h3>${children}</div>`;
}

export function StateBadge({ state, reason }) {
  return html`<span class=${`badge state-${state}`} title=${reason || ""}>${state}</span>`;
}

// Loads a value with fn() and reloads it every `every` ms (0: once).
// Returns [value, error, reload].
export function usePoll(fn, deps, every = 0) {
  const [value, setValue] = useState(undefined);
  const [error, setError] = useState(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    let timer = 0;
    const load = () =>
      fn()
        .then((v) => live && (setValue(v), setError(null)))
        .catch((e) => live && setError(e))
        .finally(() => live && every && (timer = setTimeout(load, every)));
    load();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [...deps, tick]);
  return [value, error, () => setTick((n) => n + 1)];
}

// The cameras the user may see (the server leaves out the others).
export const useCameras = (every = 0) => usePoll(() => get("/api/v1/cameras").then((r) => r.cameras), [], every);

export function CameraSelect({ cameras, value, onChange, label = "Camera" }) {
  return html`<label class="inline">${label}
    <select value=${value} onChange=${(e) => onChange(e.target.value)} name="camera">
      ${(cameras || []).map((c) => html`<option value=${c.id}>${c.name || c.id}</option>`)}
    </select>
  </label>`;
}
