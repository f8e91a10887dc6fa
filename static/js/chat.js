// Client state and the rules that keep it right: merging by message id, catching up with `sync`,
// the outbox of messages not yet acknowledged, read marks, typing and presence.

import { api, ApiError } from './api.js';
import { Connection, ConnectionLost, ServerError } from './socket.js';
import { randomId } from './dom.js';
import { renew, onRenewed, canRenew } from './session.js';
import { membershipLines } from './system-lines.js';
import { plainError, isPermanent } from './limits.js';

const SYNC_OVERLAP = 20; // ids re-asked on reconnect; duplicates are dropped by id
const SYNC_PAGE = 500;
const SYNC_MAX_PAGES = 20; // beyond that, drop the caches and reload instead
const TYPING_TTL = 6000;
const CURSOR_REFRESH_MS = 5 * 60 * 1000; // a long-lived connection moves its sync cursor now and then

export const state = {
  me: null,
  threads: new Map(),
  online: new Set(),
  lastSeen: 0,
  cursor: null, // sync {since} resume point: from `ready`, then from each sync
  outbox: new Map(),
  openThreadId: null,
  conn: { state: 'stopped', attempt: 0, retryAt: null },
  threadsLoaded: false,
  threadsError: null,
};

const listeners = new Set();
/** subscribe((what, detail) => ...): what is 'threads' | 'thread' | 'messages' | 'typing' | 'presence' | 'conn' | 'seen' */
export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
function emit(what, detail) {
  for (const fn of listeners) fn(what, detail);
}

let notify = (message, kind) => console.warn(kind, message);
let onLoggedOut = () => {};
let cursorTimer = null;
let offRenewed = null;
export function setNotifier(fn) {
  notify = fn;
}
export function setLogoutHandler(fn) {
  onLoggedOut = fn;
}

let connection = null;
const threadFetches = new Map();
let typingTimer = null;

// ------------------------------------------------------------------ persistence (per user)

function storageKey(name) {
  return `chat.${name}.${state.me?.id ?? 'anon'}`;
}

function loadJson(name, fallback) {
  try {
    const v = JSON.parse(localStorage.getItem(storageKey(name)) || 'null');
    return v ?? fallback;
  } catch {
    return fallback;
  }
}

function saveJson(name, value) {
  try {
    localStorage.setItem(storageKey(name), JSON.stringify(value));
  } catch {
    /* full or private mode: only this page's memory keeps it */
  }
}

function persistOutbox() {
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

let readMarksCache = null;
function persistReadMarks() {
  const all = {};
  for (const t of state.threads.values()) if (Object.keys(t.readMarks).length) all[t.id] = t.readMarks;
  saveJson('readMarks', all);
}

// ------------------------------------------------------------------ threads

function displayName(t) {
  if (t.isGroup) return t.name || 'Group';
  const other = otherMember(t);
  return other ? other.nickName : 'Just you';
}

export function otherMember(t) {
  return t.members.find((m) => m.id !== state.me?.id) || null;
}

export function threadTitle(t) {
  return displayName(t);
}

function upsertThread(server) {
  let t = state.threads.get(server.id);
  const before = t ? { members: t.members, name: t.name } : null;
  if (!t) {
    t = {
      id: server.id,
      tracked: false,
      loading: false,
      loadError: null,
      timeline: new Map(),
      sorted: null,
      oldestId: Infinity,
      hasMoreOlder: true,
      loadingOlder: false,
      typing: new Map(),
      readMarks: { ...(readMarksCache?.[server.id] || {}) },
      myLastRead: 0,
      lastMessage: null,
      unreadCount: 0,
      newestId: 0,
      hasMoreNewer: false,
      systemLines: [],
    };
    state.threads.set(server.id, t);
  }
  t.isGroup = !!server.isGroup;
  t.name = server.name ?? null;
  t.ownerId = server.ownerId ?? null;
  t.members = Array.isArray(server.members) ? server.members : [];
  t.updatedAt = server.updatedAt || t.updatedAt;
  if (!t.lastMessage || (server.lastMessage && server.lastMessage.id >= t.lastMessage.id)) {
    t.lastMessage = server.lastMessage || t.lastMessage;
    if (typeof server.unreadCount === 'number') t.unreadCount = server.unreadCount;
  }
  if (typeof server.lastReadMessageId === 'number') t.myLastRead = Math.max(t.myLastRead, server.lastReadMessageId);
  // Read marks of the other members, when the server tells them (forward compatible).
  for (const m of t.members) {
    if (m.id !== state.me?.id && typeof m.lastReadMessageId === 'number') bumpReadMark(t, m.id, m.lastReadMessageId);
  }
  if (server.readMarks && typeof server.readMarks === 'object') {
    for (const [uid, mid] of Object.entries(server.readMarks)) if (Number(uid) !== state.me?.id) bumpReadMark(t, Number(uid), Number(mid));
  }
  if (t.lastMessage) state.lastSeen = Math.max(state.lastSeen, t.lastMessage.id);
  if (before && t.isGroup) {
    const lines = membershipLines(before, t, state.me, pendingActions);
    if (lines.length) {
      const afterId = t.lastMessage?.id ?? 0;
      for (const text of lines) t.systemLines.push({ key: `s${systemSeq++}`, afterId, text, at: new Date().toISOString() });
      emit('messages', { threadId: t.id });
    }
  }
  return t;
}

let systemSeq = 0;
// What this client just did to a group, so its system line can say "You removed Carol".
const pendingActions = [];

function bumpReadMark(t, userId, messageId) {
  if (!Number.isFinite(messageId)) return false;
  if ((t.readMarks[userId] || 0) >= messageId) return false;
  t.readMarks[userId] = messageId;
  return true;
}

export function sortedThreads() {
  const key = (t) => {
    const time = Date.parse(t.lastMessage?.createdAt || t.updatedAt || 0) || 0;
    return time;
  };
  return [...state.threads.values()].sort((a, b) => key(b) - key(a) || b.id - a.id);
}

let threadsPromise = null;
/** GET /threads into the state; concurrent callers share one request. Resolves true when loaded. */
export function loadThreads() {
  if (threadsPromise) return threadsPromise;
  threadsPromise = (async () => {
    try {
      const data = await api.threads();
      const seen = new Set();
      for (const server of data.threads || []) {
        upsertThread(server);
        seen.add(server.id);
      }
      for (const id of [...state.threads.keys()]) {
        if (!seen.has(id)) state.threads.delete(id);
      }
      state.threadsLoaded = true;
      state.threadsError = null;
      emit('threads');
      return true;
    } catch (e) {
      state.threadsError = e.message;
      emit('threads');
      if (!(e instanceof ApiError && e.status === 401)) notify(`Could not load your chats: ${e.message}`, 'error');
      return false;
    } finally {
      threadsPromise = null;
    }
  })();
  return threadsPromise;
}

/** The thread with that id, fetched from the server when this client has not seen it yet. */
export function ensureThread(id) {
  const known = state.threads.get(id);
  if (known) return Promise.resolve(known);
  if (threadFetches.has(id)) return threadFetches.get(id);
  const p = api.thread(id)
    .then((data) => {
      const t = upsertThread(data.thread);
      emit('threads');
      return t;
    })
    .finally(() => threadFetches.delete(id));
  threadFetches.set(id, p);
  return p;
}

export async function openDirect(userId) {
  const data = await api.openDirect(userId);
  const t = upsertThread(data.thread);
  emit('threads');
  return t;
}

export async function createGroup(name, memberIds) {
  const data = await api.createGroup(name, memberIds);
  const t = upsertThread(data.thread);
  emit('threads');
  return t;
}

export async function addMember(threadId, userId) {
  pendingActions.push({ threadId, added: userId });
  const data = await api.addMember(threadId, userId);
  upsertThread(data.thread);
  emit('threads');
  emit('thread', threadId);
  return data.thread;
}

export async function renameGroup(threadId, name) {
  const data = await api.renameThread(threadId, name);
  upsertThread(data.thread);
  emit('threads');
  emit('thread', threadId);
}

export async function refreshThread(threadId) {
  const data = await api.thread(threadId);
  upsertThread(data.thread);
  emit('threads');
  emit('thread', threadId);
  return state.threads.get(threadId);
}

export async function leaveThread(threadId, userId = state.me.id) {
  pendingActions.push({ threadId, removed: userId });
  await api.removeMember(threadId, userId);
  if (userId === state.me.id) {
    dropThread(threadId);
  } else {
    await refreshThread(threadId).catch(() => {});
  }
}

function dropThread(threadId) {
  state.threads.delete(threadId);
  for (const [cid, p] of state.outbox) if (p.threadId === threadId) state.outbox.delete(cid);
  persistOutbox();
  emit('threads');
  emit('removed', threadId);
}

// ------------------------------------------------------------------ messages

export function timeline(t) {
  if (!t.sorted) t.sorted = [...t.timeline.values()].sort((a, b) => a.id - b.id);
  return t.sorted;
}

export function pendingFor(threadId) {
  return [...state.outbox.values()].filter((p) => p.threadId === threadId).sort((a, b) => a.seq - b.seq);
}

function isViewing(threadId) {
  return state.openThreadId === threadId && document.visibilityState === 'visible' && document.hasFocus();
}

/** Merges one stored message (from an event, an ack, a sync page, an HTTP answer). Idempotent. */
function ingest(msg, { fromHistory = false } = {}) {
  if (!msg || typeof msg.id !== 'number') return false;
  if (!fromHistory) state.lastSeen = Math.max(state.lastSeen, msg.id);
  const t = state.threads.get(msg.threadId);
  if (!t) {
    // A thread we do not know yet: fetch it (its lastMessage already covers this message).
    ensureThread(msg.threadId).then(() => ingest(msg, { fromHistory })).catch((e) => {
      notify(`A message arrived in a chat that could not be loaded: ${e.message}`, 'error');
    });
    return false;
  }
  let changed = false;
  const mine = msg.sender?.id === state.me?.id;
  if (!fromHistory && (!t.lastMessage || msg.id > t.lastMessage.id)) {
    t.lastMessage = msg;
    t.updatedAt = msg.createdAt;
    if (!mine && msg.id > t.myLastRead) t.unreadCount += 1;
    changed = true;
    emit('threads');
  } else if (t.lastMessage && t.lastMessage.id === msg.id && t.lastMessage !== msg) {
    t.lastMessage = msg;
  }
  if (mine && msg.clientMsgId && state.outbox.has(msg.clientMsgId)) {
    const p = state.outbox.get(msg.clientMsgId);
    for (const url of p.previews || []) URL.revokeObjectURL(url);
    state.outbox.delete(msg.clientMsgId);
    persistOutbox();
    changed = true;
  }
  const known = t.tracked ? t.timeline.get(msg.id) : null;
  if (known) {
    // The same message in a newer state (edited, deleted, reacted): replace it by id.
    if (known !== msg && (known.seq === undefined || known.seq !== msg.seq) && JSON.stringify(known) !== JSON.stringify(msg)) {
      t.timeline.set(msg.id, msg);
      t.sorted = null;
      emit('messages', { threadId: t.id, updated: msg.id });
      return true;
    }
  } else {
    if (!mine && !fromHistory && t.typing.delete(msg.sender?.id)) emit('typing', t.id);
    if (t.tracked && !(t.hasMoreOlder && msg.id < t.oldestId) && !(t.hasMoreNewer && msg.id > t.newestId)) {
      t.timeline.set(msg.id, msg);
      t.sorted = null;
      if (fromHistory) t.oldestId = Math.min(t.oldestId, msg.id);
      t.newestId = Math.max(t.newestId, msg.id);
      changed = true;
    }
  }
  if (changed && t.tracked) emit('messages', { threadId: t.id, incoming: !fromHistory && !mine });
  return changed;
}

/** A message changed elsewhere (messageUpdated, an ack of our own edit): replace it wherever it is shown. */
export function applyUpdate(msg) {
  if (!msg || typeof msg.id !== 'number') return;
  const t = state.threads.get(msg.threadId);
  if (!t) return;
  if (t.lastMessage && t.lastMessage.id === msg.id) {
    t.lastMessage = msg;
    emit('threads');
  }
  // replies quoting it show its new text (or that it is gone)
  let quoted = false;
  if (t.tracked) {
    for (const [id, m] of t.timeline) {
      if (m.replyTo && m.replyTo.id === msg.id) {
        t.timeline.set(id, { ...m, replyTo: { ...m.replyTo, text: msg.deleted ? null : (msg.text || '').slice(0, 200), deleted: !!msg.deleted } });
        quoted = true;
      }
    }
  }
  if (t.tracked && t.timeline.has(msg.id)) ingest(msg, { fromHistory: true });
  else if (quoted) {
    t.sorted = null;
    emit('messages', { threadId: t.id, updated: msg.id });
  }
}

/** Starts keeping this thread's messages in memory and loads its newest page. */
export async function trackThread(threadId) {
  const t = state.threads.get(threadId);
  if (!t || t.tracked || t.loading) return;
  t.loading = true;
  t.loadError = null;
  t.tracked = true; // live messages from now on are kept
  t.hasMoreOlder = false;
  t.hasMoreNewer = false;
  t.oldestId = Infinity;
  emit('messages', { threadId });
  try {
    const data = await api.messages(threadId, { limit: 50 });
    for (const m of data.messages || []) ingest(m, { fromHistory: true });
    const ids = [...t.timeline.keys()];
    t.oldestId = ids.length ? Math.min(...ids) : Infinity;
    t.hasMoreOlder = !!data.hasMore;
    const newest = data.messages?.[data.messages.length - 1];
    if (newest && (!t.lastMessage || newest.id > t.lastMessage.id)) {
      t.lastMessage = newest;
      emit('threads');
    }
  } catch (e) {
    t.tracked = false;
    t.timeline.clear();
    t.sorted = null;
    t.loadError = e.message;
    if (!(e instanceof ApiError && e.status === 401)) notify(`Could not load messages: ${e.message}`, 'error');
  } finally {
    t.loading = false;
    emit('messages', { threadId, initial: true });
  }
}

export {
  loadOlder, loadNewer, loadAround, backToPresent, editMessage, deleteMessage, react, findMessage,
} from './history.js';

/** For history.js: what it shares of this module's inside. */
export const internals = {
  emit: (what, detail) => emit(what, detail),
  notify: (message, kind) => notify(message, kind),
  connection: () => connection,
};

// ------------------------------------------------------------------ sending

let seq = 0;

export function sendMessage(threadId, text, files = [], replyTo = null) {
  const p = {
    clientMsgId: randomId(),
    threadId,
    text,
    files,
    replyTo: replyTo ? { id: replyTo.id, sender: replyTo.sender, text: replyTo.text, deleted: false } : null,
    previews: files.map((f) => (/^image\/(png|jpeg|gif|webp)$/.test(f.type) ? URL.createObjectURL(f) : null)),
    createdAt: new Date().toISOString(),
    status: 'queued',
    error: null,
    progress: null,
    seq: seq++,
    inFlight: false,
  };
  state.outbox.set(p.clientMsgId, p);
  persistOutbox();
  emit('messages', { threadId, own: true });
  stopTyping(threadId);
  pump();
}

export function retryPending(clientMsgId) {
  const p = state.outbox.get(clientMsgId);
  if (!p) return;
  p.status = 'queued';
  p.error = null;
  emit('messages', { threadId: p.threadId });
  pump();
}

export function discardPending(clientMsgId) {
  const p = state.outbox.get(clientMsgId);
  if (!p) return;
  for (const url of p.previews || []) if (url) URL.revokeObjectURL(url);
  state.outbox.delete(clientMsgId);
  persistOutbox();
  emit('messages', { threadId: p.threadId });
}

let pumping = false;
/**
 * Sends queued messages one at a time, strictly in the order they were written: text goes over
 * the socket, files over HTTP, and a file never overtakes text that waits for the connection.
 */
async function pump() {
  if (pumping) return;
  pumping = true;
  try {
    for (;;) {
      const next = [...state.outbox.values()]
        .filter((p) => p.status !== 'failed')
        .sort((a, b) => a.seq - b.seq)[0];
      if (!next || next.status !== 'queued') break;
      if (!next.files.length && !connection?.isOpen) break;
      const ok = await deliver(next);
      if (!ok) break;
    }
  } finally {
    pumping = false;
  }
}

async function deliver(p) {
  p.status = 'sending';
  emit('messages', { threadId: p.threadId });
  try {
    if (p.files.length) {
      const form = new FormData();
      if (p.text) form.append('text', p.text);
      form.append('clientMsgId', p.clientMsgId);
      if (p.replyTo) form.append('replyTo', String(p.replyTo.id));
      for (const f of p.files) form.append('attachments', f, f.name);
      const data = await api.postMessage(p.threadId, form, (fraction) => {
        p.progress = fraction;
        emit('messages', { threadId: p.threadId });
      });
      ingest(data.message);
    } else {
      const frame = { type: 'send', threadId: p.threadId, text: p.text, clientMsgId: p.clientMsgId };
      if (p.replyTo) frame.replyTo = p.replyTo.id;
      const ack = await connection.request(frame);
      ingest(ack.message);
    }
    return true;
  } catch (e) {
    if (!state.outbox.has(p.clientMsgId)) return true; // delivered meanwhile (e.g. by sync)
    if (e instanceof ConnectionLost || (e instanceof ApiError && e.isNetwork)) {
      // Not lost: it goes out again (same clientMsgId, so never twice) once we are back.
      p.status = 'queued';
      p.progress = null;
      emit('messages', { threadId: p.threadId });
      if (connection?.isOpen) setTimeout(pump, 2000); // no answer in time on a live socket
      return false;
    }
    if ((e instanceof ServerError || e instanceof ApiError) && e.code === 'RATE_LIMITED') {
      p.status = 'queued';
      emit('messages', { threadId: p.threadId });
      setTimeout(pump, ((e.retryAfter || 1) * 1000));
      notify('You are sending messages too fast; waiting a moment.', 'info');
      return false;
    }
    p.status = 'failed';
    p.error = plainError(e, p.files);
    p.retryable = !isPermanent(e);
    p.progress = null;
    persistOutbox();
    emit('messages', { threadId: p.threadId });
    emit('threads');
    return true;
  }
}

// ------------------------------------------------------------------ typing

let typingState = { threadId: null, sentAt: 0 };

export function userTyping(threadId) {
  const now = Date.now();
  if (typingState.threadId !== threadId || now - typingState.sentAt > 3000) {
    if (typingState.threadId && typingState.threadId !== threadId) stopTyping(typingState.threadId);
    if (connection?.send({ type: 'typing', threadId, isTyping: true })) {
      typingState = { threadId, sentAt: now };
    }
  }
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => stopTyping(threadId), 4000);
}

export function stopTyping(threadId) {
  clearTimeout(typingTimer);
  if (typingState.threadId === threadId) {
    connection?.send({ type: 'typing', threadId, isTyping: false });
    typingState = { threadId: null, sentAt: 0 };
  }
}

export function typingUsers(threadId) {
  const t = state.threads.get(threadId);
  if (!t) return [];
  const now = Date.now();
  return [...t.typing.values()].filter((x) => x.expires > now).map((x) => x.nickName);
}

setInterval(() => {
  const now = Date.now();
  for (const t of state.threads.values()) {
    let changed = false;
    for (const [uid, x] of t.typing) {
      if (x.expires <= now) {
        t.typing.delete(uid);
        changed = true;
      }
    }
    if (changed) emit('typing', t.id);
  }
}, 1000);

// ------------------------------------------------------------------ read marks

/** Called by the view with the newest message the person can see in the open thread. */
export function markRead(threadId, messageId) {
  const t = state.threads.get(threadId);
  if (!t || !messageId || !isViewing(threadId)) return;
  if (messageId <= t.myLastRead && t.unreadCount === 0) return;
  if (messageId > t.myLastRead) {
    if (!connection?.send({ type: 'read', threadId, messageId })) return;
    t.myLastRead = messageId;
  }
  const unread = t.tracked
    ? timeline(t).filter((m) => m.id > t.myLastRead && m.sender?.id !== state.me.id).length
    : 0;
  if (unread !== t.unreadCount) {
    t.unreadCount = unread;
    emit('threads');
  }
}

/** Who has read up to this message (other members only). */
export function readersOf(t, messageId) {
  return t.members.filter((m) => m.id !== state.me.id && (t.readMarks[m.id] || 0) >= messageId);
}

// ------------------------------------------------------------------ connection

/** Every change since the cursor (new, edited, deleted, reacted), page by page. */
async function catchUpSince() {
  for (let page = 0; page < SYNC_MAX_PAGES; page++) {
    let ack;
    try {
      ack = await connection.request({ type: 'sync', since: state.cursor, limit: SYNC_PAGE }, 30000);
    } catch (e) {
      if (e instanceof ServerError && e.code === 'VALIDATION') {
        state.cursor = null; // a cursor of another database: start over
        return false;
      }
      throw e;
    }
    for (const m of ack.messages || []) {
      const t = state.threads.get(m.threadId);
      if (t?.tracked && t.timeline.has(m.id)) applyUpdate(m);
      else ingest(m);
    }
    if (typeof ack.cursor === 'string') state.cursor = ack.cursor;
    if (!ack.hasMore || !(ack.messages || []).length) return true;
  }
  return false;
}

async function catchUp(readyCursor) {
  if (state.cursor !== null) return catchUpSince();
  if (typeof readyCursor === 'string') {
    // First connection of this page: from now on `sync {since}` from this cursor. What was
    // stored between the HTTP loads and this connection comes the version 1 way, once.
    state.cursor = readyCursor;
    if (!state.lastSeen) return true;
  }
  let after = Math.max(0, state.lastSeen - SYNC_OVERLAP);
  for (let page = 0; page < SYNC_MAX_PAGES; page++) {
    const ack = await connection.request({ type: 'sync', after, limit: SYNC_PAGE }, 30000);
    const messages = ack.messages || [];
    for (const m of messages) ingest(m);
    if (!ack.hasMore || !messages.length) return true;
    after = messages[messages.length - 1].id;
  }
  return false;
}

async function onReady(frame) {
  if (frame.user) state.me = { ...state.me, ...frame.user };
  state.online.clear(); // the snapshot of who is online follows
  emit('presence');
  try {
    // The first time, `lastSeen` comes from the thread list: wait for it, or sync would replay everything.
    const firstLoad = !state.threadsLoaded;
    if (firstLoad && !(await loadThreads())) {
      connection?.drop('cannot load the thread list');
      return;
    }
    const complete = await catchUp(frame.cursor);
    if (!complete) {
      // Far behind: start over from the server's view instead of replaying everything.
      for (const t of state.threads.values()) {
        t.tracked = false;
        t.timeline.clear();
        t.sorted = null;
      }
      await loadThreads();
      state.cursor = typeof frame.cursor === 'string' ? frame.cursor : null;
      if (state.openThreadId) trackThread(state.openThreadId);
    } else if (!firstLoad) {
      // Unread counts, threads joined and read positions as the server knows them now.
      await loadThreads();
    }
    connection?.healthy();
    clearInterval(cursorTimer);
    cursorTimer = setInterval(() => {
      if (connection?.isOpen && state.cursor !== null) catchUpSince().catch(() => {});
    }, CURSOR_REFRESH_MS);
  } catch (e) {
    if (e instanceof ConnectionLost) return; // the next connection catches up
    notify(`Could not catch up with new messages: ${e.message}`, 'error');
  }
  emit('conn');
  pump();
  emit('ready');
}

function onFrame(frame) {
  switch (frame.type) {
    case 'message':
      ingest(frame.message);
      break;
    case 'messageUpdated':
      applyUpdate(frame.message);
      break;
    case 'typing': {
      const t = state.threads.get(frame.threadId);
      const user = frame.user || {};
      if (!t || user.id === state.me?.id) break;
      if (frame.isTyping) t.typing.set(user.id, { nickName: user.nickName || 'Someone', expires: Date.now() + TYPING_TTL });
      else t.typing.delete(user.id);
      emit('typing', t.id);
      break;
    }
    case 'read': {
      const t = state.threads.get(frame.threadId);
      if (!t) break;
      if (frame.userId === state.me?.id) {
        if (frame.messageId > t.myLastRead) {
          t.myLastRead = frame.messageId;
          t.unreadCount = t.tracked
            ? timeline(t).filter((m) => m.id > t.myLastRead && m.sender?.id !== state.me.id).length
            : (t.lastMessage && t.lastMessage.id <= t.myLastRead ? 0 : t.unreadCount);
          emit('threads');
        }
      } else if (bumpReadMark(t, frame.userId, frame.messageId)) {
        persistReadMarks();
        emit('seen', t.id);
      }
      break;
    }
    case 'presence':
      if (frame.online) state.online.add(frame.userId);
      else state.online.delete(frame.userId);
      emit('presence', frame.userId);
      break;
    case 'thread': {
      const isNew = !state.threads.has(frame.thread?.id);
      if (!frame.thread) break;
      const t = upsertThread(frame.thread);
      emit('threads');
      emit('thread', t.id);
      if (isNew && t.isGroup) notify(`You were added to “${threadTitle(t)}”.`, 'info');
      break;
    }
    case 'removed': {
      const t = state.threads.get(frame.threadId);
      if (!t) break;
      const title = threadTitle(t);
      dropThread(frame.threadId);
      notify(`You are no longer a member of “${title}”.`, 'info');
      break;
    }
    case 'error':
      notify(`Server: ${frame.message || frame.code}`, 'error');
      break;
    case 'pong':
    case 'ack':
      break;
    default:
      break; // newer servers may send more
  }
}

export function connect(tokenProvider) {
  if (connection) connection.stop();
  connection = new Connection({
    url: () => {
      const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
      return `${proto}//${location.host}/ws`;
    },
    // The token rides as a subprotocol, never in the URL: browsers print failed socket URLs
    // in the console.
    protocols: () => ['chat', `bearer.${tokenProvider()}`],
    onReady,
    onFrame,
    onStatus: (s) => {
      state.conn = s;
      if (s.state !== 'online') {
        if (state.online.size) {
          state.online.clear();
          emit('presence');
        }
      }
      emit('conn');
    },
    onClosedBeforeReady: async () => {
      try {
        await api.me();
        return true;
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) return false; // the 401 handler logs out
        return true;
      }
    },
    onAuthExpired: async () => {
      // The access token ran out before a renewal reached the socket: renew, reconnect.
      if (await renew(true)) return true;
      if (canRenew()) return true; // the server is unreachable: keep trying with backoff
      onLoggedOut('Your session expired. Please log in again.', { keep: true });
      return false;
    },
    onSessionEnded: () => {
      onLoggedOut('You were logged out (from another device, or after a password change). Please log in again.', { keep: true });
    },
  });
  offRenewed?.();
  offRenewed = onRenewed((token) => {
    connection?.authenticate(token);
  });
  connection.start();
}

export function retryConnection() {
  connection?.retryNow();
}

export function isConnected() {
  return !!connection?.isOpen;
}

/** After PATCH /users/me: the new name everywhere it shows. */
export function updateMe(user) {
  state.me = { ...state.me, ...user };
  for (const t of state.threads.values()) t.members = t.members.map((m) => (m.id === user.id ? { ...m, ...user } : m));
  try {
    localStorage.setItem('chat.user', JSON.stringify(state.me));
  } catch { /* ignore */ }
  emit('me');
  emit('threads');
}

/** Sets up state for a signed-in user. */
export function startSession(user) {
  state.me = user;
  state.threads.clear();
  state.online.clear();
  state.outbox.clear();
  state.lastSeen = 0;
  state.cursor = null;
  state.threadsLoaded = false;
  readMarksCache = loadJson('readMarks', {});
  for (const saved of loadJson('outbox', [])) {
    if (!saved || !saved.clientMsgId) continue;
    state.outbox.set(saved.clientMsgId, {
      ...saved, files: [], previews: [], status: 'queued', error: null, progress: null, seq: seq++, inFlight: false,
    });
  }
}

export function endSession() {
  if (connection) connection.stop();
  connection = null;
  offRenewed?.();
  offRenewed = null;
  clearInterval(cursorTimer);
  state.cursor = null;
  clearTimeout(typingTimer);
  typingState = { threadId: null, sentAt: 0 };
  state.me = null;
  state.threads.clear();
  state.online.clear();
  state.outbox.clear();
  state.openThreadId = null;
  state.lastSeen = 0;
  state.conn = { state: 'stopped', attempt: 0, retryAt: null };
}
