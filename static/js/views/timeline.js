// The message list of the open thread: what it shows (timeline-nodes.js builds the nodes),
// where it is scrolled (keeping the reader's place, opening at the first unread), loading more
// at the edges, read marks for what is in view, and jumps to a message.

import { h, icon, clear, syncChildren } from '../dom.js';
import * as chat from '../chat.js';
import { toast } from '../toast.js';
import { timelineNodes } from './timeline-nodes.js';

/** currentThread(): the open thread or null; hidden(): the list is not on screen (phone, list pane). */
export function timelineView({ me, ctx, currentThread, hidden }) {
  const historyStatus = h('div.history-status', { testid: 'history-status' });
  const items = h('div.message-items');
  const list = h('div.messages', { testid: 'message-list', role: 'log', 'aria-live': 'polite', tabindex: '0' }, historyStatus, items);
  const newPill = h('button.new-pill', { type: 'button', hidden: true, testid: 'new-messages-pill', onclick: () => scrollToBottom(true) }, 'New messages', icon('down', 18));
  const presentPill = h('button.new-pill', { type: 'button', hidden: true, testid: 'jump-to-present', onclick: () => backToPresent() }, 'Jump to the newest', icon('down', 18));
  const bottomBtn = h('button.jump-btn', { type: 'button', hidden: true, testid: 'jump-to-bottom', title: 'Jump to the newest message', 'aria-label': 'Jump to the newest message', onclick: () => scrollToBottom(true) }, icon('down', 22));
  const unreadText = h('span');
  const unreadPill = h('button.new-pill.top', { type: 'button', hidden: true, testid: 'jump-to-unread', title: 'Jump to the first unread message', onclick: () => jumpToUnread() }, icon('up', 18), unreadText);
  const wrap = h('div.messages-wrap', list, unreadPill, newPill, presentPill, bottomBtn);

  const nodes = timelineNodes(me, ctx);
  let atBottom = true;
  let openedAtDivider = false;
  // The tab hidden with this chat open: what others write meanwhile goes below a "New messages"
  // divider, so on return the reader sees where they left, as Slack does.
  let awayAfter = null; // the newest message shown when the tab was hidden
  let dividerFromAway = false; // the divider was moved by this absence: show it on return

  /** A thread was opened: forget the last one's nodes and place. */
  let fetchedUnread = false; // the first unread was further back than the newest page, and was fetched
  let fetchingUnread = false;
  function reset(t) {
    nodes.reset(t);
    const n = t?.unreadCount || 0;
    unreadText.textContent = `${n > 99 ? '99+' : n} new message${n === 1 ? '' : 's'}`;
    clear(items);
    newPill.hidden = true;
    unreadPill.hidden = true;
    bottomBtn.hidden = true;
    atBottom = true;
    openedAtDivider = false;
    fetchedUnread = false;
    fetchingUnread = false;
    awayAfter = null;
    dividerFromAway = false;
  }

  const fromOthersAfter = (t, id) => chat.timeline(t).filter((m) => m.id > id && m.sender?.id !== me.id).length;

  function onVisibility() {
    const t = currentThread();
    if (document.visibilityState === 'hidden') {
      // only a chat showing its newest messages: the next ones arrive right below them
      awayAfter = t && t.tracked && !t.loading && !t.hasMoreNewer ? (chat.timeline(t).at(-1)?.id ?? 0) : null;
      return;
    }
    awayAfter = null;
    if (!dividerFromAway || !t) return;
    dividerFromAway = false;
    if (dividerPlace() === 'above') showDivider(); // more came than the view holds: start at the first
    atBottom = isAtBottom();
    updateButtons();
    scheduleRead();
  }
  document.addEventListener('visibilitychange', onVisibility);

  /** Where the "New messages" divider is: 'none' (nothing was unread), 'away' (not loaded), 'above', 'here', 'below'. */
  function dividerPlace() {
    const t = currentThread();
    if (!t || nodes.unreadFrom === null) return 'none';
    if (!nodes.divider.isConnected) return 'away';
    const d = nodes.divider.getBoundingClientRect();
    const v = list.getBoundingClientRect();
    if (d.bottom < v.top + 4) return 'above';
    return d.top > v.bottom ? 'below' : 'here';
  }

  function updateButtons() {
    const t = currentThread();
    const place = dividerPlace();
    unreadPill.hidden = !t || t.loading || fetchingUnread || !(place === 'above' || (place === 'away' && t.tracked));
    bottomBtn.hidden = !t || atBottom || t.hasMoreNewer || !newPill.hidden;
  }

  async function jumpToUnread() {
    const t = currentThread();
    if (!t || nodes.unreadFrom === null) return;
    unreadPill.hidden = true;
    if (!nodes.divider.isConnected) {
      try {
        if (!(await chat.loadFrom(t.id, nodes.unreadFrom))) return;
      } catch (e) {
        toast(`Could not load the unread messages: ${e.message}`, 'error');
        return;
      }
      render();
    }
    if (nodes.divider.isConnected) {
      showDivider();
      atBottom = isAtBottom();
      updateButtons();
    }
  }

  function render({ older = false, forceBottom = false } = {}) {
    const t = currentThread();
    if (!t) return;
    // Keep what the reader looks at in place when anything above it changes (an older page, a
    // grown message): the anchor is the first *message* in view, never the sticky day label,
    // which sits at the top whatever the scroll position.
    let anchor = null;
    let anchorTop = 0;
    if (!atBottom || older) {
      const top = list.getBoundingClientRect().top;
      anchor = [...items.querySelectorAll('[data-message-id]')].find((el) => el.getBoundingClientRect().bottom > top) || null;
      if (anchor) anchorTop = anchor.getBoundingClientRect().top;
    }
    const wasAtBottom = atBottom && !t.hasMoreNewer;
    if (t.tracked && !t.loading && !t.hasMoreNewer) nodes.settle(t);
    if (awayAfter !== null && document.visibilityState === 'hidden' && fromOthersAfter(t, awayAfter)) {
      nodes.markFrom(awayAfter);
      awayAfter = null;
      dividerFromAway = true;
      openedAtDivider = true; // placed on return, not now
    }
    if (dividerFromAway) {
      const n = fromOthersAfter(t, nodes.unreadFrom);
      unreadText.textContent = `${n > 99 ? '99+' : n} new message${n === 1 ? '' : 's'}`;
    }

    const { children, count } = nodes.build(t);
    syncChildren(items, children);

    if (t.loading) historyStatus.textContent = 'Loading messages…';
    else if (t.loadError) {
      clear(historyStatus);
      historyStatus.append(`Could not load messages: ${t.loadError} `,
        h('button.btn.link', { type: 'button', onclick: () => chat.trackThread(t.id) }, 'Try again'));
    } else if (t.loadingOlder) historyStatus.textContent = 'Loading older messages…';
    else if (t.tracked && !t.hasMoreOlder && count) historyStatus.textContent = 'This is the beginning of the conversation.';
    else historyStatus.textContent = '';
    historyStatus.dataset.state = t.loading ? 'loading' : t.loadingOlder ? 'loading-older' : t.hasMoreOlder ? 'more' : 'start';
    nodes.prune();

    presentPill.hidden = !t.hasMoreNewer;
    // by id: the anchor's node may have been rebuilt (it is no longer the first of its run)
    const anchorNow = anchor ? items.querySelector(`[data-message-id="${anchor.dataset.messageId}"]`) : null;
    const divider = nodes.divider;
    if (!openedAtDivider && !fetchedUnread && !divider.isConnected && !t.loading && t.tracked && nodes.unreadFrom !== null
      && t.hasMoreOlder && !t.hasMoreNewer) {
      // More unread than the newest page holds: open at the first unread, as Slack does.
      fetchedUnread = true;
      fetchingUnread = true; // the newest page shown meanwhile is not read
      chat.loadFrom(t.id, nodes.unreadFrom)
        .catch((e) => toast(`Could not load the unread messages: ${e.message}`, 'error'))
        .finally(() => {
          fetchingUnread = false;
          updateButtons();
          scheduleRead();
        });
    }
    if (!openedAtDivider && divider.isConnected && !t.loading) {
      // open at the first unread message, not below it
      openedAtDivider = true;
      scrollToBottom();
      if (divider.getBoundingClientRect().top < list.getBoundingClientRect().top) {
        showDivider();
        atBottom = isAtBottom();
      }
    } else if (forceBottom || wasAtBottom) scrollToBottom();
    else if (anchorNow) list.scrollTop += anchorNow.getBoundingClientRect().top - anchorTop;
    updateButtons();
    scheduleRead();
    // after this frame's layout: a page that did not fill the view asks for the next one
    requestAnimationFrame(() => maybeLoadMore());
  }

  /** The divider at the top of the view, below the sticky day label. */
  function showDivider() {
    const label = items.querySelector('.day-sep');
    const below = label ? label.getBoundingClientRect().height + 12 : 0;
    list.scrollTop += nodes.divider.getBoundingClientRect().top - list.getBoundingClientRect().top - below;
  }

  function isAtBottom() {
    return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  }

  function scrollToBottom(smooth = false) {
    list.scrollTo({ top: list.scrollHeight, behavior: smooth ? 'smooth' : 'auto' });
    atBottom = true;
    newPill.hidden = true;
    bottomBtn.hidden = true;
  }

  /** Shows a message of the open thread: loads the page around it when needed, then highlights it. */
  async function jumpTo(messageId) {
    const t = currentThread();
    if (!t) return;
    fetchedUnread = true; // the reader chose where to be: no jump to the first unread after this
    try {
      if (!(await chat.loadAround(t.id, messageId))) {
        toast('That message is no longer available.', 'info');
        return;
      }
    } catch (e) {
      toast(`Could not show the message: ${e.message}`, 'error');
      return;
    }
    render();
    const el = items.querySelector(`[data-message-id="${messageId}"]`);
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

  let readTimer = null;
  function scheduleRead() {
    clearTimeout(readTimer);
    readTimer = setTimeout(sendRead, 150);
  }
  function sendRead() {
    const t = currentThread();
    if (!t || !t.tracked || hidden() || fetchingUnread) return;
    const bottom = list.getBoundingClientRect().bottom;
    const els = items.children;
    for (let i = els.length - 1; i >= 0; i--) {
      const el = els[i];
      const id = Number(el.dataset.messageId);
      if (!id || el.dataset.testid !== 'message') continue;
      if (el.getBoundingClientRect().top < bottom - 8) {
        chat.markRead(t.id, id);
        return;
      }
    }
  }

  function maybeLoadMore() {
    const t = currentThread();
    if (!t || !t.tracked || t.loading) return;
    if (t.hasMoreOlder && !t.loadingOlder && list.scrollTop < 150) chat.loadOlder(t.id);
    if (t.hasMoreNewer && !t.loadingNewer && isAtBottom()) chat.loadNewer(t.id);
  }

  list.addEventListener('scroll', () => {
    atBottom = isAtBottom();
    if (atBottom) newPill.hidden = true;
    updateButtons();
    maybeLoadMore();
    scheduleRead();
  }, { passive: true });

  // The composer grows, the keyboard opens, the window shrinks: whoever read the newest message
  // keeps seeing it.
  let listHeight = 0;
  const resizeObserver = new ResizeObserver(() => {
    const hgt = list.clientHeight;
    if (hgt !== listHeight) {
      const shrunk = hgt < listHeight;
      listHeight = hgt;
      if (shrunk && atBottom) scrollToBottom();
    }
  });
  resizeObserver.observe(list);

  return {
    el: wrap,
    items,
    reset,
    render,
    jumpTo,
    scrollToBottom,
    scheduleRead,
    get atBottom() { return atBottom; },
    /** New messages arrived while the reader was up in the history. */
    showNewPill() {
      newPill.hidden = false;
      bottomBtn.hidden = true;
    },
    /** "Waiting for connection…" labels of pending messages follow the connection. */
    forgetPending: () => nodes.forgetPending(),
    destroy() {
      document.removeEventListener('visibilitychange', onVisibility);
      resizeObserver.disconnect();
      clearTimeout(readTimer);
    },
  };
}
