// The nodes of a thread's timeline, in order: day separators, system lines, the "New messages"
// divider, the messages (grouped in runs of one sender), and the "Seen" mark under your last
// message. Nodes are cached by what they show, so a re-render touches only what changed.

import { h, formatDay, dayKey } from '../dom.js';
import * as chat from '../chat.js';
import { messageNode, messageSig, systemLineNode } from './message.js';

const RUN_GAP_MS = 5 * 60 * 1000;

export function timelineNodes(me, ctx) {
  const msgCache = new Map();
  const daySepCache = new Map();
  const lineCache = new Map();
  const seenEl = h('div.seen', { testid: 'seen-marker' });
  const divider = h('div.unread-divider', { testid: 'unread-divider', role: 'separator' }, h('span', 'New messages'));
  let unreadFrom = null; // the read mark when the chat was opened: a divider goes after it
  let settled = false;

  function renderMessage(m, t, pos) {
    const key = m.pending ? `p${m.clientMsgId}` : `m${m.id}`;
    const sig = messageSig(m, t, pos, ctx);
    const cached = msgCache.get(key);
    if (cached && cached.sig === sig) return cached.el;
    const el = messageNode(m, t, pos, ctx);
    msgCache.set(key, { sig, el });
    return el;
  }

  function daySeparator(iso) {
    const key = dayKey(iso);
    const label = formatDay(iso);
    const cached = daySepCache.get(key);
    if (cached && cached.label === label) return cached.el;
    const el = h('div.day-sep', { testid: 'day-separator', role: 'separator' }, h('span', label));
    daySepCache.set(key, { label, el });
    return el;
  }

  function systemLine(line) {
    if (!lineCache.has(line.key)) lineCache.set(line.key, systemLineNode(line));
    return lineCache.get(line.key);
  }

  const sameRun = (a, b) => a && b && a.sender?.id === b.sender?.id && dayKey(a.createdAt) === dayKey(b.createdAt)
    && Math.abs(Date.parse(b.createdAt) - Date.parse(a.createdAt)) < RUN_GAP_MS;

  /** {children, count}: the nodes for the thread now, and how many messages they hold. */
  function build(t) {
    const real = t.tracked ? chat.timeline(t) : [];
    const pending = chat.pendingFor(t.id).map((p) => ({ ...p, pending: true, sender: chat.state.me, id: null }));
    const all = [...real, ...pending];
    const children = [];
    let prevDay = null;
    let lastOwnIdx = -1;
    for (let i = 0; i < real.length; i++) if (real[i].sender?.id === me.id) lastOwnIdx = i;
    const lines = t.systemLines || [];
    let lineIdx = 0;
    // a system line, a day separator or the unread divider ends a run of messages
    let runBroken = true;
    const pushLinesUpTo = (id) => {
      while (lineIdx < lines.length && lines[lineIdx].afterId < id) {
        if (!(t.hasMoreOlder && lines[lineIdx].afterId < t.oldestId)) {
          children.push(systemLine(lines[lineIdx]));
          runBroken = true;
        }
        lineIdx += 1;
      }
    };
    for (let i = 0; i < all.length; i++) {
      const m = all[i];
      if (!m.pending) pushLinesUpTo(m.id);
      const day = dayKey(m.createdAt);
      if (day !== prevDay) {
        children.push(daySeparator(m.createdAt));
        prevDay = day;
        runBroken = true;
      }
      if (unreadFrom !== null && !m.pending && m.id > unreadFrom && m.sender?.id !== me.id && !children.includes(divider)
        && ((real[0]?.id ?? 0) <= unreadFrom || !t.hasMoreOlder || t.windowAfter === unreadFrom)) {
        children.push(divider);
        runBroken = true;
      }
      const pos = { first: runBroken || !sameRun(all[i - 1], m) };
      runBroken = false;
      children.push(renderMessage(m, t, pos));
      if (i === lastOwnIdx) {
        const readers = chat.readersOf(t, m.id);
        if (readers.length) {
          seenEl.textContent = t.isGroup
            ? (readers.length === t.members.length - 1 ? 'Seen by everyone' : `Seen by ${readers.map((r) => r.nickName).join(', ')}`)
            : 'Seen';
          seenEl.dataset.messageId = String(m.id);
          children.push(seenEl);
        }
      }
    }
    if (!t.hasMoreNewer) pushLinesUpTo(Infinity);
    if (t.tracked && !t.loading && !all.length && !lines.length) {
      children.push(h('div.conv-start', { testid: 'conversation-start' }, 'No messages yet. Say hello 👋'));
    }
    return { children, count: all.length };
  }

  return {
    divider,
    build,
    /** The read mark when the chat was opened (null: nothing was unread). */
    get unreadFrom() { return unreadFrom; },
    reset(t) {
      msgCache.clear();
      daySepCache.clear();
      lineCache.clear();
      unreadFrom = t && t.unreadCount > 0 ? t.myLastRead : null;
      settled = false;
    },
    /** The reader left (the tab was hidden) after message `id`: what others write next is new. */
    markFrom(id) {
      unreadFrom = id;
      settled = true;
    },
    /**
     * Once the newest page is in: a message of your own after the read mark means you had
     * read what is above it (you answered it elsewhere), so only what came after it is new.
     */
    settle(t) {
      if (settled || unreadFrom === null) return;
      settled = true;
      const list = chat.timeline(t);
      for (let i = list.length - 1; i >= 0; i--) {
        if (list[i].sender?.id === me.id) {
          unreadFrom = Math.max(unreadFrom, list[i].id);
          break;
        }
      }
      if (!list.some((m) => m.id > unreadFrom && m.sender?.id !== me.id)) unreadFrom = null;
    },
    /** Drops cached nodes no longer on the page. */
    prune() {
      for (const [key, v] of msgCache) if (!v.el.isConnected) msgCache.delete(key);
    },
    forgetPending() {
      for (const k of [...msgCache.keys()]) if (k.startsWith('p')) msgCache.delete(k);
    },
  };
}
