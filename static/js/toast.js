// Toasts: every error reaches the person in words.

import { h, icon } from './dom.js';

let container = null;
const recent = new Map();

function ensureContainer() {
  if (!container || !container.isConnected) {
    container = document.getElementById('toasts') || document.body.appendChild(h('div#toasts.toasts'));
    container.setAttribute('aria-live', 'polite');
    container.dataset.testid = 'toasts';
  }
  return container;
}

/** toast('Could not send', 'error' | 'info' | 'success', { timeout }) */
export function toast(message, kind = 'error', { timeout } = {}) {
  const text = String(message || 'Something went wrong.');
  const now = Date.now();
  // the same words twice in a row add nothing
  if (recent.has(text) && now - recent.get(text) < 3000) return;
  for (const [key, at] of recent) if (now - at > 10000) recent.delete(key);
  recent.set(text, now);
  const box = ensureContainer();
  const close = h('button.toast-close', { type: 'button', 'aria-label': 'Dismiss' }, icon('close', 16));
  const el = h('div.toast', {
    class: kind,
    role: kind === 'error' ? 'alert' : 'status',
    testid: 'toast',
    dataset: { kind },
  }, h('span.toast-text', text), close);
  const remove = () => {
    el.classList.add('leaving');
    setTimeout(() => el.remove(), 200);
  };
  close.addEventListener('click', remove);
  box.append(el);
  while (box.children.length > 4) box.firstElementChild.remove();
  setTimeout(remove, timeout ?? (kind === 'error' ? 8000 : 4000));
}
