// A thread's messages in memory: merging by id (events, acks, sync pages, HTTP answers),
// replacing changed ones, and loading the newest page of a thread when it is opened.

import { api, ApiError } from '../api.js';
import { state, emit, notify, persistOutbox } from './core.js';
import { ensureThread } from './threads.js';
import { learnUser } from './users.js';

export function timeline(t) {
  if (!t.sorted) t.sorted = [...t.timeline.values()].sort((a, b) => a.id - b.id);
  return t.sorted;
}

export function pendingFor(threadId) {
  return [...state.outbox.values()].filter((p) => p.threadId === threadId).sort((a, b) => a.seq - b.seq);
}

export function isViewing(threadId) {
  return state.openThreadId === threadId && document.visibilityState === 'visible' && document.hasFocus();
}

/** Merges one stored message (from an event, an ack, a sync page, an HTTP answer). Idempotent. */
export function ingest(msg, { fromHistory = false } = {}) {
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
  // a live message carries its sender's current name and picture
  if (!fromHistory && !mine && msg.sender) learnUser(msg.sender);
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
