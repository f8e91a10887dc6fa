// HTTP client for the chat API: JSON or multipart in, `{success, message, ...}` out.

const TOKEN_KEY = 'chat.token';
const REFRESH_KEY = 'chat.refresh';
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
let refreshToken = null;
try {
  token = localStorage.getItem(TOKEN_KEY);
  refreshToken = localStorage.getItem(REFRESH_KEY);
} catch {
  token = null;
}
let unauthorizedHandler = null;
let renewer = null;

export function getToken() {
  return token;
}

export function getRefreshToken() {
  return refreshToken;
}

/** The pair as another tab may have left it in storage (null when storage is unavailable). */
export function storedTokens() {
  try {
    return { access: localStorage.getItem(TOKEN_KEY), refresh: localStorage.getItem(REFRESH_KEY) };
  } catch {
    return null;
  }
}

export function setTokens(accessToken, newRefreshToken) {
  token = accessToken;
  if (newRefreshToken !== undefined) refreshToken = newRefreshToken;
  try {
    localStorage.setItem(TOKEN_KEY, accessToken);
    if (refreshToken) localStorage.setItem(REFRESH_KEY, refreshToken);
    else localStorage.removeItem(REFRESH_KEY);
  } catch {
    /* private mode: the session lasts as long as the page */
  }
}

export function saveSession(accessToken, user, newRefreshToken) {
  setTokens(accessToken, newRefreshToken);
  try {
    localStorage.setItem(USER_KEY, JSON.stringify(user));
  } catch {
    /* private mode */
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
  refreshToken = null;
  try {
    localStorage.removeItem(TOKEN_KEY);
    localStorage.removeItem(REFRESH_KEY);
    localStorage.removeItem(USER_KEY);
  } catch {
    /* ignore */
  }
}

/** Called with the error when an authenticated request answers 401 (token expired or revoked). */
export function onUnauthorized(fn) {
  unauthorizedHandler = fn;
}

/** fn() renews the access token and resolves true when a new one is in place (see session.js). */
export function setRenewer(fn) {
  renewer = fn;
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
export async function request(method, path, options = {}) {
  try {
    return await requestOnce(method, path, options);
  } catch (e) {
    // An expired access token: renew it once, silently, and ask again.
    // (a 401 of `POST /auth/password` means a wrong current password, not an ended session)
    const sessionProblem = e instanceof ApiError && e.status === 401 && options.auth !== false && !options.passwordCheck;
    if (sessionProblem && renewer && await renewer(true)) {
      try {
        return await requestOnce(method, path, options);
      } catch (again) {
        if (again instanceof ApiError && again.status === 401 && token && unauthorizedHandler) unauthorizedHandler(again);
        throw again;
      }
    }
    if (sessionProblem && token && unauthorizedHandler) unauthorizedHandler(e);
    throw e;
  }
}

async function requestOnce(method, path, { json, form, query, auth = true, signal } = {}) {
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
    throw errorFrom(res.status, data, res.headers.get('Retry-After'));
  }
  return data;
}

/** Multipart POST with upload progress (fetch cannot report it); renews an expired token once. */
export async function upload(path, form, onProgress) {
  try {
    return await uploadOnce(path, form, onProgress);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401 && renewer && await renewer(true)) return uploadOnce(path, form, onProgress);
    if (e instanceof ApiError && e.status === 401 && token && unauthorizedHandler) unauthorizedHandler(e);
    throw e;
  }
}

function uploadOnce(path, form, onProgress) {
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
        reject(errorFrom(xhr.status, data, xhr.getResponseHeader('Retry-After')));
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
  messages: (threadId, { before, after, around, limit = 50 } = {}) => request('GET', `/threads/${threadId}/messages`, { query: { before, after, around, limit } }),
  message: (threadId, messageId) => request('GET', `/threads/${threadId}/messages/${messageId}`),
  postMessage: (threadId, form, onProgress) => upload(`/threads/${threadId}/messages`, form, onProgress),
  editMessage: (threadId, messageId, text) => request('PATCH', `/threads/${threadId}/messages/${messageId}`, { json: { text } }),
  deleteMessage: (threadId, messageId) => request('DELETE', `/threads/${threadId}/messages/${messageId}`),
  react: (threadId, messageId, emoji, on) => request(on ? 'PUT' : 'DELETE', `/threads/${threadId}/messages/${messageId}/reactions/${encodeURIComponent(emoji)}`),
  searchMessages: (q, { threadId, before, limit = 20 } = {}, signal) => request('GET', '/search/messages', { query: { q, threadId, before, limit }, signal }),
  refresh: (token) => request('POST', '/auth/refresh', { json: { refreshToken: token }, auth: false }),
  logout: () => request('POST', '/auth/logout', { auth: true }),
  sessions: () => request('GET', '/auth/sessions'),
  endSession: (id) => request('DELETE', `/auth/sessions/${encodeURIComponent(id)}`),
  endOtherSessions: () => request('DELETE', '/auth/sessions'),
  changePassword: (currentPassword, password, confirmPassword) => request('POST', '/auth/password', { json: { currentPassword, password, confirmPassword }, passwordCheck: true }),
  updateMe: (form) => request('PATCH', '/users/me', { form }),
  renameThread: (threadId, name) => request('PATCH', `/threads/${threadId}`, { json: { name } }),
  health: () => request('GET', '/healthz', { auth: false }),
};
