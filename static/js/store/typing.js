// Typing indicators (ours out, theirs in, with a time to live) and read marks (ours sent while
// the person looks at the thread, theirs for "Seen").

import { state, rt, emit } from './core.js';
import { timeline, isViewing } from './messages.js';

const TYPING_TTL = 6000;

let typingTimer = null;
let typingState = { threadId: null, sentAt: 0 };

export function userTyping(threadId) {
  const now = Date.now();
  if (typingState.threadId !== threadId || now - typingState.sentAt > 3000) {
    if (typingState.threadId && typingState.threadId !== threadId) stopTyping(typingState.threadId);
    if (rt.connection?.send({ type: 'typing', threadId, isTyping: true })) {
      typingState = { threadId, sentAt: now };
    }
  }
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => stopTyping(threadId), 4000);
}

export function stopTyping(threadId) {
  clearTimeout(typingTimer);
  if (typingState.threadId === threadId) {
    rt.connection?.send({ type: 'typing', threadId, isTyping: false });
    typingState = { threadId: null, sentAt: 0 };
  }
}

/** Forgets our own typing state (at log out). */
export function resetTyping() {
  clearTimeout(typingTimer);
  typingState = { threadId: null, sentAt: 0 };
}

/** A `typing` frame of someone else. */
export function theyType(t, user, isTyping) {
  if (isTyping) t.typing.set(user.id, { nickName: user.nickName || 'Someone', expires: Date.now() + TYPING_TTL });
  else t.typing.delete(user.id);
  emit('typing', t.id);
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

export function countUnread(t) {
  return timeline(t).filter((m) => m.id > t.myLastRead && m.sender?.id !== state.me.id).length;
}

/** Called by the view with the newest message the person can see in the open thread. */
export function markRead(threadId, messageId) {
  const t = state.threads.get(threadId);
  if (!t || !messageId || !isViewing(threadId)) return;
  if (messageId <= t.myLastRead && t.unreadCount === 0) return;
  if (messageId > t.myLastRead) {
    if (!rt.connection?.send({ type: 'read', threadId, messageId })) return;
    t.myLastRead = messageId;
  }
  const unread = t.tracked ? countUnread(t) : 0;
  if (unread !== t.unreadCount) {
    t.unreadCount = unread;
    emit('threads');
  }
}

/** Who has read up to this message (other members only). */
export function readersOf(t, messageId) {
  return t.members.filter((m) => m.id !== state.me.id && (t.readMarks[m.id] || 0) >= messageId);
}
