// The one way to the API: attaches the bearer token, parses the structured Chinese errors.
import { session } from "./auth.js";

export class ApiError extends Error {
  constructor(status, body) {
    const error = body?.error || {};
    super(error.message || `请求失败（${status}）`);
    this.status = status;
    this.code = error.code || "HTTP_" + status;
    this.fields = error.fields || {};
    this.body = body;
  }
}

let base = "/api";
export function setBase(url) { base = url.replace(/\/$/, ""); }
/** An absolute URL of an API path (hosted forms' links and QR codes). */
export function apiUrl(path) { return new URL(base + path, location.href).href; }

export async function api(method, path, body, { raw = false } = {}) {
  const headers = {};
  const token = session.token();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, { error: { code: "NETWORK", message: "网络连接失败，请检查网络后重试" } });
  }
  if (raw && response.ok) return response;
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (response.status === 401) {
    session.clear();
    location.hash = "#/signin";
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body ?? {});
export const put = (path, body) => api("PUT", path, body);
export const patch = (path, body) => api("PATCH", path, body);

export function query(params) {
  const pairs = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== "");
  return pairs.length ? "?" + new URLSearchParams(pairs).toString() : "";
}
