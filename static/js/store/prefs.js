// Preferences of this user on this device, kept in localStorage: muted chats (no desktop
// notification, not in the tab's badge) and whether desktop notifications are wanted.

import { state, emit, loadJson, saveJson } from './core.js';

let muted = null; // Set of thread ids, loaded per user on first use
let mutedOwner = null;

function mutedSet() {
  if (!muted || mutedOwner !== state.me?.id) {
    muted = new Set(loadJson('muted', []).map(Number));
    mutedOwner = state.me?.id ?? null;
  }
  return muted;
}

export function isMuted(threadId) {
  return mutedSet().has(threadId);
}

export function setMuted(threadId, on) {
  const set = mutedSet();
  if (on) set.add(threadId);
  else set.delete(threadId);
  saveJson('muted', [...set]);
  emit('threads');
  emit('thread', threadId);
}

export function notificationsWanted() {
  return loadJson('notify', false) === true;
}

export function setNotificationsWanted(on) {
  saveJson('notify', !!on);
}

/** Unread messages of the chats that are not muted (the tab's badge). */
export function unreadTotal() {
  let n = 0;
  for (const t of state.threads.values()) if (!isMuted(t.id)) n += t.unreadCount || 0;
  return n;
}
