// HTTP client for the chat API: JSON or multipart in, `{success, message, ...}` out.

const TOKEN_KEY = 'chat.token';
const USER_KEY = 'chat.user';

export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
  get isNetwork() {
    return this.status === 0;
  }
}

let token = null;
try {
  token = localStorage.getItem(TOKEN_KEY);
} catch {
  token = null;
}
let unauthorizedHandler = null;

export function getToken() {
  return token;
}

export function saveSession(accessToken, user) {
  token = accessToken;
  try {
    localStorage.setItem(TOKEN_KEY, accessToken);
    localStorage.setItem(USER_KEY, JSON.stringify(user));
  } catch {
    /* private mode: the session lasts as long as the page */
  }
}

export function savedUser() {
  try {
    return JSON.parse(localStorage.getItem(USER_KEY) || 'null');
  } catch {
    return null;
  }
}

export function clearSession() {
  token = null;
  try {
    localStorage.removeItem(TOKEN_KEY);
    localStorage.removeItem(USER_KEY);
  } catch {
    /* ignore */
  }
}

/** Called with the error when an authenticated request answers 401 (token expired or revoked). */
export function onUnauthorized(fn) {
  unauthorizedHandler = fn;
}

function buildUrl(path, query) {
  const url = new URL(path, location.origin);
  if (query) {
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
    }
  }
  return url;
}

function errorFrom(status, data, retryAfterHeader) {
  const retryAfter = retryAfterHeader ? Number(retryAfterHeader) : null;
  let message = data && typeof data.message === 'string' && data.message
    ? data.message
    : status === 413 ? 'The file is too large.'
      : status >= 500 ? `The server had a problem (HTTP ${status}). Please try again.`
        : `Request failed (HTTP ${status}).`;
  if (status === 429 && retryAfter) message += ` Try again in ${retryAfter} s.`;
  const code = (data && data.code) || (status === 401 ? 'UNAUTHORIZED' : `HTTP_${status}`);
  return new ApiError(status, code, message, retryAfter);
}

const NETWORK_MESSAGE = 'Cannot reach the server. Check your connection; we will keep trying.';

/**
 * request('POST', '/threads', { json: {...} })
 * options: json (object), form (FormData), query (object), auth (default true), signal.
 */
export async function request(method, path, { json, form, query, auth = true, signal } = {}) {
  const headers = { Accept: 'application/json' };
  if (auth && token) headers.Authorization = `Bearer ${token}`;
  let body;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (form) {
    body = form;
  }
  let res;
  try {
    res = await fetch(buildUrl(path, query), { method, headers, body, signal, cache: 'no-store' });
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'NETWORK', NETWORK_MESSAGE);
  }
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok || !data || data.success === false) {
    const err = errorFrom(res.status, data, res.headers.get('Retry-After'));
    if (res.status === 401 && auth && token && unauthorizedHandler) unauthorizedHandler(err);
    throw err;
  }
  return data;
}

/** Multipart POST with upload progress (fetch cannot report it). */
export function upload(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', buildUrl(path));
    xhr.setRequestHeader('Accept', 'application/json');
    if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.responseType = 'text';
    if (onProgress) {
      xhr.upload.addEventListener('progress', (e) => {
        if (e.lengthComputable) onProgress(e.loaded / e.total);
      });
    }
    xhr.addEventListener('load', () => {
      let data = null;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        data = null;
      }
      if (xhr.status < 200 || xhr.status >= 300 || !data || data.success === false) {
        const err = errorFrom(xhr.status, data, xhr.getResponseHeader('Retry-After'));
        if (xhr.status === 401 && token && unauthorizedHandler) unauthorizedHandler(err);
        reject(err);
      } else {
        resolve(data);
      }
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, 'NETWORK', NETWORK_MESSAGE)));
    xhr.addEventListener('abort', () => reject(new ApiError(0, 'ABORTED', 'Upload cancelled.')));
    xhr.send(form);
  });
}

export const api = {
  register: (form) => request('POST', '/auth/register', { form, auth: false }),
  login: (userName, password) => request('POST', '/auth/login', { json: { userName, password }, auth: false }),
  me: () => request('GET', '/auth'),
  searchUsers: (search, limit = 20, signal) => request('GET', '/users', { query: { search, limit }, signal }),
  threads: () => request('GET', '/threads'),
  thread: (id) => request('GET', `/threads/${id}`),
  openDirect: (userId) => request('POST', '/threads', { json: { userId } }),
  createGroup: (name, memberIds) => request('POST', '/threads', { json: { name, memberIds } }),
  addMember: (threadId, userId) => request('POST', `/threads/${threadId}/members`, { json: { userId } }),
  removeMember: (threadId, userId) => request('DELETE', `/threads/${threadId}/members/${userId}`),
  messages: (threadId, { before, limit = 50 } = {}) => request('GET', `/threads/${threadId}/messages`, { query: { before, limit } }),
  postMessage: (threadId, form, onProgress) => upload(`/threads/${threadId}/messages`, form, onProgress),
};
