// Silent renewal of the access token with the refresh token (docs/PROTOCOL.md, "Token lifecycle").
// One renewal at a time across tabs: a refresh token is spent on use, and presenting a spent one
// ends the session, so a tab first looks whether another one already renewed.

import { api, ApiError, getToken, getRefreshToken, setTokens, storedTokens, setRenewer } from './api.js';

const listeners = new Set();
let timer = null;
let inflight = null;
let active = false;

/** fn(accessToken) runs after every renewal (from this tab or another): hand it to the socket. */
export function onRenewed(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** {iat, exp} in seconds from a JWT, or null. */
export function tokenTimes(token) {
  try {
    const part = String(token).split('.')[1];
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '='));
    const claims = JSON.parse(json);
    return typeof claims.exp === 'number' ? { iat: claims.iat ?? null, exp: claims.exp } : null;
  } catch {
    return null;
  }
}

/** Seconds until the token should be renewed: a minute before `exp`, or the last quarter of a short life. */
function renewIn(token) {
  const t = tokenTimes(token);
  if (!t) return null;
  const life = t.iat ? t.exp - t.iat : 3600;
  const lead = Math.min(60, Math.max(1, life / 4));
  return t.exp - lead - Date.now() / 1000;
}

function schedule() {
  clearTimeout(timer);
  timer = null;
  if (!active || !getRefreshToken()) return;
  const secs = renewIn(getToken());
  if (secs === null) return;
  timer = setTimeout(() => renew(false), Math.max(0, secs * 1000));
}

function announce() {
  schedule();
  for (const fn of listeners) fn(getToken());
}

async function withLock(fn) {
  if (navigator.locks?.request) return navigator.locks.request('chat.refresh', fn);
  return fn();
}

/**
 * Renews the pair. `expired`: the server just refused the access token. Resolves true when a
 * usable access token is in place, false when the session is over (log in again) or the server
 * cannot be reached (then it tries again later).
 */
export function renew(expired = true) {
  if (!active || !getRefreshToken()) return Promise.resolve(false);
  if (inflight) return inflight;
  const before = getToken();
  inflight = withLock(async () => {
    // Another tab may have renewed while we waited for the lock: take its pair.
    const stored = storedTokens();
    if (stored && stored.access && stored.access !== before && stored.refresh) {
      setTokens(stored.access, stored.refresh);
      const left = renewIn(stored.access);
      if (left === null || left > 0) {
        announce();
        return true;
      }
    } else if (!expired) {
      const left = renewIn(before);
      if (left !== null && left > 5) {
        schedule();
        return true;
      }
    }
    try {
      const data = await api.refresh(getRefreshToken());
      setTokens(data.accessToken, data.refreshToken);
      announce();
      return true;
    } catch (e) {
      if (e instanceof ApiError && (e.status === 401 || e.status === 400)) {
        active = false;
        return false;
      }
      // Offline or the server is busy: the same refresh token stays good; try again soon.
      clearTimeout(timer);
      timer = setTimeout(() => renew(false), 5000);
      return false;
    }
  }).finally(() => { inflight = null; });
  return inflight;
}

function onStorage(ev) {
  if (ev.key !== 'chat.token' || !ev.newValue || ev.newValue === getToken()) return;
  const stored = storedTokens();
  if (stored?.access && stored.refresh) {
    setTokens(stored.access, stored.refresh);
    announce();
  }
}

/** Starts renewing for a signed-in page. */
export function startRenewal() {
  active = true;
  window.addEventListener('storage', onStorage);
  schedule();
}

export function stopRenewal() {
  active = false;
  clearTimeout(timer);
  timer = null;
  window.removeEventListener('storage', onStorage);
}

/** Whether renewal is possible at all (sessions from before refresh tokens have none). */
export function canRenew() {
  return active && !!getRefreshToken();
}

setRenewer((expired) => renew(expired));
