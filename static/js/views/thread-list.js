// The chat list of the sidebar: one row per chat (name, last message, time, unread count,
// presence, muted), filtered by the search box, one Tab stop with arrow keys inside.

import { h, icon, avatar, syncChildren, formatShort } from '../dom.js';
import * as chat from '../chat.js';

const { state } = chat;

export function threadListView({ me, filterInput, onNewChat }) {
  const threadList = h('ul.thread-list', { testid: 'thread-list', 'aria-label': 'Chats' });
  const listEmpty = h('div.list-empty', { testid: 'threads-empty', hidden: true },
    h('p.empty-title', 'No chats yet'),
    h('p', 'Find someone by name and say hello.'),
    h('button.btn.primary', { type: 'button', testid: 'empty-new-chat', onclick: () => onNewChat() }, 'Start a chat'));
  const listLoading = h('div.list-loading', { testid: 'threads-loading' }, 'Loading chats…');
  const noMatch = h('p.list-empty', { testid: 'threads-no-match', hidden: true });
  const itemCache = new Map();

  function previewText(t) {
    const typing = chat.typingUsers(t.id);
    if (typing.length) return { text: typing.length === 1 && !t.isGroup ? 'typing…' : `${typing.join(', ')} typing…`, typing: true };
    const pending = chat.pendingFor(t.id);
    const last = pending[pending.length - 1];
    if (last && last.status === 'failed') return { text: `⚠ Not sent: ${last.error || ''}`.trim(), typing: false, failed: true };
    const m = last ? { ...last, sender: me, attachments: last.files.map((f) => ({ name: f.name })) } : t.lastMessage;
    if (!m) return { text: t.isGroup ? 'Group created' : 'No messages yet', typing: false };
    const who = m.sender?.id === me.id ? 'You: ' : t.isGroup ? `${m.sender?.nickName || 'Someone'}: ` : '';
    if (m.deleted) return { text: `${who}Message deleted`, typing: false };
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
    const muted = chat.isMuted(t.id);
    const sig = JSON.stringify([title, other?.avatarUrl, online, prev, time, t.unreadCount, active, t.isGroup, muted]);
    const cached = itemCache.get(t.id);
    if (cached && cached.sig === sig) return cached.el;
    const av = t.isGroup
      ? avatar({ name: title, key: `g${t.id}`, size: 40 })
      : avatar({ name: title, url: other?.avatarUrl, key: other?.id ?? t.id, size: 40, online });
    const el = h('li.thread-item', {
      testid: 'thread-item',
      dataset: { threadId: String(t.id), unread: String(t.unreadCount || 0), muted: muted ? 'true' : 'false' },
      class: [active ? 'active' : '', t.unreadCount ? 'has-unread' : '', muted ? 'muted' : ''].filter(Boolean).join(' '),
    },
    h('a.thread-link', { href: `#/t/${t.id}`, 'aria-current': active ? 'true' : null },
      av,
      h('span.thread-main',
        h('span.thread-row',
          h('span.thread-name', { testid: 'thread-name' }, title),
          muted ? h('span.thread-muted', { testid: 'muted-icon', role: 'img', 'aria-label': 'Muted', title: 'Muted' }, icon('bellOff', 15)) : null,
          h('span.thread-time', formatShort(time))),
        h('span.thread-row',
          h('span.thread-preview', { testid: 'thread-preview', class: prev.typing ? 'typing' : prev.failed ? 'failed' : '' }, prev.text),
          t.unreadCount ? h('span.unread-badge', { testid: 'unread-count', 'aria-label': `${t.unreadCount} unread` }, t.unreadCount > 99 ? '99+' : String(t.unreadCount)) : null))));
    itemCache.set(t.id, { sig, el });
    return el;
  }

  function renderThreads() {
    const q = filterInput.value.trim().toLowerCase();
    const threads = chat.sortedThreads().filter((t) => {
      // a direct chat shows once it has a message (or while it is open / has one on its way)
      if (!t.isGroup && !t.lastMessage && t.id !== state.openThreadId && !chat.pendingFor(t.id).length) return false;
      if (!q) return true;
      if (chat.threadTitle(t).toLowerCase().includes(q)) return true;
      return t.members.some((m) => m.userName.toLowerCase().includes(q) || m.nickName.toLowerCase().includes(q));
    });
    syncChildren(threadList, threads.map(threadItem));
    // one Tab stop for the whole list; arrow keys move inside it
    const links = [...threadList.querySelectorAll('a.thread-link')];
    const stop = links.find((l) => l === document.activeElement) || links.find((l) => l.getAttribute('aria-current')) || links[0];
    for (const l of links) l.tabIndex = l === stop ? 0 : -1;
    noMatch.hidden = !q || threads.length > 0;
    noMatch.textContent = q ? `No chats match “${filterInput.value.trim()}”.` : '';
    for (const id of itemCache.keys()) if (!state.threads.has(id)) itemCache.delete(id);
    listLoading.hidden = state.threadsLoaded || !!state.threadsError;
    if (state.threadsError && !state.threadsLoaded) {
      listLoading.hidden = false;
      listLoading.textContent = `Could not load chats: ${state.threadsError}`;
    }
    listEmpty.hidden = !state.threadsLoaded || state.threads.size > 0;
  }

  threadList.addEventListener('keydown', (ev) => {
    const links = [...threadList.querySelectorAll('a.thread-link')];
    const i = links.indexOf(document.activeElement);
    if (i < 0) return;
    const to = { ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: links.length - 1 }[ev.key];
    if (to === undefined) return;
    ev.preventDefault();
    const next = links[Math.max(0, Math.min(links.length - 1, to))];
    for (const l of links) l.tabIndex = l === next ? 0 : -1;
    next.focus();
  });


  return {
    els: [threadList, noMatch, listEmpty, listLoading],
    render: renderThreads,
    /** the relative times ("Today", weekdays) age */
    age() {
      itemCache.clear();
      renderThreads();
    },
    focusTarget: () => threadList.querySelector('a.thread-link[tabindex="0"]'),
    destroy: () => {},
  };
}
