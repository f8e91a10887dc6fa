// Catching up after (re)connecting: `sync {since}` from the cursor, the version 1 `sync
// {after}` once on the first connection, or a fresh start when the client is far behind.

import { ServerError, ConnectionLost } from '../socket.js';
import { state, rt, emit, notify } from './core.js';
import { loadThreads } from './threads.js';
import { ingest, applyUpdate, trackThread } from './messages.js';
import { pump } from './outbox.js';

const SYNC_OVERLAP = 20; // ids re-asked on reconnect; duplicates are dropped by id
const SYNC_PAGE = 500;
const SYNC_MAX_PAGES = 20; // beyond that, drop the caches and reload instead
const CURSOR_REFRESH_MS = 5 * 60 * 1000; // a long-lived connection moves its sync cursor now and then

let cursorTimer = null;

/** Every change since the cursor (new, edited, deleted, reacted), page by page. */
async function catchUpSince() {
  for (let page = 0; page < SYNC_MAX_PAGES; page++) {
    let ack;
    try {
      ack = await rt.connection.request({ type: 'sync', since: state.cursor, limit: SYNC_PAGE }, 30000);
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
    const ack = await rt.connection.request({ type: 'sync', after, limit: SYNC_PAGE }, 30000);
    const messages = ack.messages || [];
    for (const m of messages) ingest(m);
    if (!ack.hasMore || !messages.length) return true;
    after = messages[messages.length - 1].id;
  }
  return false;
}

export async function onReady(frame) {
  if (frame.user) state.me = { ...state.me, ...frame.user };
  state.online.clear(); // the snapshot of who is online follows
  emit('presence');
  try {
    // The first time, `lastSeen` comes from the thread list: wait for it, or sync would replay everything.
    const firstLoad = !state.threadsLoaded;
    if (firstLoad && !(await loadThreads())) {
      rt.connection?.drop('cannot load the thread list');
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
    rt.connection?.healthy();
    clearInterval(cursorTimer);
    cursorTimer = setInterval(() => {
      if (rt.connection?.isOpen && state.cursor !== null) catchUpSince().catch(() => {});
    }, CURSOR_REFRESH_MS);
  } catch (e) {
    if (e instanceof ConnectionLost) return; // the next connection catches up
    notify(`Could not catch up with new messages: ${e.message}`, 'error');
  }
  emit('conn');
  pump();
  emit('ready');
}

export function stopSyncTimer() {
  clearInterval(cursorTimer);
}
