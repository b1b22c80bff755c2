// The admin API as the page uses it: same-origin fetch with the session cookie, the CSRF
// token on every state-changing request, and errors in the API's own shape.

let csrfToken = null;
let onSignedOut = () => {};

/** An error answer: `{"error": {"code", "message", "field"?}}` plus the HTTP status. */
export class ApiError extends Error {
  constructor(status, body) {
    const error = body?.error || {};
    super(error.message || `the hub answered ${status}`);
    this.status = status;
    this.code = error.code || 'http_error';
    this.field = error.field;
  }
}

/** Called when an answer says the session is gone. */
export function whenSignedOut(callback) {
  onSignedOut = callback;
}

/** Sends a request; resolves to the JSON answer (or null), rejects with an ApiError. */
export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { error: { code: 'not_json', message: text.slice(0, 200) } };
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 401 && path !== '/api/session') {
      csrfToken = null;
      onSignedOut();
    }
    throw error;
  }
  return data;
}

/** GETs a text answer (such as `?format=yaml`); rejects with an ApiError. */
export async function apiText(path) {
  const response = await fetch(path, { credentials: 'same-origin' });
  const text = await response.text();
  if (response.ok) return text;
  let body = null;
  try {
    body = JSON.parse(text);
  } catch { /* not the API's error shape */ }
  throw new ApiError(response.status, body);
}

/** Whether this browser is signed in; remembers the session's CSRF token. */
export async function checkSession() {
  const session = await api('GET', '/api/session');
  csrfToken = session.signedIn ? session.csrfToken : null;
  return session.signedIn;
}

export async function signIn(token) {
  const session = await api('POST', '/api/session', { token });
  csrfToken = session.csrfToken;
}

export async function signOut() {
  await api('DELETE', '/api/session');
  csrfToken = null;
}

/** Listens to a Server-Sent Events stream; returns a function that stops listening. */
export function listen(path, handlers) {
  const source = new EventSource(path, { withCredentials: true });
  for (const [event, handler] of Object.entries(handlers)) {
    source.addEventListener(event, (e) => handler(JSON.parse(e.data)));
  }
  return () => source.close();
}
