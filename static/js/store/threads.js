// The thread list: merging thread objects from the server, titles, membership actions
// (with the system lines they cause), and dropping a thread this user left.

import { api, ApiError } from '../api.js';
import { membershipLines } from '../system-lines.js';
import { state, rt, emit, notify, persistOutbox } from './core.js';
import { learnUser } from './users.js';

export function otherMember(t) {
  return t.members.find((m) => m.id !== state.me?.id) || null;
}

export function threadTitle(t) {
  if (t.isGroup) return t.name || 'Group';
  const other = otherMember(t);
  return other ? other.nickName : 'Just you';
}

let systemSeq = 0;
// What this client just did to a group, so its system line can say "You removed Carol".
const pendingActions = [];

export function bumpReadMark(t, userId, messageId) {
  if (!Number.isFinite(messageId)) return false;
  if ((t.readMarks[userId] || 0) >= messageId) return false;
  t.readMarks[userId] = messageId;
  return true;
}

export function upsertThread(server) {
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
      readMarks: { ...(rt.readMarksCache?.[server.id] || {}) },
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
  const members = Array.isArray(server.members) ? server.members : [];
  // a member's newer name or picture shows on the messages already loaded too
  if (before) {
    const was = new Map(before.members.map((m) => [m.id, m]));
    for (const m of members) {
      const old = was.get(m.id);
      if (old && (old.nickName !== m.nickName || old.avatarUrl !== m.avatarUrl)) learnUser(m);
    }
  }
  t.members = members;
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

export function sortedThreads() {
  const key = (t) => Date.parse(t.lastMessage?.createdAt || t.updatedAt || 0) || 0;
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

const threadFetches = new Map();
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

export function dropThread(threadId) {
  state.threads.delete(threadId);
  for (const [cid, p] of state.outbox) if (p.threadId === threadId) state.outbox.delete(cid);
  persistOutbox();
  emit('threads');
  emit('removed', threadId);
}
