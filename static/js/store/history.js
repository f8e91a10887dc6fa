// The window of a thread's messages kept in memory (older pages, newer pages after a jump,
// the page around one message) and the changes to a message: edit, delete, react.

import { api } from '../api.js';
import { ConnectionLost } from '../socket.js';
import { state, rt, emit, notify } from './core.js';
import { applyUpdate, trackThread } from './messages.js';

export async function loadOlder(threadId) {
  const t = state.threads.get(threadId);
  if (!t || !t.tracked || t.loading || t.loadingOlder || !t.hasMoreOlder) return;
  t.loadingOlder = true;
  emit('messages', { threadId });
  try {
    const data = await api.messages(threadId, { before: t.oldestId, limit: 50 });
    for (const m of data.messages || []) {
      if (!t.timeline.has(m.id)) {
        t.timeline.set(m.id, m);
        t.sorted = null;
      }
      t.oldestId = Math.min(t.oldestId, m.id);
    }
    t.hasMoreOlder = !!data.hasMore && (data.messages || []).length > 0;
  } catch (e) {
    notify(`Could not load older messages: ${e.message}`, 'error');
  } finally {
    t.loadingOlder = false;
    emit('messages', { threadId, older: true });
  }
}

/** After a jump into the past: the next page towards the present. */
export async function loadNewer(threadId) {
  const t = state.threads.get(threadId);
  if (!t || !t.tracked || t.loading || t.loadingNewer || !t.hasMoreNewer) return;
  t.loadingNewer = true;
  try {
    const data = await api.messages(threadId, { after: t.newestId, limit: 50 });
    for (const m of data.messages || []) {
      if (!t.timeline.has(m.id)) t.timeline.set(m.id, m);
      t.newestId = Math.max(t.newestId, m.id);
    }
    t.sorted = null;
    t.hasMoreNewer = !!data.hasMore && (data.messages || []).length > 0;
  } catch (e) {
    notify(`Could not load newer messages: ${e.message}`, 'error');
  } finally {
    t.loadingNewer = false;
    emit('messages', { threadId, newer: true });
  }
}

/** The timeline becomes `messages`, a window into the thread's past (not the newest page). */
function showWindow(t, messages, { hasMoreOlder, hasMoreNewer, windowAfter }) {
  t.tracked = true;
  t.loadError = null;
  t.timeline.clear();
  for (const m of messages) t.timeline.set(m.id, m);
  t.sorted = null;
  t.oldestId = Math.min(...messages.map((m) => m.id));
  t.newestId = Math.max(...messages.map((m) => m.id));
  t.hasMoreOlder = hasMoreOlder;
  t.hasMoreNewer = hasMoreNewer;
  t.windowAfter = windowAfter;
}

/**
 * Makes sure a message is in the open thread's timeline (a reply's original, a search hit):
 * when it is not, the timeline becomes the page around it. Resolves true when it is there.
 */
export async function loadAround(threadId, messageId) {
  const t = state.threads.get(threadId);
  if (!t) return false;
  if (t.tracked && t.timeline.has(messageId)) return true;
  const gen = (t.windowGen = (t.windowGen || 0) + 1);
  const data = await api.messages(threadId, { around: messageId, limit: 50 });
  const messages = data.messages || [];
  if (!messages.some((m) => m.id === messageId)) return false;
  if (gen !== t.windowGen) return t.timeline.has(messageId); // a later jump won
  showWindow(t, messages, { hasMoreOlder: !!data.hasMore, hasMoreNewer: !!data.hasMoreAfter, windowAfter: null });
  emit('messages', { threadId, jumped: messageId });
  return true;
}

/**
 * The timeline becomes the page just after `afterId` (opening a chat at its first unread
 * message when that is further back than the newest page). Resolves true when it holds any.
 */
export async function loadFrom(threadId, afterId) {
  const t = state.threads.get(threadId);
  if (!t) return false;
  const gen = (t.windowGen = (t.windowGen || 0) + 1);
  const data = await api.messages(threadId, { after: afterId, limit: 50 });
  const messages = data.messages || [];
  if (!messages.length || gen !== t.windowGen) return false;
  showWindow(t, messages, { hasMoreOlder: afterId > 0, hasMoreNewer: !!data.hasMore, windowAfter: afterId });
  emit('messages', { threadId, jumped: messages[0].id });
  return true;
}

/** Back to the newest page (the "jump to present" button after a jump into the past). */
export async function backToPresent(threadId) {
  const t = state.threads.get(threadId);
  if (!t) return;
  t.tracked = false;
  t.timeline.clear();
  t.sorted = null;
  t.hasMoreNewer = false;
  t.windowAfter = null;
  await trackThread(threadId);
}

// ------------------------------------------------------------------ edit, delete, react

async function lifecycle(frame, http) {
  let msg;
  const connection = rt.connection;
  if (connection?.isOpen) {
    try {
      msg = (await connection.request(frame)).message;
    } catch (e) {
      if (!(e instanceof ConnectionLost)) throw e;
      msg = (await http()).message;
    }
  } else {
    msg = (await http()).message;
  }
  applyUpdate(msg);
  return msg;
}

export function editMessage(m, text) {
  return lifecycle({ type: 'edit', messageId: m.id, text }, () => api.editMessage(m.threadId, m.id, text));
}

export function deleteMessage(m) {
  return lifecycle({ type: 'delete', messageId: m.id }, () => api.deleteMessage(m.threadId, m.id));
}

export function react(m, emoji, on) {
  return lifecycle({ type: 'react', messageId: m.id, emoji, on }, () => api.react(m.threadId, m.id, emoji, on));
}

export function findMessage(threadId, messageId) {
  return state.threads.get(threadId)?.timeline.get(messageId) || null;
}

