// The signed-in screen: thread list (sidebar) and conversation, side by side on wide windows,
// one at a time on narrow ones.

import {
  h, icon, clear, avatar, syncChildren, formatDay, dayKey, formatSize, codePoints,
} from '../dom.js';
import * as chat from '../chat.js';
import { toast } from '../toast.js';
import { limits, fileProblem } from '../limits.js';
import { newChatDialog, newGroupDialog, groupInfoDialog, confirmDialog, imageViewer } from './dialogs.js';
import { messageNode, messageSig, systemLineNode } from './message.js';
import { emojiPicker } from './reactions.js';
import { messageSearch } from './search.js';
import { accountDialog } from './account.js';
import { threadListView } from './thread-list.js';

const { state } = chat;
const IMAGE_TYPES = /^image\/(png|jpeg|gif|webp)$/;
// Touch screens have no Shift+Enter: there Enter makes a new line and the button sends.
const touchQuery = window.matchMedia('(pointer: coarse)');

export function mainView({ onLogout }) {
  const me = state.me;
  const drafts = chat.loadDrafts();
  // saved as typed: a forced re-login or a closed tab must not lose a word
  const persistDrafts = () => chat.saveDrafts(drafts);

  // ---------------------------------------------------------------- sidebar
  const connPill = h('span.conn-pill', { testid: 'connection-status', dataset: { state: 'connecting' }, role: 'status' },
    h('span.conn-dot'), h('span.conn-text', 'Connecting…'));
  const meAvatar = avatar({ name: me.nickName, url: me.avatarUrl, key: me.id, size: 38, testid: 'me-avatar' });
  const header = h('header.sidebar-header',
    meAvatar,
    h('div.me-info',
      h('strong.me-name', { testid: 'me-name' }, me.nickName),
      connPill),
    h('div.header-actions',
      h('button.icon-btn', { type: 'button', title: 'New chat', 'aria-label': 'New chat', testid: 'new-chat-button', onclick: () => startNewChat() }, icon('newChat')),
      h('button.icon-btn', { type: 'button', title: 'New group', 'aria-label': 'New group', testid: 'new-group-button', onclick: () => startNewGroup() }, icon('group')),
      h('button.icon-btn', { type: 'button', title: 'Account and devices', 'aria-label': 'Account and devices', testid: 'account-button', onclick: () => accountDialog({ onLogout }) }, icon('account')),
      h('button.icon-btn', { type: 'button', title: 'Log out', 'aria-label': 'Log out', testid: 'logout-button', onclick: () => onLogout() }, icon('logout'))));

  const bannerText = h('span.banner-text');
  const bannerRetry = h('button.btn.small.light', { type: 'button', testid: 'reconnect-now', onclick: () => chat.retryConnection() }, 'Retry now');
  const banner = h('div.conn-banner', { testid: 'connection-banner', hidden: true, role: 'status' }, bannerText, bannerRetry);

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
  const backBtn = h('button.icon-btn.back', { type: 'button', 'aria-label': 'Back to chats', title: 'Back', testid: 'back-button', onclick: () => { location.hash = '#/'; } }, icon('back'));
  const convAvatarSlot = h('span.conv-avatar');
  const convTitle = h('h2.conv-title', { testid: 'conversation-title' });
  const convSub = h('span.conv-sub', { testid: 'conversation-subtitle' });
  const infoBtn = h('button.icon-btn', { type: 'button', title: 'Chat details', 'aria-label': 'Chat details', testid: 'thread-info-button', onclick: () => openInfo() }, icon('info'));
  const convHeader = h('header.conv-header', backBtn, convAvatarSlot, h('div.conv-heading', convTitle, convSub), infoBtn);

  const historyStatus = h('div.history-status', { testid: 'history-status' });
  const messageItems = h('div.message-items');
  const messageList = h('div.messages', { testid: 'message-list', role: 'log', 'aria-live': 'polite', tabindex: '0' }, historyStatus, messageItems);
  const newPill = h('button.new-pill', { type: 'button', hidden: true, testid: 'new-messages-pill', onclick: () => scrollToBottom(true) }, 'New messages', icon('down', 18));
  const presentPill = h('button.new-pill', { type: 'button', hidden: true, testid: 'jump-to-present', onclick: () => backToPresent() }, 'Jump to the newest', icon('down', 18));
  const typingEl = h('div.typing-indicator', { testid: 'typing-indicator', 'aria-live': 'polite' });

  const fileInput = h('input.visually-hidden', { type: 'file', multiple: true, testid: 'file-input', tabindex: '-1', 'aria-label': 'Attach files' });
  const attachBtn = h('button.icon-btn.attach', { type: 'button', title: 'Attach files', 'aria-label': 'Attach files', testid: 'attach-button', onclick: () => fileInput.click() }, icon('attach'));
  const textarea = h('textarea.composer-input', { rows: 1, placeholder: 'Write a message…', 'aria-label': 'Message', testid: 'composer-input', enterkeyhint: touchQuery.matches ? 'enter' : 'send' });
  const sendBtn = h('button.send-btn', { type: 'submit', title: 'Send', 'aria-label': 'Send', testid: 'send-button', disabled: true }, icon('send'));
  const attachmentsPreview = h('div.composer-attachments', { testid: 'composer-attachments', hidden: true });
  const composerError = h('p.composer-error', { testid: 'composer-error', hidden: true, role: 'alert' });
  const replyBar = h('div.reply-bar', { testid: 'reply-bar', hidden: true });
  const composer = h('form.composer', { testid: 'composer' },
    replyBar,
    attachmentsPreview,
    composerError,
    h('div.composer-row', attachBtn, fileInput, textarea, sendBtn));

  const convEmpty = h('div.conv-empty', { testid: 'no-conversation' },
    h('div.conv-empty-inner', icon('chat', 56), h('p', 'Select a chat, or start a new one.'),
      h('button.btn.primary', { type: 'button', onclick: () => startNewChat() }, 'New chat')));
  const conv = h('section.conv', { testid: 'conversation', hidden: true },
    convHeader,
    h('div.messages-wrap', messageList, newPill, presentPill),
    typingEl,
    composer);
  const main = h('main.conversation-pane', convEmpty, conv);

  const skip = h('a.skip-link', { href: '#', testid: 'skip-link' }, 'Skip to the conversation');
  skip.addEventListener('click', (ev) => {
    ev.preventDefault();
    (current !== null ? textarea : list.focusTarget() || filterInput).focus();
  });
  const root = h('div.app', { testid: 'app', dataset: { pane: 'list' } }, skip, banner, h('div.panes', sidebar, main));

  // ---------------------------------------------------------------- connection status
  let bannerTimer = null;
  let countdownTimer = null;
  function renderConn() {
    const s = state.conn;
    const map = { online: 'Online', connecting: 'Connecting…', offline: 'Offline', stopped: 'Offline' };
    connPill.dataset.state = s.state;
    connPill.dataset.attempt = String(s.attempt || 0);
    if (s.delay !== null && s.delay !== undefined) connPill.dataset.retryDelay = String(s.delay);
    connPill.querySelector('.conn-text').textContent = map[s.state] || s.state;
    clearInterval(countdownTimer);
    if (s.state === 'online') {
      clearTimeout(bannerTimer);
      bannerTimer = null;
      banner.hidden = true;
      return;
    }
    const update = () => {
      if (state.conn.state === 'connecting') {
        bannerText.textContent = 'Connecting to the server…';
        bannerRetry.hidden = true;
      } else {
        const secs = state.conn.retryAt ? Math.max(0, Math.ceil((state.conn.retryAt - Date.now()) / 1000)) : 0;
        bannerText.textContent = `Connection lost. Reconnecting${secs ? ` in ${secs} s` : '…'} — messages you write are kept and sent when we are back.`;
        bannerRetry.hidden = false;
      }
    };
    update();
    countdownTimer = setInterval(update, 1000);
    // a blip that heals within a second does not deserve a banner
    if (banner.hidden && !bannerTimer) {
      bannerTimer = setTimeout(() => {
        bannerTimer = null;
        if (state.conn.state !== 'online') banner.hidden = false;
      }, s.attempt > 1 || s.state === 'offline' ? 300 : 1200);
    }
  }

  // ---------------------------------------------------------------- conversation
  let current = null; // thread id shown
  let atBottom = true;
  const msgCache = new Map();

  function currentThread() {
    return current !== null ? state.threads.get(current) : null;
  }

  function renderHeader() {
    const t = currentThread();
    if (!t) return;
    const other = chat.otherMember(t);
    const title = chat.threadTitle(t);
    convTitle.textContent = title;
    clear(convAvatarSlot);
    if (t.isGroup) {
      convAvatarSlot.append(avatar({ name: title, key: `g${t.id}`, size: 40 }));
      const online = t.members.filter((m) => m.id !== me.id && state.online.has(m.id)).length;
      convSub.textContent = `${t.members.length} members${online ? `, ${online} online` : ''}`;
      convSub.dataset.online = online ? 'true' : 'false';
    } else {
      const isOnline = other ? state.online.has(other.id) : false;
      convAvatarSlot.append(avatar({ name: title, url: other?.avatarUrl, key: other?.id ?? t.id, size: 40, online: other ? isOnline : null }));
      convSub.textContent = other ? `${isOnline ? 'online' : 'offline'} · @${other.userName}` : '';
      convSub.dataset.online = isOnline ? 'true' : 'false';
    }
    infoBtn.hidden = !t.isGroup;
  }

  function renderTyping() {
    const t = currentThread();
    const names = t ? chat.typingUsers(t.id) : [];
    let text = '';
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = 'Several people are typing…';
    typingEl.textContent = '';
    if (text) typingEl.append(h('span.typing-dots', h('i'), h('i'), h('i')), h('span.typing-text', text));
    typingEl.classList.toggle('visible', !!text);
    typingEl.dataset.active = text ? 'true' : 'false';
  }

  // ---------------------------------------------------------------- message actions
  let editingId = null;
  let replyTo = null; // the message being answered in the composer

  function memberName(id) {
    const t = currentThread();
    return t?.members.find((u) => u.id === id)?.nickName || 'someone';
  }

  const ctx = {
    me,
    get touch() { return touchQuery.matches; },
    get online() { return state.conn.state === 'online'; },
    get isOwner() { const t = currentThread(); return !!t && t.isGroup && t.ownerId === me.id; },
    get editingId() { return editingId; },
    memberName,
    onImageLoad: () => { if (atBottom) scrollToBottom(); },
    onImage: (a) => imageViewer(a),
    onJump: (id) => jumpTo(id),
    onReply: (m) => startReply(m),
    onReact: (m, emoji, on) => chat.react(m, emoji, on).catch((e) => toast(`Could not react: ${e.message}`, 'error')),
    onPicker: (m, anchorEl) => emojiPicker({
      anchor: anchorEl,
      mine: new Set((m.reactions || []).filter((r) => r.userIds.includes(me.id)).map((r) => r.emoji)),
      onPick: (emoji, on) => ctx.onReact(m, emoji, on),
    }),
    onEdit: (m) => {
      editingId = m.id;
      renderMessages();
    },
    onCancelEdit: () => {
      editingId = null;
      renderMessages();
      textarea.focus({ preventScroll: true });
    },
    onSaveEdit: async (m, text) => {
      if (codePoints(text) > limits.maxTextChars) {
        toast(`A message can have at most ${limits.maxTextChars} characters.`, 'error');
        return;
      }
      editingId = null;
      renderMessages();
      if (text === m.text) return;
      try {
        await chat.editMessage(m, text);
      } catch (e) {
        toast(`Could not edit the message: ${e.message}`, 'error');
      }
    },
    onDelete: async (m) => {
      const ok = await confirmDialog({
        title: 'Delete message?',
        text: m.sender?.id === me.id ? 'Everyone in this chat will see “Message deleted” instead.' : `This deletes ${m.sender?.nickName}’s message for everyone.`,
        confirm: 'Delete',
        danger: true,
      });
      if (!ok) return;
      try {
        await chat.deleteMessage(m);
        if (replyTo?.id === m.id) setReply(null);
      } catch (e) {
        toast(`Could not delete the message: ${e.message}`, 'error');
      }
    },
    onCopy: async (m) => {
      try {
        await navigator.clipboard.writeText(m.text || '');
        toast('Copied.', 'success', { timeout: 1500 });
      } catch {
        toast('Copying is not allowed here: select the text instead.', 'error');
      }
    },
    onLongPress: (el) => {
      for (const other of messageItems.querySelectorAll('.msg.show-actions')) if (other !== el) other.classList.remove('show-actions');
      el.classList.toggle('show-actions');
    },
    onRetry: (m) => chat.retryPending(m.clientMsgId),
    onDiscard: (m) => chat.discardPending(m.clientMsgId),
  };

  function renderMessage(m, t, pos) {
    const key = m.pending ? `p${m.clientMsgId}` : `m${m.id}`;
    const sig = messageSig(m, t, pos, ctx);
    const cached = msgCache.get(key);
    if (cached && cached.sig === sig) return cached.el;
    const el = messageNode(m, t, pos, ctx);
    msgCache.set(key, { sig, el });
    return el;
  }

  function setReply(m) {
    replyTo = m;
    clear(replyBar);
    replyBar.hidden = !m;
    if (!m) return;
    const who = m.sender?.id === me.id ? 'yourself' : m.sender?.nickName || 'someone';
    replyBar.append(
      h('span.reply-bar-icon', icon('reply', 18)),
      h('span.reply-bar-text', h('strong', `Replying to ${who}`), h('span.reply-bar-quote', m.text || '📎 Attachment')),
      h('button.icon-btn.small', { type: 'button', 'aria-label': 'Cancel the reply', testid: 'reply-cancel', onclick: () => setReply(null) }, icon('close', 16)));
  }

  function startReply(m) {
    setReply(m);
    textarea.focus();
  }

  /** Shows a message of the open thread: loads the page around it when needed, then highlights it. */
  async function jumpTo(messageId) {
    const t = currentThread();
    if (!t) return;
    try {
      if (!(await chat.loadAround(t.id, messageId))) {
        toast('That message is no longer available.', 'info');
        return;
      }
    } catch (e) {
      toast(`Could not show the message: ${e.message}`, 'error');
      return;
    }
    renderMessages();
    const el = messageItems.querySelector(`[data-message-id="${messageId}"]`);
    if (!el) return;
    el.scrollIntoView({ block: 'center' });
    atBottom = isAtBottom();
    el.classList.remove('flash');
    void el.offsetWidth; // restart the animation
    el.classList.add('flash');
    el.dataset.highlighted = 'true';
    setTimeout(() => { delete el.dataset.highlighted; el.classList.remove('flash'); }, 2500);
  }

  async function backToPresent() {
    const t = currentThread();
    if (!t) return;
    presentPill.hidden = true;
    await chat.backToPresent(t.id);
    scrollToBottom();
  }

  const daySepCache = new Map();
  function daySeparator(iso) {
    const key = dayKey(iso);
    const label = formatDay(iso);
    const cached = daySepCache.get(key);
    if (cached && cached.label === label) return cached.el;
    const el = h('div.day-sep', { testid: 'day-separator', role: 'separator' }, h('span', label));
    daySepCache.set(key, { label, el });
    return el;
  }

  const seenEl = h('div.seen', { testid: 'seen-marker' });
  const unreadDivider = h('div.unread-divider', { testid: 'unread-divider', role: 'separator' }, h('span', 'New messages'));
  let unreadFrom = null; // the read mark when the chat was opened: a divider goes after it
  let openedAtDivider = false;

  function renderMessages({ older = false, forceBottom = false } = {}) {
    const t = currentThread();
    if (!t) return;
    // Keep what the reader looks at in place when anything above it changes (an older page, a
    // grown message): the anchor is the first *message* in view, never the sticky day label,
    // which sits at the top whatever the scroll position.
    let anchor = null;
    let anchorTop = 0;
    if (!atBottom || older) {
      const top = messageList.getBoundingClientRect().top;
      anchor = [...messageItems.querySelectorAll('[data-message-id]')].find((el) => el.getBoundingClientRect().bottom > top) || null;
      if (anchor) anchorTop = anchor.getBoundingClientRect().top;
    }
    const wasAtBottom = atBottom && !t.hasMoreNewer;

    const real = t.tracked ? chat.timeline(t) : [];
    const pending = chat.pendingFor(t.id).map((p) => ({ ...p, pending: true, sender: me, id: null }));
    const all = [...real, ...pending];
    const nodes = [];
    let prevDay = null;
    let lastOwnIdx = -1;
    for (let i = 0; i < real.length; i++) if (real[i].sender?.id === me.id) lastOwnIdx = i;
    const sameRun = (a, b) => a && b && a.sender?.id === b.sender?.id && dayKey(a.createdAt) === dayKey(b.createdAt)
      && Math.abs(Date.parse(b.createdAt) - Date.parse(a.createdAt)) < 5 * 60 * 1000;
    const lines = t.systemLines || [];
    let lineIdx = 0;
    const pushLinesUpTo = (id) => {
      while (lineIdx < lines.length && lines[lineIdx].afterId < id) {
        if (!(t.hasMoreOlder && lines[lineIdx].afterId < t.oldestId)) nodes.push(systemLine(lines[lineIdx]));
        lineIdx += 1;
      }
    };
    for (let i = 0; i < all.length; i++) {
      const m = all[i];
      if (!m.pending) pushLinesUpTo(m.id);
      const day = dayKey(m.createdAt);
      if (day !== prevDay) {
        nodes.push(daySeparator(m.createdAt));
        prevDay = day;
      }
      const pos = { first: !sameRun(all[i - 1], m), last: !sameRun(m, all[i + 1]) };
      if (unreadFrom !== null && !m.pending && m.id > unreadFrom && m.sender?.id !== me.id && !nodes.includes(unreadDivider)
        && (real[0]?.id ?? 0) <= unreadFrom) {
        nodes.push(unreadDivider);
      }
      nodes.push(renderMessage(m, t, pos));
      if (i === lastOwnIdx) {
        const readers = chat.readersOf(t, m.id);
        if (readers.length) {
          seenEl.textContent = t.isGroup
            ? (readers.length === t.members.length - 1 ? 'Seen by everyone' : `Seen by ${readers.map((r) => r.nickName).join(', ')}`)
            : 'Seen';
          seenEl.dataset.messageId = String(m.id);
          nodes.push(seenEl);
        }
      }
    }
    if (!t.hasMoreNewer) pushLinesUpTo(Infinity);
    if (t.tracked && !t.loading && !all.length && !lines.length) {
      nodes.push(h('div.conv-start', { testid: 'conversation-start' }, 'No messages yet. Say hello 👋'));
    }
    syncChildren(messageItems, nodes);

    if (t.loading) historyStatus.textContent = 'Loading messages…';
    else if (t.loadError) {
      clear(historyStatus);
      historyStatus.append(`Could not load messages: ${t.loadError} `,
        h('button.btn.link', { type: 'button', onclick: () => chat.trackThread(t.id) }, 'Try again'));
    } else if (t.loadingOlder) historyStatus.textContent = 'Loading older messages…';
    else if (t.tracked && !t.hasMoreOlder && all.length) historyStatus.textContent = 'This is the beginning of the conversation.';
    else historyStatus.textContent = '';
    historyStatus.dataset.state = t.loading ? 'loading' : t.loadingOlder ? 'loading-older' : t.hasMoreOlder ? 'more' : 'start';

    for (const key of msgCache.keys()) {
      const el = msgCache.get(key).el;
      if (!el.isConnected) msgCache.delete(key);
    }

    presentPill.hidden = !t.hasMoreNewer;
    // by id: the anchor's node may have been rebuilt (it is no longer the first of its run)
    const anchorNow = anchor ? messageItems.querySelector(`[data-message-id="${anchor.dataset.messageId}"]`) : null;
    if (!openedAtDivider && unreadDivider.isConnected && !t.loading) {
      // open at the first unread message, not below it
      openedAtDivider = true;
      scrollToBottom();
      if (unreadDivider.getBoundingClientRect().top < messageList.getBoundingClientRect().top) {
        unreadDivider.scrollIntoView({ block: 'start' });
        atBottom = isAtBottom();
      }
    } else if (forceBottom || wasAtBottom) scrollToBottom();
    else if (anchorNow) messageList.scrollTop += anchorNow.getBoundingClientRect().top - anchorTop;
    scheduleRead();
    // after this frame's layout: a page that did not fill the view asks for the next one
    requestAnimationFrame(() => maybeLoadOlder());
  }

  const lineCache = new Map();
  function systemLine(line) {
    if (!lineCache.has(line.key)) lineCache.set(line.key, systemLineNode(line));
    return lineCache.get(line.key);
  }

  function isAtBottom() {
    return messageList.scrollHeight - messageList.scrollTop - messageList.clientHeight < 80;
  }

  function scrollToBottom(smooth = false) {
    messageList.scrollTo({ top: messageList.scrollHeight, behavior: smooth ? 'smooth' : 'auto' });
    atBottom = true;
    newPill.hidden = true;
  }

  let readTimer = null;
  function scheduleRead() {
    clearTimeout(readTimer);
    readTimer = setTimeout(sendRead, 150);
  }
  function sendRead() {
    const t = currentThread();
    if (!t || !t.tracked || root.dataset.pane === 'list' && isNarrow()) return;
    const bottom = messageList.getBoundingClientRect().bottom;
    const items = messageItems.children;
    for (let i = items.length - 1; i >= 0; i--) {
      const el = items[i];
      const id = Number(el.dataset.messageId);
      if (!id || el.dataset.testid !== 'message') continue;
      if (el.getBoundingClientRect().top < bottom - 8) {
        chat.markRead(t.id, id);
        return;
      }
    }
  }

  function maybeLoadOlder() {
    const t = currentThread();
    if (!t || !t.tracked || t.loading) return;
    if (t.hasMoreOlder && !t.loadingOlder && messageList.scrollTop < 150) chat.loadOlder(t.id);
    if (t.hasMoreNewer && !t.loadingNewer && isAtBottom()) chat.loadNewer(t.id);
  }

  messageList.addEventListener('scroll', () => {
    atBottom = isAtBottom();
    if (atBottom) newPill.hidden = true;
    maybeLoadOlder();
    scheduleRead();
  }, { passive: true });

  // The composer grows, the keyboard opens, the window shrinks: whoever read the newest message
  // keeps seeing it.
  let listHeight = 0;
  const resizeObserver = new ResizeObserver(() => {
    const hgt = messageList.clientHeight;
    if (hgt !== listHeight) {
      const shrunk = hgt < listHeight;
      listHeight = hgt;
      if (shrunk && atBottom) scrollToBottom();
    }
  });
  resizeObserver.observe(messageList);

  // ---------------------------------------------------------------- composer
  let draftFiles = [];
  let draftPreviews = [];
  let fileError = '';

  function renderDraftFiles() {
    clear(attachmentsPreview);
    attachmentsPreview.hidden = !draftFiles.length;
    draftFiles.forEach((f, i) => {
      const thumb = draftPreviews[i]
        ? h('img', { src: draftPreviews[i], alt: '' })
        : h('span.att-icon', icon('file', 20));
      attachmentsPreview.append(h('div.draft-file', { testid: 'draft-file' },
        thumb,
        h('span.draft-name', f.name),
        h('span.draft-size', formatSize(f.size)),
        h('button.icon-btn.small', { type: 'button', 'aria-label': `Remove ${f.name}`, onclick: () => removeDraftFile(i) }, icon('close', 16))));
    });
    updateSendState();
  }

  function addFiles(files) {
    const list = [...files];
    if (!list.length) return;
    const problems = [];
    if (draftFiles.length + list.length > limits.maxAttachments) {
      problems.push(`You can attach at most ${limits.maxAttachments} files to one message.`);
      list.splice(Math.max(0, limits.maxAttachments - draftFiles.length));
    }
    // Checked here, before anything is uploaded: the server would only refuse it after the whole upload.
    for (const f of [...list]) {
      const problem = fileProblem(f);
      if (problem) {
        problems.push(problem);
        list.splice(list.indexOf(f), 1);
      }
    }
    fileError = problems.join(' ');
    for (const f of list) {
      draftFiles.push(f);
      draftPreviews.push(IMAGE_TYPES.test(f.type) ? URL.createObjectURL(f) : null);
    }
    renderDraftFiles();
    textarea.focus();
  }

  function removeDraftFile(i) {
    if (draftPreviews[i]) URL.revokeObjectURL(draftPreviews[i]);
    draftFiles.splice(i, 1);
    draftPreviews.splice(i, 1);
    renderDraftFiles();
  }

  function clearDraftFiles(revoke = true) {
    if (revoke) for (const u of draftPreviews) if (u) URL.revokeObjectURL(u);
    draftFiles = [];
    draftPreviews = [];
    renderDraftFiles();
  }

  function updateSendState() {
    const text = textarea.value;
    const n = codePoints(text);
    const tooLong = n > limits.maxTextChars;
    const problem = tooLong ? `Message is too long: ${n} of ${limits.maxTextChars} characters.` : fileError;
    composerError.hidden = !problem;
    composerError.textContent = problem;
    sendBtn.disabled = tooLong || (!text.trim() && !draftFiles.length);
  }

  function autoGrow() {
    const stick = atBottom;
    textarea.style.height = 'auto';
    textarea.style.height = `${Math.min(textarea.scrollHeight, isNarrow() ? 120 : 160)}px`;
    if (stick) scrollToBottom();
  }

  fileInput.addEventListener('change', () => {
    addFiles(fileInput.files);
    fileInput.value = '';
  });
  textarea.addEventListener('input', () => {
    autoGrow();
    updateSendState();
    if (fileError) {
      fileError = '';
      updateSendState();
    }
    if (current !== null) {
      drafts.set(current, textarea.value);
      persistDrafts();
      if (textarea.value.trim()) chat.userTyping(current);
      else chat.stopTyping(current);
    }
  });
  textarea.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && replyTo) {
      setReply(null);
      return;
    }
    if (ev.key === 'ArrowUp' && !textarea.value && !editingId) {
      // like Slack: edit your last message
      const t = currentThread();
      const mine = t ? [...chat.timeline(t)].reverse().find((m) => m.sender?.id === me.id && !m.deleted && m.text) : null;
      if (mine) {
        ev.preventDefault();
        ctx.onEdit(mine);
      }
      return;
    }
    if (ev.key !== 'Enter' || ev.shiftKey || ev.isComposing || ev.altKey || ev.metaKey) return;
    if (touchQuery.matches && !ev.ctrlKey) return; // a new line; the button sends
    ev.preventDefault();
    composer.requestSubmit();
  });
  textarea.addEventListener('paste', (ev) => {
    const files = [...(ev.clipboardData?.files || [])];
    if (files.length) {
      ev.preventDefault();
      addFiles(files);
    }
  });
  for (const evName of ['dragover', 'drop']) {
    conv.addEventListener(evName, (ev) => {
      if (!ev.dataTransfer || ![...ev.dataTransfer.types].includes('Files')) return;
      ev.preventDefault();
      if (evName === 'drop') addFiles(ev.dataTransfer.files);
    });
  }
  composer.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (current === null || sendBtn.disabled) return;
    const text = textarea.value;
    const body = text.trim() ? text : '';
    if (!body && !draftFiles.length) return;
    // after a jump into the past, what is sent shows in the present
    if (currentThread()?.hasMoreNewer) chat.backToPresent(current);
    chat.sendMessage(current, body, draftFiles, replyTo);
    // the outbox owns the previews now
    clearDraftFiles(false);
    setReply(null);
    textarea.value = '';
    drafts.delete(current);
    persistDrafts();
    autoGrow();
    updateSendState();
    scrollToBottom();
    textarea.focus();
  });

  // ---------------------------------------------------------------- opening threads
  function isNarrow() {
    return window.matchMedia('(max-width: 760px)').matches;
  }

  function showThread(id) {
    if (current !== null && current !== id) chat.stopTyping(current);
    const t = id !== null ? state.threads.get(id) : null;
    current = t ? id : null;
    state.openThreadId = current;
    root.dataset.pane = current !== null ? 'thread' : 'list';
    conv.hidden = current === null;
    convEmpty.hidden = current !== null;
    msgCache.clear();
    daySepCache.clear();
    lineCache.clear();
    clear(messageItems);
    newPill.hidden = true;
    atBottom = true;
    editingId = null;
    setReply(null);
    renderThreads();
    unreadFrom = t && t.unreadCount > 0 ? t.myLastRead : null;
    openedAtDivider = false;
    if (!t) return;
    conv.dataset.threadId = String(t.id);
    textarea.value = drafts.get(t.id) || '';
    clearDraftFiles();
    autoGrow();
    updateSendState();
    renderHeader();
    renderTyping();
    if (!t.tracked) chat.trackThread(t.id);
    renderMessages({ forceBottom: true });
    if (!isNarrow()) textarea.focus({ preventScroll: true });
  }

  let pendingJump = null; // {threadId, messageId}: a search hit to show once its thread is open
  async function openMessage(threadId, messageId) {
    if (isNarrow()) {
      filterInput.value = '';
      renderThreads();
      search.run('');
    }
    if (current === threadId) {
      jumpTo(messageId);
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
      jumpTo(messageId);
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
        if (currentThread()?.unreadCount) scheduleRead(); // a refreshed count for the open thread
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
          const incomingWhileUp = detail.incoming && !atBottom;
          if (detail.updated && editingId === detail.updated && currentThread()?.timeline.get(editingId)?.deleted) editingId = null;
          renderMessages({ older: !!detail.older, forceBottom: !!detail.own || !!detail.initial });
          if (incomingWhileUp) newPill.hidden = false;
        }
        scheduleThreads();
        break;
      case 'seen':
        if (detail === current) renderMessages();
        break;
      case 'removed':
        if (detail === current) location.hash = '#/';
        scheduleThreads();
        break;
      case 'conn':
        renderConn();
        if (current !== null) {
          // "Waiting for connection…" labels
          msgCache.forEach((v, k) => { if (k.startsWith('p')) msgCache.delete(k); });
          renderMessages();
        }
        break;
      case 'ready':
        scheduleRead();
        break;
      case 'me':
        header.querySelector('[data-testid="me-name"]').textContent = state.me.nickName;
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
  const onFocus = () => scheduleRead();
  window.addEventListener('focus', onFocus);
  document.addEventListener('visibilitychange', onFocus);
  window.addEventListener('hashchange', route);
  const mq = window.matchMedia('(max-width: 760px)');
  const onResize = () => scheduleRead();
  mq.addEventListener('change', onResize);
  // the relative labels ("Today", times in the list) age
  const ageTimer = setInterval(() => list.age(), 60000);

  renderThreads();
  renderConn();
  route();

  return {
    el: root,
    destroy() {
      unsubscribe();
      clearInterval(ageTimer);
      clearInterval(countdownTimer);
      clearTimeout(bannerTimer);
      window.removeEventListener('focus', onFocus);
      document.removeEventListener('keydown', onKey);
      list.destroy();
      document.removeEventListener('visibilitychange', onFocus);
      window.removeEventListener('hashchange', route);
      mq.removeEventListener('change', onResize);
      resizeObserver.disconnect();
      search.destroy();
      clearDraftFiles();
    },
  };
}
