// The socket and the session: server frames into the state, connecting with renewal of the
// token, and setting up or tearing down a signed-in user.

import { api, ApiError } from '../api.js';
import { Connection } from '../socket.js';
import { renew, onRenewed, canRenew } from '../session.js';
import { state, rt, emit, notify, loadJson, persistReadMarks } from './core.js';
import { upsertThread, dropThread, threadTitle, bumpReadMark, ensureThread } from './threads.js';
import { ingest, applyUpdate } from './messages.js';
import { theyType, countUnread, resetTyping } from './typing.js';
import { restoreOutbox } from './outbox.js';
import { learnUser } from './users.js';
import { onReady, stopSyncTimer } from './sync.js';

let offRenewed = null;

function onFrame(frame) {
  switch (frame.type) {
    case 'message': {
      // a live message (not a catch-up page): what desktop notifications are about
      const m = frame.message;
      const theirs = m && m.sender?.id !== state.me?.id;
      if (m && !state.threads.has(m.threadId)) {
        // the first message of a chat new to us: its thread comes first
        ensureThread(m.threadId).then(() => {
          ingest(m);
          if (theirs) emit('incoming', m);
        }).catch((e) => notify(`A message arrived in a chat that could not be loaded: ${e.message}`, 'error'));
      } else if (ingest(m) && theirs) emit('incoming', m);
      break;
    }
    case 'messageUpdated':
      applyUpdate(frame.message);
      break;
    case 'typing': {
      const t = state.threads.get(frame.threadId);
      const user = frame.user || {};
      if (!t || user.id === state.me?.id) break;
      theyType(t, user, !!frame.isTyping);
      break;
    }
    case 'read': {
      const t = state.threads.get(frame.threadId);
      if (!t) break;
      if (frame.userId === state.me?.id) {
        if (frame.messageId > t.myLastRead) {
          t.myLastRead = frame.messageId;
          t.unreadCount = t.tracked
            ? countUnread(t)
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
      if (frame.online) {
        state.online.add(frame.userId);
        state.wentOffline.delete(frame.userId);
      } else {
        state.online.delete(frame.userId);
        // the contract has no last-seen time: what this page saw is all there is
        state.wentOffline.set(frame.userId, new Date().toISOString());
      }
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
    default:
      break; // pong, ack; newer servers may send more
  }
}

export function connect(tokenProvider) {
  if (rt.connection) rt.connection.stop();
  rt.connection = new Connection({
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
      rt.onLoggedOut('Your session expired. Please log in again.', { keep: true });
      return false;
    },
    onSessionEnded: () => {
      rt.onLoggedOut('You were logged out (from another device, or after a password change). Please log in again.', { keep: true });
    },
  });
  offRenewed?.();
  offRenewed = onRenewed((token) => {
    rt.connection?.authenticate(token);
  });
  rt.connection.start();
}

export function retryConnection() {
  rt.connection?.retryNow();
}

export function isConnected() {
  return !!rt.connection?.isOpen;
}

/** After PATCH /users/me: the new name and picture everywhere they show. */
export function updateMe(user) {
  state.me = { ...state.me, ...user };
  learnUser(user);
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
  rt.readMarksCache = loadJson('readMarks', {});
  restoreOutbox();
}

export function endSession() {
  if (rt.connection) rt.connection.stop();
  rt.connection = null;
  offRenewed?.();
  offRenewed = null;
  stopSyncTimer();
  state.cursor = null;
  resetTyping();
  state.me = null;
  state.threads.clear();
  state.online.clear();
  state.wentOffline.clear();
  state.outbox.clear();
  state.openThreadId = null;
  state.lastSeen = 0;
  state.conn = { state: 'stopped', attempt: 0, retryAt: null };
}
