// The small emoji picker of a message: the reactions people use most, the ones you used lately first.

import { h } from '../dom.js';

const COMMON = ['👍', '❤️', '😂', '🎉', '😮', '😢', '🙏', '👀', '🔥', '✅', '👎', '🚀'];
const RECENT_KEY = 'chat.recentEmoji';
const SHOWN = 12;

function recent() {
  try {
    const list = JSON.parse(localStorage.getItem(RECENT_KEY) || '[]');
    return Array.isArray(list) ? list.filter((e) => typeof e === 'string') : [];
  } catch {
    return [];
  }
}

function remember(emoji) {
  const list = [emoji, ...recent().filter((e) => e !== emoji)].slice(0, 8);
  try {
    localStorage.setItem(RECENT_KEY, JSON.stringify(list));
  } catch {
    /* ignore */
  }
}

let openPicker = null;

/** Opens next to `anchor`; onPick(emoji, on) toggles it (on = false for one you already gave). */
export function emojiPicker({ anchor, mine, onPick }) {
  openPicker?.close();
  const choices = [...new Set([...recent(), ...COMMON])].slice(0, SHOWN);
  const el = h('div.emoji-picker', { testid: 'emoji-picker', role: 'dialog', 'aria-label': 'Add a reaction' });
  const close = () => {
    el.remove();
    document.removeEventListener('pointerdown', outside, true);
    document.removeEventListener('keydown', onKey, true);
    if (openPicker?.el === el) openPicker = null;
    anchor.focus?.({ preventScroll: true });
  };
  const outside = (ev) => {
    if (!el.contains(ev.target)) close();
  };
  const onKey = (ev) => {
    if (ev.key === 'Escape') {
      ev.stopPropagation();
      close();
    }
  };
  for (const emoji of choices) {
    const given = mine.has(emoji);
    el.append(h('button.emoji-choice', {
      type: 'button',
      testid: 'emoji-choice',
      class: given ? 'mine' : '',
      dataset: { emoji },
      'aria-pressed': given ? 'true' : 'false',
      'aria-label': given ? `Remove ${emoji}` : `React with ${emoji}`,
      onclick: () => {
        remember(emoji);
        close();
        onPick(emoji, !given);
      },
    }, emoji));
  }
  document.body.append(el);
  const r = anchor.getBoundingClientRect();
  const w = el.offsetWidth;
  const hgt = el.offsetHeight;
  const left = Math.max(8, Math.min(window.innerWidth - w - 8, r.left + r.width / 2 - w / 2));
  const top = r.top - hgt - 6 > 8 ? r.top - hgt - 6 : r.bottom + 6;
  el.style.left = `${left}px`;
  el.style.top = `${top}px`;
  setTimeout(() => {
    document.addEventListener('pointerdown', outside, true);
    document.addEventListener('keydown', onKey, true);
  }, 0);
  el.querySelector('button')?.focus({ preventScroll: true });
  openPicker = { el, close };
  return openPicker;
}
