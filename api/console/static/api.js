// The jobs API as the console calls it: same origin, under the base path the page was served
// with (an API Gateway stage such as /v1), with the key from session storage as `x-api-key`.

const KEY_STORAGE = "spotq.apiKey";

/** The API's path prefix, from the page's <meta name="spotq-api-base">. */
export const apiBase = document.querySelector('meta[name="spotq-api-base"]')?.getAttribute("content") ?? "";

/** The API refused the caller (401/403): a key is missing or wrong. */
export class AuthError extends Error {
  constructor(status, message) {
    super(message);
    this.name = "AuthError";
    this.status = status;
  }
}

/** Any other error answer, with the API's `{ error: { code, message } }` when it sent one. */
export class ApiRequestError extends Error {
  constructor(status, message, body) {
    super(message);
    this.name = "ApiRequestError";
    this.status = status;
    this.body = body;
  }
}

export function storedKey() {
  try {
    return sessionStorage.getItem(KEY_STORAGE) ?? "";
  } catch {
    return "";
  }
}

export function storeKey(key) {
  try {
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    // Storage disabled: the key lasts as long as the page.
  }
}

/**
 * Calls the API and returns its JSON body. Throws AuthError on 401/403, ApiRequestError on any
 * other error answer, and the fetch's own error when the network fails.
 * @param {string} method
 * @param {string} path e.g. "/jobs"
 * @param {{ query?: Record<string, string | number | undefined>, signal?: AbortSignal }} [options]
 */
export async function api(method, path, options = {}) {
  const url = new URL(`${apiBase}${path}`, location.origin);
  for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined && v !== "") url.searchParams.set(k, String(v));
  const headers = { accept: "application/json" };
  const key = storedKey();
  if (key) headers["x-api-key"] = key;
  const res = await fetch(url, { method, headers, cache: "no-store", signal: options.signal });
  let body;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  if (res.status === 401 || res.status === 403)
    throw new AuthError(res.status, key ? `the API refused the key (${res.status})` : `the API needs a key (${res.status})`);
  if (!res.ok) throw new ApiRequestError(res.status, body?.error?.message ?? body?.message ?? `the API answered ${res.status}`, body);
  return body;
}
