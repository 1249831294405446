// The HTTP API client. Requests are same-origin and carry the session
// cookie (vigil_session, HttpOnly, set by POST /api/v1/login). Errors from
// vigil are JSON ({"error":{"code","message"}}); they become ApiError with
// the status, the code and the message, which names the field at fault.

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code || "";
    this.field = field || ""; // the field at fault of a validation error
  }
}

// Called with no argument when a request answers 401 (the session ended),
// so the app can go back to the login page.
let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

export async function request(method, path, body, { quiet401 = false } = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, "network", `cannot reach vigil (${e.message})`);
  }
  const type = res.headers.get("Content-Type") || "";
  let data = null;
  if (type.includes("json")) data = await res.json().catch(() => null);
  else if (res.status !== 204) data = await res.text();
  if (!res.ok) {
    if (res.status === 401 && !quiet401) onUnauthorized();
    const err = data && data.error ? data.error : {};
    throw new ApiError(res.status, err.code, err.message || `${method} ${path}: HTTP ${res.status}`, err.field);
  }
  return data;
}

export const get = (path, opts) => request("GET", path, undefined, opts);
export const post = (path, body, opts) => request("POST", path, body === undefined ? {} : body, opts);
export const put = (path, body) => request("PUT", path, body);
export const patch = (path, body) => request("PATCH", path, body);
export const del = (path) => request("DELETE", path);

export const enc = encodeURIComponent;
export const cameraPath = (id, rest = "") => `/api/v1/cameras/${enc(id)}${rest}`;

// Parses the Prometheus text format into {name: [{labels, value}]}; enough
// for the System page's figures.
export function parseMetrics(text) {
  const out = {};
  for (const line of text.split("\n")) {
    if (!line || line[0] === "#") continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[3])
      for (const pair of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]] = pair[2];
    (out[m[1]] = out[m[1]] || []).push({ labels, value: Number(m[4]) });
  }
  return out;
}
