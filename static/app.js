// Entry point: picks the screen (login, register, chat) and keeps the session.

import { api, ApiError, getToken, saveSession, savedUser, clearSession, onUnauthorized } from './js/api.js';
import * as chat from './js/chat.js';
import { h, clear } from './js/dom.js';
import { toast } from './js/toast.js';
import { startRenewal, stopRenewal } from './js/session.js';
import { loadLimits } from './js/limits.js';
import { loginView, registerView } from './js/views/auth.js';
import { mainView } from './js/views/main.js';

const RELOGIN_KEY = 'chat.relogin';
const root = document.getElementById('app');
let screen = null; // { el, destroy? }
let signedIn = false;

chat.setNotifier((message, kind) => toast(message, kind));
chat.setLogoutHandler((reason, opts) => logout(reason, opts));

onUnauthorized(() => {
  if (signedIn) logout('Your session has ended. Please log in again.', { keep: true });
});

window.addEventListener('unhandledrejection', (ev) => {
  const reason = ev.reason;
  if (reason && reason.name === 'AbortError') return;
  toast(`Something went wrong: ${reason?.message || reason}`, 'error');
});
window.addEventListener('error', (ev) => {
  if (!ev.message) return;
  toast(`Something went wrong: ${ev.message}`, 'error');
});

function mount(next) {
  if (screen?.destroy) screen.destroy();
  clear(root);
  screen = next;
  root.append(next.el);
}

/** Where a forced re-login returns to: the same person, the same chat, the draft kept. */
function relogin() {
  try {
    return JSON.parse(localStorage.getItem(RELOGIN_KEY) || 'null');
  } catch {
    return null;
  }
}

function showAuth(notice) {
  signedIn = false;
  const which = location.hash === '#/register' ? 'register' : 'login';
  document.title = which === 'register' ? 'Create account · Chat' : 'Log in · Chat';
  const back = relogin();
  const onLoggedIn = (data) => {
    saveSession(data.accessToken, data.user, data.refreshToken ?? null);
    const again = relogin();
    try { localStorage.removeItem(RELOGIN_KEY); } catch { /* ignore */ }
    const target = again && again.userId === data.user.id && again.hash ? again.hash : '#/';
    history.replaceState(null, '', target);
    startApp(data.user);
  };
  mount({
    el: which === 'register'
      ? registerView({ onLoggedIn })
      : loginView({ onLoggedIn, notice, userName: back?.userName || '' }),
  });
}

function startApp(user) {
  signedIn = true;
  chat.startSession(user);
  startRenewal();
  mount(mainView({ onLogout: () => logout() }));
  chat.loadThreads();
  chat.connect(getToken);
}

/** opts.keep: the session ended by itself; keep drafts and come back to the same chat. */
function logout(reason, { keep = false } = {}) {
  const wasSignedIn = signedIn;
  signedIn = false;
  const user = savedUser();
  if (keep && user) {
    try {
      localStorage.setItem(RELOGIN_KEY, JSON.stringify({ userId: user.id, userName: user.userName, hash: location.hash }));
    } catch { /* ignore */ }
  } else if (wasSignedIn) {
    api.logout().catch(() => {}); // ends this session on the server too
    chat.clearDrafts();
    try { localStorage.removeItem(RELOGIN_KEY); } catch { /* ignore */ }
  }
  stopRenewal();
  chat.endSession();
  clearSession();
  if (location.hash !== '#/login') history.replaceState(null, '', '#/login');
  showAuth(reason);
  if (reason && wasSignedIn && !keep) toast(reason, 'info');
}

window.addEventListener('hashchange', () => {
  if (!signedIn) showAuth();
});

async function boot() {
  loadLimits();
  const token = getToken();
  if (!token) {
    showAuth();
    return;
  }
  try {
    startRenewal(); // a token that expired while the page was closed is renewed by the request
    const data = await api.me();
    saveSession(getToken(), data.user);
    if (/^#\/(login|register)$/.test(location.hash)) history.replaceState(null, '', '#/');
    startApp(data.user);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      stopRenewal();
      clearSession();
      showAuth('Your session has ended. Please log in again.');
      return;
    }
    const user = savedUser();
    if (user) {
      // Server unreachable: open the app anyway; it reconnects by itself.
      toast(e.message, 'error');
      startApp(user);
      return;
    }
    mount({
      el: h('div.auth-screen', h('div.auth-card',
        h('h1', 'Cannot reach the server'),
        h('p.auth-sub', { testid: 'boot-error' }, e.message),
        h('button.btn.primary.wide', { type: 'button', onclick: () => boot() }, 'Try again'))),
    });
  }
}

boot();
