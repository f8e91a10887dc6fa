// Message search in the sidebar (GET /search/messages): newest matches first, the words found
// highlighted, a click opens the chat at that message.

import { h, clear, debounce, formatShort } from '../dom.js';
import { api } from '../api.js';
import * as chat from '../chat.js';

const { state } = chat;

/** Words of the query as the server matches them: whole words or word starts, any case. */
function queryWords(q) {
  return (q.toLowerCase().match(/[\p{L}\p{N}]+/gu) || []);
}

/** The text with each word that starts like a query word in <mark>, built from text nodes. */
export function highlight(text, words) {
  const frag = document.createDocumentFragment();
  if (!words.length) {
    frag.append(text);
    return frag;
  }
  const re = /[\p{L}\p{N}]+/gu;
  let last = 0;
  for (const m of text.matchAll(re)) {
    const w = m[0].toLowerCase();
    if (words.some((q) => w.startsWith(q))) {
      if (m.index > last) frag.append(text.slice(last, m.index));
      // only the matching start of the word is marked
      const len = Math.max(...words.filter((q) => w.startsWith(q)).map((q) => q.length));
      frag.append(h('mark', { testid: 'search-mark' }, m[0].slice(0, len)));
      last = m.index + len;
    }
  }
  if (last < text.length) frag.append(text.slice(last));
  return frag;
}

/** A snippet around the first match, so long messages show why they matched. */
function snippet(text, words) {
  const flat = text.replace(/\s+/g, ' ').trim();
  const lower = flat.toLowerCase();
  let at = -1;
  for (const w of words) {
    const i = lower.search(new RegExp(`(^|[^\\p{L}\\p{N}])${w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'u'));
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  if (at <= 40) return flat.slice(0, 160);
  return `…${flat.slice(at - 30, at + 130)}`;
}

export function messageSearch({ onOpen }) {
  const list = h('ul.search-results', { testid: 'search-results', 'aria-label': 'Messages found' });
  const status = h('p.search-status', { testid: 'search-status', role: 'status' });
  const more = h('button.btn.link.search-more', { type: 'button', hidden: true, testid: 'search-more' }, 'More results');
  const el = h('section.search-section', { testid: 'message-search', hidden: true },
    h('h3.list-heading', 'Messages'), status, list, more);
  let controller = null;
  let query = '';
  let oldest = null;

  async function load(q, append) {
    controller?.abort();
    controller = new AbortController();
    status.textContent = append ? '' : 'Searching…';
    try {
      const data = await api.searchMessages(q, { before: append ? oldest : undefined, limit: 20 }, controller.signal);
      if (q !== query) return;
      const words = queryWords(q);
      if (!append) clear(list);
      for (const m of data.messages || []) {
        const t = state.threads.get(m.threadId);
        const where = t ? chat.threadTitle(t) : 'A chat';
        const who = m.sender?.id === state.me?.id ? 'You' : m.sender?.nickName || 'Someone';
        list.append(h('li', h('button.search-hit', {
          type: 'button',
          testid: 'search-result',
          dataset: { messageId: String(m.id), threadId: String(m.threadId) },
          onclick: () => onOpen(m),
        },
        h('span.hit-head', h('span.hit-where', where), h('span.hit-time', formatShort(m.createdAt))),
        h('span.hit-text', h('strong', `${who}: `), highlight(snippet(m.text || '', words), words)))));
        oldest = m.id;
      }
      const n = list.children.length;
      status.textContent = n ? '' : `No messages match “${q}”.`;
      status.hidden = !!n;
      more.hidden = !data.hasMore;
    } catch (e) {
      if (e.name === 'AbortError') return;
      status.hidden = false;
      status.textContent = e.code === 'VALIDATION' ? 'Type letters or digits to search messages.' : `Search failed: ${e.message}`;
    }
  }

  const runSoon = debounce((q) => load(q, false), 250);
  more.addEventListener('click', () => load(query, true));

  return {
    el,
    run(value) {
      const q = value.trim();
      query = q;
      oldest = null;
      if (!queryWords(q).some((w) => w.length >= 2)) {
        runSoon.cancel();
        controller?.abort();
        el.hidden = true;
        clear(list);
        return;
      }
      el.hidden = false;
      status.hidden = false;
      status.textContent = 'Searching…';
      runSoon(q);
    },
    destroy() {
      runSoon.cancel();
      controller?.abort();
    },
  };
}
