// The signed-in screen: thread list (sidebar) and conversation, side by side on wide windows,
// one at a time on narrow ones.

import {
  h, icon, clear, avatar, syncChildren, formatTime, formatDay, dayKey, formatShort, formatSize, linkify, codePoints,
} from '../dom.js';
import * as chat from '../chat.js';
import { toast } from '../toast.js';
import { newChatDialog, newGroupDialog, groupInfoDialog } from './dialogs.js';

const { state } = chat;
const MAX_TEXT = 4000;
const IMAGE_TYPES = /^image\/(png|jpeg|gif|webp)$/;

export function mainView({ onLogout }) {
  const me = state.me;
  const drafts = new Map();

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
      h('button.icon-btn', { type: 'button', title: 'Log out', 'aria-label': 'Log out', testid: 'logout-button', onclick: () => onLogout() }, icon('logout'))));

  const bannerText = h('span.banner-text');
  const bannerRetry = h('button.btn.small.light', { type: 'button', testid: 'reconnect-now', onclick: () => chat.retryConnection() }, 'Retry now');
  const banner = h('div.conn-banner', { testid: 'connection-banner', hidden: true, role: 'status' }, bannerText, bannerRetry);

  const filterInput = h('input.filter', { type: 'search', placeholder: 'Search chats', 'aria-label': 'Search chats', testid: 'thread-filter' });
  filterInput.addEventListener('input', () => renderThreads());
  const threadList = h('ul.thread-list', { testid: 'thread-list', 'aria-label': 'Chats' });
  const listEmpty = h('div.list-empty', { testid: 'threads-empty', hidden: true },
    h('p.empty-title', 'No chats yet'),
    h('p', 'Find someone by name and say hello.'),
    h('button.btn.primary', { type: 'button', testid: 'empty-new-chat', onclick: () => startNewChat() }, 'Start a chat'));
  const listLoading = h('div.list-loading', { testid: 'threads-loading' }, 'Loading chats…');

  const sidebar = h('aside.sidebar', { testid: 'sidebar' },
    header,
    h('div.filter-wrap', icon('search', 18), filterInput),
    h('div.thread-scroll', threadList, listEmpty, listLoading));

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
  const typingEl = h('div.typing-indicator', { testid: 'typing-indicator', 'aria-live': 'polite' });

  const fileInput = h('input.visually-hidden', { type: 'file', multiple: true, testid: 'file-input', tabindex: '-1' });
  const attachBtn = h('button.icon-btn.attach', { type: 'button', title: 'Attach files', 'aria-label': 'Attach files', testid: 'attach-button', onclick: () => fileInput.click() }, icon('attach'));
  const textarea = h('textarea.composer-input', { rows: 1, placeholder: 'Write a message…', 'aria-label': 'Message', testid: 'composer-input', enterkeyhint: 'send' });
  const sendBtn = h('button.send-btn', { type: 'submit', title: 'Send', 'aria-label': 'Send', testid: 'send-button', disabled: true }, icon('send'));
  const attachmentsPreview = h('div.composer-attachments', { testid: 'composer-attachments', hidden: true });
  const composerError = h('p.composer-error', { testid: 'composer-error', hidden: true, role: 'alert' });
  const composer = h('form.composer', { testid: 'composer' },
    attachmentsPreview,
    composerError,
    h('div.composer-row', attachBtn, fileInput, textarea, sendBtn));

  const convEmpty = h('div.conv-empty', { testid: 'no-conversation' },
    h('div.conv-empty-inner', icon('chat', 56), h('p', 'Select a chat, or start a new one.'),
      h('button.btn.primary', { type: 'button', onclick: () => startNewChat() }, 'New chat')));
  const conv = h('section.conv', { testid: 'conversation', hidden: true },
    convHeader,
    h('div.messages-wrap', messageList, newPill),
    typingEl,
    composer);
  const main = h('main.conversation-pane', convEmpty, conv);

  const root = h('div.app', { testid: 'app', dataset: { pane: 'list' } }, banner, h('div.panes', sidebar, main));

  // ---------------------------------------------------------------- thread list
  const itemCache = new Map();

  function previewText(t) {
    const typing = chat.typingUsers(t.id);
    if (typing.length) return { text: typing.length === 1 && !t.isGroup ? 'typing…' : `${typing.join(', ')} typing…`, typing: true };
    const pending = chat.pendingFor(t.id);
    const m = pending.length ? { ...pending[pending.length - 1], sender: me, attachments: pending[pending.length - 1].files.map((f) => ({ name: f.name })) } : t.lastMessage;
    if (!m) return { text: t.isGroup ? 'Group created' : 'No messages yet', typing: false };
    const who = m.sender?.id === me.id ? 'You: ' : t.isGroup ? `${m.sender?.nickName || 'Someone'}: ` : '';
    let body = (m.text || '').replace(/\s+/g, ' ').trim();
    if (!body && m.attachments?.length) body = `📎 ${m.attachments.map((a) => a.name).join(', ')}`;
    return { text: who + body, typing: false };
  }

  function threadItem(t) {
    const other = chat.otherMember(t);
    const online = !t.isGroup && other ? state.online.has(other.id) : null;
    const title = chat.threadTitle(t);
    const prev = previewText(t);
    const time = t.lastMessage?.createdAt || t.updatedAt;
    const active = state.openThreadId === t.id;
    const sig = JSON.stringify([title, other?.avatarUrl, online, prev, time, t.unreadCount, active, t.isGroup]);
    const cached = itemCache.get(t.id);
    if (cached && cached.sig === sig) return cached.el;
    const av = t.isGroup
      ? avatar({ name: title, key: `g${t.id}`, size: 48 })
      : avatar({ name: title, url: other?.avatarUrl, key: other?.id ?? t.id, size: 48, online });
    const el = h('li.thread-item', {
      testid: 'thread-item',
      dataset: { threadId: String(t.id), unread: String(t.unreadCount || 0) },
      class: [active ? 'active' : '', t.unreadCount ? 'has-unread' : ''].filter(Boolean).join(' '),
    },
    h('a.thread-link', { href: `#/t/${t.id}`, 'aria-current': active ? 'true' : null },
      av,
      h('span.thread-main',
        h('span.thread-row',
          h('span.thread-name', { testid: 'thread-name' }, title),
          h('span.thread-time', formatShort(time))),
        h('span.thread-row',
          h('span.thread-preview', { testid: 'thread-preview', class: prev.typing ? 'typing' : '' }, prev.text),
          t.unreadCount ? h('span.unread-badge', { testid: 'unread-count', 'aria-label': `${t.unreadCount} unread` }, t.unreadCount > 99 ? '99+' : String(t.unreadCount)) : null))));
    itemCache.set(t.id, { sig, el });
    return el;
  }

  function renderThreads() {
    const q = filterInput.value.trim().toLowerCase();
    const threads = chat.sortedThreads().filter((t) => {
      if (!q) return true;
      if (chat.threadTitle(t).toLowerCase().includes(q)) return true;
      return t.members.some((m) => m.userName.toLowerCase().includes(q) || m.nickName.toLowerCase().includes(q));
    });
    syncChildren(threadList, threads.map(threadItem));
    for (const id of itemCache.keys()) if (!state.threads.has(id)) itemCache.delete(id);
    listLoading.hidden = state.threadsLoaded || !!state.threadsError;
    if (state.threadsError && !state.threadsLoaded) {
      listLoading.hidden = false;
      listLoading.textContent = `Could not load chats: ${state.threadsError}`;
    }
    listEmpty.hidden = !state.threadsLoaded || state.threads.size > 0;
    const unread = [...state.threads.values()].reduce((n, t) => n + (t.unreadCount || 0), 0);
    document.title = unread ? `(${unread}) Chat` : 'Chat';
  }

  // ---------------------------------------------------------------- connection status
  let bannerTimer = null;
  let countdownTimer = null;
  function renderConn() {
    const s = state.conn;
    const map = { online: 'Online', connecting: 'Connecting…', offline: 'Offline', stopped: 'Offline' };
    connPill.dataset.state = s.state;
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

  function attachmentNodes(attachments, previews = []) {
    if (!attachments.length) return null;
    return h('div.attachments', attachments.map((a, i) => {
      const isImage = IMAGE_TYPES.test(a.contentType || '');
      const src = a.url || previews[i];
      if (isImage && src) {
        const img = h('img.att-image', { src, alt: a.name || 'image', testid: 'attachment-image', decoding: 'async' });
        img.addEventListener('load', () => {
          if (atBottom) scrollToBottom();
        });
        img.addEventListener('error', () => {
          img.replaceWith(h('span.att-broken', `Image “${a.name}” could not be loaded.`));
        }, { once: true });
        return a.url
          ? h('a.att-image-link', { href: a.url, target: '_blank', rel: 'noopener', title: a.name }, img)
          : h('span.att-image-link', img);
      }
      const body = [h('span.att-icon', icon('file', 22)), h('span.att-info', h('span.att-name', a.name || 'file'), h('span.att-size', formatSize(a.size)))];
      return a.url
        ? h('a.att-file', { href: a.url, download: a.name || '', testid: 'attachment-file', rel: 'noopener' }, body)
        : h('span.att-file', { testid: 'attachment-file-pending' }, body);
    }));
  }

  function messageNode(m, t, pos) {
    const mine = m.sender?.id === me.id;
    const pending = m.pending;
    const key = pending ? `p${m.clientMsgId}` : `m${m.id}`;
    const sig = JSON.stringify([m.id, pending ? [m.status, m.error, m.progress && Math.round(m.progress * 20)] : 0, pos.first, pos.last, m.sender?.avatarUrl, m.sender?.nickName, t.isGroup]);
    const cached = msgCache.get(key);
    if (cached && cached.sig === sig) return cached.el;

    const meta = h('span.msg-meta',
      h('time', { testid: 'message-time', datetime: m.createdAt, title: new Date(m.createdAt).toLocaleString() }, formatTime(m.createdAt)));
    if (pending) {
      let status = '';
      if (m.status === 'failed') status = 'Not sent';
      else if (m.status === 'sending' && m.progress !== null && m.progress !== undefined && m.files.length) status = `Uploading ${Math.round(m.progress * 100)}%`;
      else if (state.conn.state !== 'online' && !m.files.length) status = 'Waiting for connection…';
      else status = 'Sending…';
      meta.append(h('span.msg-status', { testid: 'message-status' }, status));
    }
    const attachments = pending
      ? m.files.map((f) => ({ name: f.name, size: f.size, contentType: f.type }))
      : (m.attachments || []);
    const bubble = h('div.bubble',
      attachmentNodes(attachments, m.previews),
      m.text ? h('div.msg-text', { testid: 'message-text' }, linkify(m.text)) : null,
      meta);
    const body = h('div.msg-body',
      !mine && t.isGroup && pos.first ? h('div.msg-sender', m.sender?.nickName || 'Someone') : null,
      bubble,
      pending && m.status === 'failed'
        ? h('div.msg-failed', { testid: 'message-failed' },
          h('span', m.error || 'Not sent.'),
          h('button.btn.link', { type: 'button', testid: 'message-retry', onclick: () => chat.retryPending(m.clientMsgId) }, 'Retry'),
          h('button.btn.link', { type: 'button', testid: 'message-discard', onclick: () => chat.discardPending(m.clientMsgId) }, 'Delete'))
        : null);
    const el = h('div.msg', {
      testid: 'message',
      class: [mine ? 'own' : 'other', pos.first ? 'first' : '', pos.last ? 'last' : '', pending ? `pending ${m.status}` : ''].filter(Boolean).join(' '),
      dataset: pending ? { clientMsgId: m.clientMsgId, pending: 'true', senderId: String(me.id) } : { messageId: String(m.id), senderId: String(m.sender?.id) },
    },
    !mine ? h('div.msg-avatar', pos.last ? avatar({ name: m.sender?.nickName, url: m.sender?.avatarUrl, key: m.sender?.id, size: 32 }) : null) : null,
    body);
    msgCache.set(key, { sig, el });
    return el;
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

  function renderMessages({ older = false, forceBottom = false } = {}) {
    const t = currentThread();
    if (!t) return;
    // keep what the reader looks at in place when older messages are prepended
    let anchor = null;
    let anchorTop = 0;
    if (older) {
      const top = messageList.getBoundingClientRect().top;
      anchor = [...messageItems.children].find((el) => el.getBoundingClientRect().bottom > top) || null;
      if (anchor) anchorTop = anchor.getBoundingClientRect().top;
    }
    const wasAtBottom = atBottom;

    const real = t.tracked ? chat.timeline(t) : [];
    const pending = chat.pendingFor(t.id).map((p) => ({ ...p, pending: true, sender: me, id: null }));
    const all = [...real, ...pending];
    const nodes = [];
    let prevDay = null;
    let lastOwnIdx = -1;
    for (let i = 0; i < real.length; i++) if (real[i].sender?.id === me.id) lastOwnIdx = i;
    const sameRun = (a, b) => a && b && a.sender?.id === b.sender?.id && dayKey(a.createdAt) === dayKey(b.createdAt)
      && Math.abs(Date.parse(b.createdAt) - Date.parse(a.createdAt)) < 5 * 60 * 1000;
    for (let i = 0; i < all.length; i++) {
      const m = all[i];
      const day = dayKey(m.createdAt);
      if (day !== prevDay) {
        nodes.push(daySeparator(m.createdAt));
        prevDay = day;
      }
      const pos = { first: !sameRun(all[i - 1], m), last: !sameRun(m, all[i + 1]) };
      nodes.push(messageNode(m, t, pos));
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
    if (t.tracked && !t.loading && !all.length) {
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

    if (forceBottom || wasAtBottom) scrollToBottom();
    else if (anchor && anchor.isConnected) messageList.scrollTop += anchor.getBoundingClientRect().top - anchorTop;
    scheduleRead();
    maybeLoadOlder();
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
    if (!t || !t.tracked || t.loading || t.loadingOlder || !t.hasMoreOlder) return;
    if (messageList.scrollTop < 150) chat.loadOlder(t.id);
  }

  messageList.addEventListener('scroll', () => {
    atBottom = messageList.scrollHeight - messageList.scrollTop - messageList.clientHeight < 80;
    if (atBottom) newPill.hidden = true;
    maybeLoadOlder();
    scheduleRead();
  }, { passive: true });

  // ---------------------------------------------------------------- composer
  let draftFiles = [];
  let draftPreviews = [];

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
    if (draftFiles.length + list.length > 10) {
      toast('You can attach at most 10 files to one message.', 'error');
      list.splice(10 - draftFiles.length);
    }
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
    const tooLong = n > MAX_TEXT;
    composerError.hidden = !tooLong;
    composerError.textContent = tooLong ? `Message is too long: ${n} of ${MAX_TEXT} characters.` : '';
    sendBtn.disabled = tooLong || (!text.trim() && !draftFiles.length);
  }

  function autoGrow() {
    textarea.style.height = 'auto';
    textarea.style.height = `${Math.min(textarea.scrollHeight, 160)}px`;
  }

  fileInput.addEventListener('change', () => {
    addFiles(fileInput.files);
    fileInput.value = '';
  });
  textarea.addEventListener('input', () => {
    autoGrow();
    updateSendState();
    if (current !== null) {
      drafts.set(current, textarea.value);
      if (textarea.value.trim()) chat.userTyping(current);
      else chat.stopTyping(current);
    }
  });
  textarea.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && !ev.altKey && !ev.ctrlKey && !ev.metaKey) {
      ev.preventDefault();
      composer.requestSubmit();
    }
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
    chat.sendMessage(current, body, draftFiles);
    // the outbox owns the previews now
    clearDraftFiles(false);
    textarea.value = '';
    drafts.delete(current);
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
    clear(messageItems);
    newPill.hidden = true;
    atBottom = true;
    renderThreads();
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

  const onFocus = () => scheduleRead();
  window.addEventListener('focus', onFocus);
  document.addEventListener('visibilitychange', onFocus);
  window.addEventListener('hashchange', route);
  const mq = window.matchMedia('(max-width: 760px)');
  const onResize = () => scheduleRead();
  mq.addEventListener('change', onResize);
  // the relative labels ("Today", times in the list) age
  const ageTimer = setInterval(() => {
    itemCache.clear();
    renderThreads();
  }, 60000);

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
      document.removeEventListener('visibilitychange', onFocus);
      window.removeEventListener('hashchange', route);
      mq.removeEventListener('change', onResize);
      clearDraftFiles();
    },
  };
}
