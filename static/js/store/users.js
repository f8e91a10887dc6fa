// What this client knows of people's names and pictures. The contract sends no event when
// someone edits their profile, so a newer name or avatar is learnt from what carries a user:
// a message's sender, a thread's members; once learnt, it shows everywhere (chat list,
// headers, the messages already on screen).

import { state, emit } from './core.js';

const FIELDS = ['nickName', 'avatarUrl', 'avatarThumbUrl', 'userName'];

function differs(known, user) {
  return FIELDS.some((f) => user[f] !== undefined && known[f] !== user[f]);
}

function merged(known, user) {
  const next = { ...known };
  for (const f of FIELDS) if (user[f] !== undefined) next[f] = user[f];
  // a new picture without its thumbnail: the old thumbnail is gone with the old file
  if (user.avatarUrl !== undefined && user.avatarUrl !== known.avatarUrl && user.avatarThumbUrl === undefined) next.avatarThumbUrl = null;
  return next;
}

/** Applies a user's current profile to every thread and loaded message. Returns whether anything changed. */
export function learnUser(user, { quiet = false } = {}) {
  if (!user || typeof user.id !== 'number') return false;
  let changed = false;
  for (const t of state.threads.values()) {
    let threadChanged = false;
    const i = t.members.findIndex((m) => m.id === user.id);
    if (i >= 0 && differs(t.members[i], user)) {
      t.members = t.members.slice();
      t.members[i] = merged(t.members[i], user);
      threadChanged = true;
    }
    if (t.lastMessage?.sender?.id === user.id && differs(t.lastMessage.sender, user)) {
      t.lastMessage = { ...t.lastMessage, sender: merged(t.lastMessage.sender, user) };
      threadChanged = true;
    }
    let messagesChanged = false;
    if (t.tracked) {
      for (const [id, m] of t.timeline) {
        if (m.sender?.id === user.id && differs(m.sender, user)) {
          t.timeline.set(id, { ...m, sender: merged(m.sender, user) });
          messagesChanged = true;
        }
      }
      if (messagesChanged) t.sorted = null;
    }
    if (threadChanged || messagesChanged) {
      changed = true;
      if (!quiet) {
        emit('thread', t.id);
        if (messagesChanged) emit('messages', { threadId: t.id });
      }
    }
  }
  if (changed && !quiet) emit('threads');
  return changed;
}
