// The public API with the signed-in token. Every URL is relative to the page, so the
// dashboard works wherever the api is mounted (a proxy's sub-path included).

import { plain } from "./fields.js";

export const API = "api/v1";
const TOKEN_KEY = "taskplane-token";

export class ApiError extends Error {
  constructor(status, detail) {
    super(describe(status, detail));
    this.status = status;
    this.detail = detail;
  }

  // pydantic-style 422 details: [{loc, msg, type}]
  get fieldErrors() {
    return Array.isArray(this.detail) ? this.detail : [];
  }
}

function describe(status, detail) {
  if (Array.isArray(detail)) {
    return detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${plain(d.msg)}`).join("; ");
  }
  if (typeof detail === "string") return detail;
  return `request failed (${status})`;
}

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
  role: null, // "admin" or "viewer", found at sign-in
  onUnauthorized: () => {},
};

export const canWrite = () => session.role === "admin";

export async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${session.token}`, Accept: "application/json" };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(API + path, {
      method: options.method || "GET",
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      cache: "no-store",
      signal: options.signal,
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "the api cannot be reached");
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (response.status === 401 && !options.quiet401) session.onUnauthorized();
  if (!response.ok && !(options.accept || []).includes(response.status)) {
    throw new ApiError(response.status, data && data.detail);
  }
  return data;
}

export async function detectRole() {
  // The API has no "who am I": listing tokens is for admins only, so the answer says the role.
  try {
    await api("/tokens?limit=1", { quiet401: true });
    return "admin";
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) return "viewer";
    throw error;
  }
}
