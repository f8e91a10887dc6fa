// Entry point: picks the screen (login, register, chat) and keeps the session.

import { api, ApiError, getToken, saveSession, savedUser, clearSession, onUnauthorized } from './js/api.js';
import * as chat from './js/chat.js';
import { h, clear } from './js/dom.js';
import { toast } from './js/toast.js';
import { loginView, registerView } from './js/views/auth.js';
import { mainView } from './js/views/main.js';

const root = document.getElementById('app');
let screen = null; // { el, destroy? }
let signedIn = false;

chat.setNotifier((message, kind) => toast(message, kind));
chat.setLogoutHandler((reason) => logout(reason));

onUnauthorized(() => {
  if (signedIn) logout('Your session has ended. Please log in again.');
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

function showAuth(notice) {
  signedIn = false;
  const which = location.hash === '#/register' ? 'register' : 'login';
  document.title = which === 'register' ? 'Create account · Chat' : 'Log in · Chat';
  const onLoggedIn = (token, user) => {
    saveSession(token, user);
    location.hash = '#/';
    startApp(user);
  };
  mount({ el: which === 'register' ? registerView({ onLoggedIn }) : loginView({ onLoggedIn, notice }) });
}

function startApp(user) {
  signedIn = true;
  chat.startSession(user);
  mount(mainView({ onLogout: () => logout() }));
  chat.loadThreads();
  chat.connect(getToken);
}

function logout(reason) {
  const wasSignedIn = signedIn;
  signedIn = false;
  chat.endSession();
  clearSession();
  if (location.hash !== '#/login') history.replaceState(null, '', '#/login');
  showAuth(reason);
  if (reason && wasSignedIn) toast(reason, 'info');
}

window.addEventListener('hashchange', () => {
  if (!signedIn) showAuth();
});

async function boot() {
  const token = getToken();
  if (!token) {
    showAuth();
    return;
  }
  try {
    const data = await api.me();
    saveSession(token, data.user);
    if (/^#\/(login|register)$/.test(location.hash)) history.replaceState(null, '', '#/');
    startApp(data.user);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
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
