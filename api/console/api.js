// The gateway's public API, as every other client uses it: `Authorization: Bearer <key>`.
// The key lives in this tab's sessionStorage only (never in a URL, a cookie or localStorage).

const KEY = "ragway.apiKey";

export class ApiError extends Error {
  constructor(status, code, message, param) {
    super(message);
    this.status = status;
    this.code = code;
    this.param = param;
  }
}

export const session = {
  get key() {
    return sessionStorage.getItem(KEY);
  },
  set key(value) {
    if (value) sessionStorage.setItem(KEY, value);
    else sessionStorage.removeItem(KEY);
  },
};

// Called with the error when the gateway refuses the key (401): the page signs out.
let onUnauthenticated = () => {};
export function whenUnauthenticated(handler) {
  onUnauthenticated = handler;
}

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    /* not JSON */
  }
  const err = body && body.error;
  if (err) return new ApiError(response.status, err.code, err.message, err.param);
  return new ApiError(response.status, "http_error", `${response.status} ${response.statusText}`);
}

// fetch with the key; returns the Response (ok) or throws ApiError.
export async function call(method, path, { json, form, signal, key } = {}) {
  const token = key || session.key;
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form) {
    body = form;
  }
  let response;
  try {
    // Relative to the console (served at <gateway>/ui/): the API is found behind a proxy's sub-path too.
    response = await fetch(`..${path}`, { method, headers, body, signal, cache: "no-store", credentials: "omit" });
  } catch (exc) {
    if (exc.name === "AbortError") throw exc;
    throw new ApiError(0, "network", String(exc.message || exc));
  }
  if (!response.ok) {
    const error = await errorOf(response);
    if (response.status === 401 && !key) onUnauthenticated(error);
    throw error;
  }
  return response;
}

export async function get(path, options) {
  return (await call("GET", path, options)).json();
}

export async function post(path, json, options = {}) {
  const response = await call("POST", path, { ...options, json });
  return response.status === 204 ? null : response.json();
}

export async function del(path) {
  const response = await call("DELETE", path);
  return response.status === 204 ? null : response.json();
}

// The phases the gateway reports in Server-Timing: [{name, ms}].
export function serverTiming(response) {
  const value = response.headers.get("server-timing") || "";
  return value
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const [name, ...params] = part.split(";");
      const dur = params.map((p) => p.trim()).find((p) => p.startsWith("dur="));
      return { name: name.trim(), ms: dur ? Number(dur.slice(4)) : NaN };
    });
}

// Server-sent events of a chat stream: yields each `data:` payload parsed (stops at [DONE]).
export async function* events(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder("utf-8");
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = block
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trimStart())
        .join("\n");
      if (!data) continue;
      if (data === "[DONE]") return;
      yield JSON.parse(data);
    }
    if (done) return;
  }
}

export const ROLES = ["reader", "writer", "admin"];
export function allows(role, needed) {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

export const enc = encodeURIComponent;
