// The client's store, as one module for the views: state and change events (store/core.js),
// threads, messages, the outbox, typing and read marks, the history window, and the
// connection. Each concern lives in its own file under store/.

export {
  state, subscribe, setNotifier, setLogoutHandler, loadDrafts, saveDrafts, clearDrafts,
} from './store/core.js';
export {
  otherMember, threadTitle, sortedThreads, loadThreads, ensureThread, openDirect, createGroup, addMember,
  renameGroup, refreshThread, leaveThread,
} from './store/threads.js';
export { timeline, pendingFor, applyUpdate, trackThread } from './store/messages.js';
export { sendMessage, retryPending, discardPending } from './store/outbox.js';
export { userTyping, stopTyping, typingUsers, markRead, readersOf } from './store/typing.js';
export {
  loadOlder, loadNewer, loadAround, loadFrom, backToPresent, editMessage, deleteMessage, react, findMessage,
} from './store/history.js';
export {
  connect, retryConnection, isConnected, updateMe, startSession, endSession,
} from './store/connection.js';
export {
  isMuted, setMuted, notificationsWanted, setNotificationsWanted, unreadTotal,
} from './store/prefs.js';
