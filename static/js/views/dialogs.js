// Modal dialogs: new direct chat, new group, group details (members, add, remove, leave).

import { h, icon, clear, avatar, debounce } from '../dom.js';
import { api } from '../api.js';
import * as chat from '../chat.js';
import { toast } from '../toast.js';
import { lastSeenText } from './conv-header.js';

const { state } = chat;

export function openDialog({ title, testid, body, footer }) {
  const close = h('button.icon-btn', { type: 'button', 'aria-label': 'Close', testid: 'dialog-close' }, icon('close'));
  const dialog = h('dialog.dialog', { testid, 'aria-label': title },
    h('div.dialog-head', h('h2', title), close),
    h('div.dialog-body', body),
    footer ? h('div.dialog-foot', footer) : null);
  const done = () => {
    if (dialog.open) dialog.close();
  };
  close.addEventListener('click', done);
  dialog.addEventListener('close', () => dialog.remove());
  dialog.addEventListener('click', (ev) => {
    if (ev.target === dialog) done(); // click on the backdrop
  });
  document.body.append(dialog);
  dialog.showModal();
  return { dialog, close: done };
}

/** A search box over GET /users with a result list. */
function userSearch({ onPick, exclude = () => new Set(), placeholder = 'Search by name or user name' }) {
  const input = h('input.search-input', { type: 'search', placeholder, 'aria-label': placeholder, testid: 'user-search-input', autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false' });
  const results = h('ul.user-results', { testid: 'user-search-results' });
  const status = h('p.search-status', { testid: 'user-search-status' }, 'Type a name to search.');
  let controller = null;

  const run = debounce(async () => {
    const q = input.value.trim();
    if (controller) controller.abort();
    if (!q) {
      clear(results);
      status.textContent = 'Type a name to search.';
      status.hidden = false;
      return;
    }
    controller = new AbortController();
    status.textContent = 'Searching…';
    status.hidden = false;
    try {
      const data = await api.searchUsers(q, 20, controller.signal);
      const skip = exclude();
      const users = (data.users || []).filter((u) => u.id !== state.me.id && !skip.has(u.id));
      clear(results);
      for (const u of users) {
        const online = state.online.has(u.id);
        const pick = h('button.user-result', { type: 'button', testid: 'user-result', dataset: { userId: String(u.id), userName: u.userName } },
          avatar({ name: u.nickName, url: u.avatarUrl, key: u.id, size: 36, online }),
          h('span.user-names', h('strong', u.nickName), h('span.handle', `@${u.userName}`)));
        pick.addEventListener('click', async () => {
          pick.disabled = true;
          try {
            await onPick(u);
          } catch (e) {
            toast(e.message, 'error');
            status.textContent = e.message;
            status.hidden = false;
          } finally {
            pick.disabled = false;
          }
        });
        results.append(h('li', pick));
      }
      status.textContent = users.length ? '' : `Nobody found for “${q}”.`;
      status.hidden = !!users.length;
    } catch (e) {
      if (e.name === 'AbortError') return;
      status.textContent = `Search failed: ${e.message}`;
      status.hidden = false;
    }
  }, 200);
  input.addEventListener('input', run);
  return { el: h('div.user-search', h('div.search-box', icon('search', 18), input), status, results), input, refresh: run };
}

export function newChatDialog({ onPick }) {
  let dlg = null;
  const search = userSearch({
    onPick: async (user) => {
      await onPick(user);
      dlg.close();
    },
  });
  dlg = openDialog({ title: 'New chat', testid: 'new-chat-dialog', body: search.el });
  search.input.focus();
}

export function newGroupDialog({ onCreate }) {
  const selected = new Map();
  const nameInput = h('input', { type: 'text', maxlength: 100, placeholder: 'Group name', 'aria-label': 'Group name', testid: 'group-name-input' });
  const chips = h('div.chips', { testid: 'group-selected' });
  const error = h('p.field-error', { testid: 'group-error', hidden: true, role: 'alert' });
  const create = h('button.btn.primary', { type: 'button', testid: 'group-create-button' }, 'Create group');

  const renderChips = () => {
    clear(chips);
    for (const u of selected.values()) {
      chips.append(h('span.chip', { testid: 'group-member-chip', dataset: { userId: String(u.id) } },
        avatar({ name: u.nickName, url: u.avatarUrl, key: u.id, size: 22 }),
        u.nickName,
        h('button.chip-x', { type: 'button', 'aria-label': `Remove ${u.nickName}`, onclick: () => { selected.delete(u.id); renderChips(); search.refresh(); } }, icon('close', 14))));
    }
    chips.hidden = !selected.size;
  };
  const search = userSearch({
    placeholder: 'Add people',
    exclude: () => new Set(selected.keys()),
    onPick: async (u) => {
      selected.set(u.id, u);
      renderChips();
      search.input.value = '';
      search.refresh();
      search.input.focus();
    },
  });
  renderChips();
  const dlg = openDialog({
    title: 'New group',
    testid: 'new-group-dialog',
    body: [h('div.field', h('label', 'Name'), nameInput), h('div.field', h('label', 'Members'), chips, search.el), error],
    footer: create,
  });
  create.addEventListener('click', async () => {
    const name = nameInput.value.trim();
    error.hidden = true;
    if (!name) {
      error.textContent = 'Give the group a name.';
      error.hidden = false;
      nameInput.focus();
      return;
    }
    create.disabled = true;
    try {
      await onCreate(name, [...selected.keys()]);
      dlg.close();
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
    } finally {
      create.disabled = false;
    }
  });
  nameInput.focus();
}

export function groupInfoDialog(thread) {
  const isOwner = thread.ownerId === state.me.id;
  const list = h('ul.member-list', { testid: 'member-list' });
  const count = h('p.dialog-sub', { testid: 'member-count' });
  const error = h('p.field-error', { testid: 'group-info-error', hidden: true, role: 'alert' });

  const render = (t) => {
    clear(list);
    count.textContent = `${t.members.length} members`;
    const members = [...t.members].sort((a, b) => (a.id === t.ownerId ? -1 : b.id === t.ownerId ? 1 : a.nickName.localeCompare(b.nickName)));
    for (const m of members) {
      const isMe = m.id === state.me.id;
      const online = isMe ? chat.isConnected() : state.online.has(m.id);
      list.append(h('li.member', { testid: 'member-item', dataset: { userId: String(m.id) } },
        avatar({ name: m.nickName, url: m.avatarUrl, key: m.id, size: 36, online }),
        h('span.user-names', h('strong', isMe ? `${m.nickName} (you)` : m.nickName),
          h('span.handle', { testid: 'member-presence' }, `@${m.userName}${online ? ' · online' : state.wentOffline.has(m.id) ? ` · ${lastSeenText(state.wentOffline.get(m.id))}` : ''}`)),
        m.id === t.ownerId ? h('span.tag', 'owner') : null,
        isOwner && !isMe
          ? h('button.btn.link.danger', {
            type: 'button',
            testid: 'remove-member',
            onclick: async () => {
              try {
                await chat.leaveThread(t.id, m.id);
                render(state.threads.get(t.id) || t);
              } catch (e) {
                error.textContent = e.message;
                error.hidden = false;
              }
            },
          }, 'Remove')
          : null));
    }
  };
  render(thread);
  chat.refreshThread(thread.id).then(render).catch((e) => {
    error.textContent = `Could not refresh the member list: ${e.message}`;
    error.hidden = false;
  });

  const body = [count, list];
  if (isOwner) {
    const nameInput = h('input', { type: 'text', maxlength: 100, value: thread.name || '', 'aria-label': 'Group name', testid: 'group-rename-input' });
    const save = h('button.btn.secondary.small', { type: 'button', testid: 'group-rename-save' }, 'Rename');
    save.addEventListener('click', async () => {
      const name = nameInput.value.trim();
      if (!name || name === (state.threads.get(thread.id) || thread).name) return;
      try {
        await chat.renameGroup(thread.id, name);
        toast('The group was renamed.', 'success');
      } catch (e) {
        error.textContent = e.message;
        error.hidden = false;
      }
    });
    body.unshift(h('div.rename-row', nameInput, save));
  }
  if (isOwner) {
    const add = userSearch({
      placeholder: 'Add someone to the group',
      exclude: () => new Set((state.threads.get(thread.id) || thread).members.map((m) => m.id)),
      onPick: async (u) => {
        const t = await chat.addMember(thread.id, u.id);
        render(t);
        add.input.value = '';
        add.refresh();
        toast(`${u.nickName} was added to the group.`, 'success');
      },
    });
    body.push(h('h3.dialog-section', 'Add members'), add.el);
  }
  body.push(error);
  const leave = h('button.btn.danger', { type: 'button', testid: 'leave-group-button' }, 'Leave group');
  const dlg = openDialog({ title: thread.name || 'Group', testid: 'group-info-dialog', body, footer: leave });
  leave.addEventListener('click', async () => {
    if (!window.confirm(`Leave “${thread.name}”? You will stop receiving its messages.`)) return;
    try {
      await chat.leaveThread(thread.id);
      dlg.close();
      location.hash = '#/';
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
    }
  });
}

/** A confirmation in the page's own style; resolves true when confirmed. */
export function confirmDialog({ title, text, confirm = 'OK', danger = false }) {
  return new Promise((resolve) => {
    let answer = false;
    const cancelBtn = h('button.btn.secondary', { type: 'button', testid: 'confirm-cancel' }, 'Cancel');
    const okBtn = h(danger ? 'button.btn.danger-solid' : 'button.btn.primary', { type: 'button', testid: 'confirm-ok' }, confirm);
    const dlg = openDialog({ title, testid: 'confirm-dialog', body: h('p.dialog-sub', text), footer: [cancelBtn, okBtn] });
    cancelBtn.addEventListener('click', () => dlg.close());
    okBtn.addEventListener('click', () => {
      answer = true;
      dlg.close();
    });
    dlg.dialog.addEventListener('close', () => resolve(answer));
    okBtn.focus();
  });
}

/** The full image over the page; Esc or a click outside closes it. */
export function imageViewer(a) {
  const img = h('img.viewer-image', { src: a.url, alt: a.name || 'image', testid: 'image-viewer-image' });
  const open = h('a.btn.secondary.small', { href: a.url, target: '_blank', rel: 'noopener', download: a.name || '' }, 'Download');
  const dlg = openDialog({ title: a.name || 'Image', testid: 'image-viewer', body: img, footer: open });
  dlg.dialog.classList.add('viewer');
}
