// The client's state, its change events, and what the store modules share: the connection,
// the notifier, and the per-user persistence in localStorage.

export const state = {
  me: null,
  threads: new Map(),
  online: new Set(),
  // userId -> when this page saw them go offline (the contract has no last-seen time)
  wentOffline: new Map(),
  lastSeen: 0,
  cursor: null, // sync {since} resume point: from `ready`, then from each sync
  outbox: new Map(),
  openThreadId: null,
  conn: { state: 'stopped', attempt: 0, retryAt: null },
  threadsLoaded: false,
  threadsError: null,
};

/** Shared mutable parts of the store modules (ES module bindings are read-only outside). */
export const rt = {
  connection: null,
  readMarksCache: null,
  notify: (message, kind) => console.warn(kind, message),
  onLoggedOut: () => {},
};

const listeners = new Set();
/** subscribe((what, detail) => ...): what is 'threads' | 'thread' | 'messages' | 'typing' | 'presence' | 'conn' | 'seen' | 'me' | 'removed' | 'ready' | 'incoming' */
export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
export function emit(what, detail) {
  for (const fn of listeners) fn(what, detail);
}

export function notify(message, kind) {
  rt.notify(message, kind);
}
export function setNotifier(fn) {
  rt.notify = fn;
}
export function setLogoutHandler(fn) {
  rt.onLoggedOut = fn;
}

// ------------------------------------------------------------------ persistence (per user)

function storageKey(name) {
  return `chat.${name}.${state.me?.id ?? 'anon'}`;
}

export function loadJson(name, fallback) {
  try {
    const v = JSON.parse(localStorage.getItem(storageKey(name)) || 'null');
    return v ?? fallback;
  } catch {
    return fallback;
  }
}

export function saveJson(name, value) {
  try {
    localStorage.setItem(storageKey(name), JSON.stringify(value));
  } catch {
    /* full or private mode: only this page's memory keeps it */
  }
}

export function persistOutbox() {
  const textOnly = [...state.outbox.values()]
    .filter((p) => !p.files.length && p.status !== 'failed')
    .map(({ clientMsgId, threadId, text, createdAt, replyTo }) => ({ clientMsgId, threadId, text, createdAt, replyTo }));
  saveJson('outbox', textOnly);
}

/** Drafts survive a reload and a forced re-login (not an explicit log out). */
export function loadDrafts() {
  return new Map(Object.entries(loadJson('drafts', {})).map(([k, v]) => [Number(k), v]));
}
export function saveDrafts(drafts) {
  saveJson('drafts', Object.fromEntries([...drafts].filter(([, v]) => v && v.trim())));
}
export function clearDrafts() {
  try {
    localStorage.removeItem(storageKey('drafts'));
  } catch {
    /* ignore */
  }
}

export function persistReadMarks() {
  const all = {};
  for (const t of state.threads.values()) if (Object.keys(t.readMarks).length) all[t.id] = t.readMarks;
  saveJson('readMarks', all);
}
