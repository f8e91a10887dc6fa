// The signed-in screen: thread list (sidebar) and conversation, side by side on wide windows,
// one at a time on narrow ones. The parts live in their own modules; this one lays them out,
// routes between chats and passes store events to them.

import { h, icon, clear, avatar } from '../dom.js';
import * as chat from '../chat.js';
import { toast } from '../toast.js';
import { newChatDialog, newGroupDialog, groupInfoDialog } from './dialogs.js';
import { messageSearch } from './search.js';
import { accountDialog } from './account.js';
import { threadListView } from './thread-list.js';
import { connStatusView } from './conn-status.js';
import { messageActions } from './message-actions.js';
import { timelineView } from './timeline.js';
import { composerView } from './composer.js';
import { startAlerts } from './alerts.js';
import { convHeaderView } from './conv-header.js';

const { state } = chat;

function isNarrow() {
  return window.matchMedia('(max-width: 760px)').matches;
}

export function mainView({ onLogout }) {
  const me = state.me;
  let current = null; // thread id shown
  const currentThread = () => (current !== null ? state.threads.get(current) : null);

  // ---------------------------------------------------------------- sidebar
  const conn = connStatusView();
  const meAvatarSlot = h('span.me-avatar-slot');
  const renderMeAvatar = () => {
    clear(meAvatarSlot);
    meAvatarSlot.append(avatar({ name: state.me.nickName, url: state.me.avatarUrl, key: me.id, size: 38, testid: 'me-avatar' }));
  };
  renderMeAvatar();
  const header = h('header.sidebar-header',
    meAvatarSlot,
    h('div.me-info',
      h('strong.me-name', { testid: 'me-name' }, me.nickName),
      conn.pill),
    h('div.header-actions',
      h('button.icon-btn', { type: 'button', title: 'New chat', 'aria-label': 'New chat', testid: 'new-chat-button', onclick: () => startNewChat() }, icon('newChat')),
      h('button.icon-btn', { type: 'button', title: 'New group', 'aria-label': 'New group', testid: 'new-group-button', onclick: () => startNewGroup() }, icon('group')),
      h('button.icon-btn', { type: 'button', title: 'Account and devices', 'aria-label': 'Account and devices', testid: 'account-button', onclick: () => accountDialog({ onLogout }) }, icon('account')),
      h('button.icon-btn', { type: 'button', title: 'Log out', 'aria-label': 'Log out', testid: 'logout-button', onclick: () => onLogout() }, icon('logout'))));

  const filterInput = h('input.filter', { type: 'search', placeholder: 'Search chats and messages', 'aria-label': 'Search chats and messages', testid: 'thread-filter' });
  const search = messageSearch({ onOpen: (hit) => openMessage(hit.threadId, hit.id) });
  filterInput.addEventListener('input', () => {
    renderThreads();
    search.run(filterInput.value);
  });
  filterInput.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && filterInput.value) {
      filterInput.value = '';
      renderThreads();
      search.run('');
    }
  });
  const list = threadListView({ me, filterInput, onNewChat: () => startNewChat() });
  const renderThreads = () => list.render();

  const sidebar = h('aside.sidebar', { testid: 'sidebar' },
    header,
    h('div.filter-wrap', icon('search', 18), filterInput),
    h('div.thread-scroll', list.els, search.el));

  // ---------------------------------------------------------------- conversation
  const convHeader = convHeaderView({ me, currentThread, onInfo: () => openInfo() });

  // the parts refer to each other through this object, filled in below
  const view = {
    currentThread,
    rerender: () => timeline.render(),
    jumpTo: (id) => timeline.jumpTo(id),
    startReply: (m) => { composer.setReply(m); composer.focus(); },
    replyingTo: () => composer.replyTo,
    cancelReply: () => composer.setReply(null),
    focusComposer: () => composer.focus({ preventScroll: true }),
    onImageLoad: () => { if (timeline.atBottom) timeline.scrollToBottom(); },
    items: () => timeline.items,
  };
  const actions = messageActions(me, view);
  const timeline = timelineView({ me, ctx: actions.ctx, currentThread, hidden: () => root.dataset.pane === 'list' && isNarrow() });
  const composer = composerView({
    me,
    timeline,
    isNarrow,
    onEditLast: () => {
      if (actions.ctx.editingId) return false;
      const t = currentThread();
      const mine = t ? [...chat.timeline(t)].reverse().find((m) => m.sender?.id === me.id && !m.deleted && m.text) : null;
      if (mine) actions.ctx.onEdit(mine);
      return !!mine;
    },
  });

  const convEmpty = h('div.conv-empty', { testid: 'no-conversation' },
    h('div.conv-empty-inner', icon('chat', 56), h('p', 'Select a chat, or start a new one.'),
      h('button.btn.primary', { type: 'button', onclick: () => startNewChat() }, 'New chat')));
  const conv = h('section.conv', { testid: 'conversation', hidden: true },
    convHeader.el,
    timeline.el,
    convHeader.typingEl,
    composer.el);
  const main = h('main.conversation-pane', convEmpty, conv);
  for (const evName of ['dragover', 'drop']) {
    conv.addEventListener(evName, (ev) => {
      if (!ev.dataTransfer || ![...ev.dataTransfer.types].includes('Files')) return;
      ev.preventDefault();
      if (evName === 'drop') composer.addFiles(ev.dataTransfer.files);
    });
  }

  const skip = h('a.skip-link', { href: '#', testid: 'skip-link' }, 'Skip to the conversation');
  skip.addEventListener('click', (ev) => {
    ev.preventDefault();
    (current !== null ? composer.textarea : list.focusTarget() || filterInput).focus();
  });
  const root = h('div.app', { testid: 'app', dataset: { pane: 'list' } }, skip, conn.banner, h('div.panes', sidebar, main));

  const renderHeader = () => convHeader.render();
  const renderTyping = () => convHeader.renderTyping();

  // ---------------------------------------------------------------- opening threads
  function showThread(id) {
    const t = id !== null ? state.threads.get(id) : null;
    composer.open(t ? id : null);
    current = t ? id : null;
    state.openThreadId = current;
    root.dataset.pane = current !== null ? 'thread' : 'list';
    conv.hidden = current === null;
    convEmpty.hidden = current !== null;
    actions.stopEditing();
    renderThreads();
    timeline.reset(t);
    if (!t) return;
    conv.dataset.threadId = String(t.id);
    renderHeader();
    renderTyping();
    if (!t.tracked) chat.trackThread(t.id);
    timeline.render({ forceBottom: true });
    if (!isNarrow()) composer.focus({ preventScroll: true });
  }

  let pendingJump = null; // {threadId, messageId}: a search hit to show once its thread is open
  async function openMessage(threadId, messageId) {
    if (isNarrow()) {
      filterInput.value = '';
      renderThreads();
      search.run('');
    }
    if (current === threadId) {
      timeline.jumpTo(messageId);
      return;
    }
    pendingJump = { threadId, messageId };
    openThread(threadId);
  }

  async function route() {
    const m = /^#\/t\/(\d+)$/.exec(location.hash);
    if (!m) {
      showThread(null);
      return;
    }
    const id = Number(m[1]);
    if (!state.threads.has(id)) {
      if (!state.threadsLoaded) {
        showThread(null);
        return; // routed again when the list arrives
      }
      try {
        await chat.ensureThread(id);
      } catch (e) {
        toast(`Cannot open this chat: ${e.message}`, 'error');
        location.hash = '#/';
        return;
      }
    }
    if (current !== id) showThread(id);
    if (pendingJump && pendingJump.threadId === id) {
      const { messageId } = pendingJump;
      pendingJump = null;
      const t = state.threads.get(id);
      // after the newest page: it may already hold the message
      if (t?.loading) await new Promise((resolve) => { const off = chat.subscribe((w, d) => { if (w === 'messages' && d?.initial && d.threadId === id) { off(); resolve(); } }); });
      timeline.jumpTo(messageId);
    }
  }

  function openThread(id) {
    if (location.hash === `#/t/${id}`) route();
    else location.hash = `#/t/${id}`;
  }

  // ---------------------------------------------------------------- dialogs
  function startNewChat() {
    newChatDialog({
      onPick: async (user) => {
        const t = await chat.openDirect(user.id);
        openThread(t.id);
      },
    });
  }

  function startNewGroup() {
    newGroupDialog({
      onCreate: async (name, memberIds) => {
        const t = await chat.createGroup(name, memberIds);
        openThread(t.id);
      },
    });
  }

  function openInfo() {
    const t = currentThread();
    if (t && t.isGroup) groupInfoDialog(t);
  }

  // ---------------------------------------------------------------- wiring
  const unsubscribe = chat.subscribe((what, detail) => {
    switch (what) {
      case 'threads':
        scheduleThreads();
        if (currentThread()?.unreadCount) timeline.scheduleRead(); // a refreshed count for the open thread
        if (current === null && state.threadsLoaded && /^#\/t\/\d+$/.test(location.hash)) route();
        break;
      case 'presence':
        scheduleThreads();
        renderHeader();
        break;
      case 'thread':
        if (detail === current) renderHeader();
        scheduleThreads();
        break;
      case 'typing':
        scheduleThreads();
        if (detail === current) renderTyping();
        break;
      case 'messages':
        if (detail?.threadId === current) {
          const incomingWhileUp = detail.incoming && !timeline.atBottom;
          const editingId = actions.ctx.editingId;
          if (detail.updated && editingId === detail.updated && currentThread()?.timeline.get(editingId)?.deleted) actions.stopEditing();
          timeline.render({ older: !!detail.older, forceBottom: !!detail.own || !!detail.initial });
          if (incomingWhileUp) timeline.showNewPill();
        }
        scheduleThreads();
        break;
      case 'seen':
        if (detail === current) timeline.render();
        break;
      case 'removed':
        if (detail === current) location.hash = '#/';
        scheduleThreads();
        break;
      case 'conn':
        conn.render();
        if (current !== null) {
          timeline.forgetPending();
          timeline.render();
        }
        break;
      case 'ready':
        timeline.scheduleRead();
        break;
      case 'me':
        header.querySelector('[data-testid="me-name"]').textContent = state.me.nickName;
        renderMeAvatar();
        break;
      default:
        break;
    }
  });

  let threadsQueued = false;
  function scheduleThreads() {
    if (threadsQueued) return;
    threadsQueued = true;
    queueMicrotask(() => {
      threadsQueued = false;
      renderThreads();
    });
  }

  // Ctrl+K (Cmd+K): jump to a chat by name
  const onKey = (ev) => {
    if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === 'k') {
      ev.preventDefault();
      if (isNarrow() && current !== null) location.hash = '#/';
      filterInput.focus();
      filterInput.select();
    }
  };
  document.addEventListener('keydown', onKey);
  const onFocus = () => timeline.scheduleRead();
  window.addEventListener('focus', onFocus);
  document.addEventListener('visibilitychange', onFocus);
  window.addEventListener('hashchange', route);
  const mq = window.matchMedia('(max-width: 760px)');
  mq.addEventListener('change', onFocus);
  // the relative labels ("Today", times in the list) age
  const ageTimer = setInterval(() => {
    list.age();
    renderHeader(); // "last seen 5 min ago"
  }, 60000);
  const stopAlerts = startAlerts();

  renderThreads();
  conn.render();
  route();

  return {
    el: root,
    destroy() {
      unsubscribe();
      stopAlerts();
      clearInterval(ageTimer);
      conn.destroy();
      window.removeEventListener('focus', onFocus);
      document.removeEventListener('keydown', onKey);
      list.destroy();
      document.removeEventListener('visibilitychange', onFocus);
      window.removeEventListener('hashchange', route);
      mq.removeEventListener('change', onFocus);
      timeline.destroy();
      search.destroy();
      composer.destroy();
    },
  };
}
