// The open conversation's header (avatar, title, members or presence with "last seen", mute,
// details) and the typing line under the messages.

import { h, icon, clear, avatar } from '../dom.js';
import * as chat from '../chat.js';
import { toast } from '../toast.js';

const { state } = chat;

/** "last seen 5 min ago": from when this page saw the person go offline. */
export function lastSeenText(iso) {
  const then = new Date(iso);
  const mins = Math.floor((Date.now() - then.getTime()) / 60000);
  if (mins < 1) return 'last seen just now';
  if (mins < 60) return `last seen ${mins} min ago`;
  const time = then.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return new Date().toDateString() === then.toDateString() ? `last seen today at ${time}` : `last seen ${then.toLocaleDateString()} at ${time}`;
}

export function convHeaderView({ me, currentThread, onInfo }) {
  const backBtn = h('button.icon-btn.back', { type: 'button', 'aria-label': 'Back to chats', title: 'Back', testid: 'back-button', onclick: () => { location.hash = '#/'; } }, icon('back'));
  const avatarSlot = h('span.conv-avatar');
  const title = h('h2.conv-title', { testid: 'conversation-title' });
  const sub = h('span.conv-sub', { testid: 'conversation-subtitle' });
  const infoBtn = h('button.icon-btn', { type: 'button', title: 'Chat details', 'aria-label': 'Chat details', testid: 'thread-info-button', onclick: () => onInfo() }, icon('info'));
  const muteBtn = h('button.icon-btn', {
    type: 'button',
    testid: 'mute-button',
    onclick: () => {
      const t = currentThread();
      if (!t) return;
      const on = !chat.isMuted(t.id);
      chat.setMuted(t.id, on);
      toast(on ? 'Muted: no notifications from this chat, and it is left out of the tab’s count.' : 'Unmuted.', 'info', { timeout: 2500 });
    },
  });
  const el = h('header.conv-header', backBtn, avatarSlot, h('div.conv-heading', title, sub), muteBtn, infoBtn);
  const typingEl = h('div.typing-indicator', { testid: 'typing-indicator', 'aria-live': 'polite' });

  function render() {
    const t = currentThread();
    if (!t) return;
    const other = chat.otherMember(t);
    const name = chat.threadTitle(t);
    title.textContent = name;
    clear(avatarSlot);
    if (t.isGroup) {
      avatarSlot.append(avatar({ name, key: `g${t.id}`, size: 40 }));
      const online = t.members.filter((m) => m.id !== me.id && state.online.has(m.id)).length;
      sub.textContent = `${t.members.length} members${online ? `, ${online} online` : ''}`;
      sub.dataset.online = online ? 'true' : 'false';
    } else {
      const isOnline = other ? state.online.has(other.id) : false;
      avatarSlot.append(avatar({ name, url: other?.avatarUrl, key: other?.id ?? t.id, size: 40, online: other ? isOnline : null }));
      const wentOffline = other ? state.wentOffline.get(other.id) : null;
      const presence = isOnline ? 'online' : wentOffline ? lastSeenText(wentOffline) : 'offline';
      sub.textContent = other ? `${presence} · @${other.userName}` : '';
      sub.dataset.online = isOnline ? 'true' : 'false';
      if (wentOffline && !isOnline) sub.dataset.lastSeen = wentOffline;
      else delete sub.dataset.lastSeen;
    }
    infoBtn.hidden = !t.isGroup;
    const muted = chat.isMuted(t.id);
    clear(muteBtn);
    muteBtn.append(icon(muted ? 'bellOff' : 'bell'));
    muteBtn.title = muted ? 'Unmute this chat' : 'Mute this chat';
    muteBtn.setAttribute('aria-label', muteBtn.title);
    muteBtn.setAttribute('aria-pressed', muted ? 'true' : 'false');
    muteBtn.classList.toggle('on', muted);
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

  return { el, typingEl, render, renderTyping };
}
