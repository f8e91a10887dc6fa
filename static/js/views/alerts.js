// Telling the person about new messages outside the page: the unread count in the tab's
// title and icon, and desktop notifications while the tab is hidden. Muted chats do neither.

import * as chat from '../chat.js';

const { state } = chat;

function badgeSvg(count) {
  const label = count > 99 ? '99+' : String(count);
  const size = label.length > 2 ? 11 : label.length > 1 ? 14 : 17;
  return '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    + '<rect width="32" height="32" rx="8" fill="#4f46e5"/><path d="M6 8h14v10H11l-5 4z" fill="#fff"/>'
    + '<circle cx="22" cy="20" r="10" fill="#dc2626" stroke="#fff" stroke-width="2"/>'
    + `<text x="22" y="20" dy=".36em" text-anchor="middle" font-family="Arial,sans-serif" font-weight="700" font-size="${size}" fill="#fff">${label}</text></svg>`;
}

let shown = null;
/** The tab's icon and title with the unread count of the chats that are not muted. */
export function renderBadge() {
  const count = chat.unreadTotal();
  document.title = count ? `(${count}) Chat` : 'Chat';
  if (shown === count) return;
  shown = count;
  const link = document.querySelector('link[rel="icon"]');
  if (!link) return;
  if (!link.dataset.plain) link.dataset.plain = link.getAttribute('href');
  link.dataset.count = String(count);
  link.href = count ? `data:image/svg+xml,${encodeURIComponent(badgeSvg(count))}` : link.dataset.plain;
}

export function clearBadge() {
  shown = null;
  document.title = 'Chat';
  const link = document.querySelector('link[rel="icon"]');
  if (link?.dataset.plain) {
    link.href = link.dataset.plain;
    link.dataset.count = '0';
  }
}

export function notificationsSupported() {
  return typeof Notification === 'function';
}

/**
 * Turns desktop notifications on (asking the browser's permission: call it from a click) or
 * off. Resolves to what is now true: 'on', 'off', 'denied' or 'unsupported'.
 */
export async function setNotifications(on) {
  if (!notificationsSupported()) return 'unsupported';
  if (!on) {
    chat.setNotificationsWanted(false);
    return 'off';
  }
  let permission = Notification.permission;
  if (permission === 'default') permission = await Notification.requestPermission();
  if (permission !== 'granted') {
    chat.setNotificationsWanted(false);
    return 'denied';
  }
  chat.setNotificationsWanted(true);
  return 'on';
}

export function notificationsOn() {
  return notificationsSupported() && Notification.permission === 'granted' && chat.notificationsWanted();
}

function preview(m) {
  if (m.text) return m.text.length > 140 ? `${m.text.slice(0, 140)}…` : m.text;
  if (m.attachments?.length) return `📎 ${m.attachments.map((a) => a.name).join(', ')}`;
  return 'New message';
}

const open = new Map(); // tag -> the notification shown for a chat

function notifyMessage(m) {
  if (document.visibilityState === 'visible' || !notificationsOn() || chat.isMuted(m.threadId)) return;
  const t = state.threads.get(m.threadId);
  const who = m.sender?.nickName || 'Someone';
  const title = t?.isGroup ? `${who} in ${chat.threadTitle(t)}` : who;
  try {
    // one notification per chat: a newer one replaces it
    const tag = `thread-${m.threadId}`;
    const icon = m.sender?.avatarThumbUrl || m.sender?.avatarUrl || '/favicon.svg';
    const n = new Notification(title, { body: preview(m), tag, icon });
    open.set(tag, n);
    n.onclick = () => {
      window.focus();
      location.hash = `#/t/${m.threadId}`;
      n.close();
    };
    n.onclose = () => { if (open.get(tag) === n) open.delete(tag); };
  } catch {
    /* some browsers allow notifications only from a service worker: nothing to show then */
  }
}

/** Starts following the store; returns the function that stops it. */
export function startAlerts() {
  const off = chat.subscribe((what, detail) => {
    if (what === 'threads') renderBadge();
    else if (what === 'incoming') notifyMessage(detail);
  });
  // back on the page: what the notifications said is in front of the person now
  const onVisible = () => {
    if (document.visibilityState !== 'visible') return;
    for (const n of open.values()) n.close?.();
    open.clear();
  };
  document.addEventListener('visibilitychange', onVisible);
  renderBadge();
  return () => {
    off();
    document.removeEventListener('visibilitychange', onVisible);
    clearBadge();
  };
}
