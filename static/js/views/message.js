// One message of the timeline: its bubble (quote, attachments, text, time, "edited"), its
// reactions, its hover/long-press actions, or its tombstone. Built from text nodes only.

import { h, icon, avatar, formatTime, formatSize } from '../dom.js';
import { renderRich } from '../markdown.js';

const IMAGE_TYPES = /^image\/(png|jpeg|gif|webp)$/;
const THUMB_MAX_W = 280;
const THUMB_MAX_H = 300;

/** The box an image takes before it loads, from the attachment's width/height (no layout jump). */
export function thumbBox(a) {
  if (!(a.width > 0 && a.height > 0)) return null;
  const scale = Math.min(1, THUMB_MAX_W / a.width, THUMB_MAX_H / a.height);
  return { width: Math.max(1, Math.round(a.width * scale)), height: Math.max(1, Math.round(a.height * scale)) };
}

function attachmentNodes(attachments, previews, ctx) {
  if (!attachments.length) return null;
  return h('div.attachments', attachments.map((a, i) => {
    const isImage = IMAGE_TYPES.test(a.contentType || '');
    const src = a.thumbUrl || a.url || previews[i];
    if (isImage && src) {
      const box = thumbBox(a);
      const img = h('img.att-image', {
        src,
        alt: a.name || 'image',
        testid: 'attachment-image',
        decoding: 'async',
        width: box?.width,
        height: box?.height,
        style: box ? `aspect-ratio:${box.width}/${box.height}` : null,
        dataset: box ? { reserved: 'true' } : null,
      });
      img.addEventListener('load', () => ctx.onImageLoad());
      img.addEventListener('error', () => {
        img.replaceWith(h('span.att-broken', `Image “${a.name}” could not be loaded.`));
      }, { once: true });
      if (!a.url) return h('span.att-image-link', img);
      const link = h('a.att-image-link', { href: a.url, title: `${a.name} — open`, testid: 'attachment-image-link' }, img);
      link.addEventListener('click', (ev) => {
        if (ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
        ev.preventDefault();
        ctx.onImage(a);
      });
      return link;
    }
    const body = [h('span.att-icon', icon('file', 22)), h('span.att-info', h('span.att-name', a.name || 'file'), h('span.att-size', formatSize(a.size)))];
    return a.url
      ? h('a.att-file', { href: a.url, download: a.name || '', testid: 'attachment-file', rel: 'noopener' }, body)
      : h('span.att-file', { testid: 'attachment-file-pending' }, body);
  }));
}

function quoteNode(reply, ctx) {
  const who = reply.sender?.id === ctx.me.id ? 'You' : reply.sender?.nickName || 'Someone';
  return h('button.msg-quote', {
    type: 'button',
    testid: 'reply-quote',
    dataset: { replyTo: String(reply.id) },
    title: 'Show the original message',
    onclick: () => ctx.onJump(reply.id),
  },
  h('span.quote-who', who),
  h('span.quote-text', reply.deleted ? 'Message deleted' : (reply.text || '📎 Attachment')));
}

function reactionsNode(m, ctx) {
  if (!m.reactions?.length) return null;
  return h('div.reactions', { testid: 'reactions' }, m.reactions.map((r) => {
    const mine = r.userIds.includes(ctx.me.id);
    const who = r.userIds.map((id) => (id === ctx.me.id ? 'You' : ctx.memberName(id))).join(', ');
    return h('button.reaction', {
      type: 'button',
      testid: 'reaction',
      class: mine ? 'mine' : '',
      dataset: { emoji: r.emoji, count: String(r.count) },
      'aria-pressed': mine ? 'true' : 'false',
      title: `${who} reacted with ${r.emoji}`,
      'aria-label': `${r.emoji} ${r.count}: ${who}`,
      onclick: () => ctx.onReact(m, r.emoji, !mine),
    }, h('span.reaction-emoji', r.emoji), h('span.reaction-count', String(r.count)));
  }));
}

function actionButton(name, label, iconName, onclick) {
  return h('button.msg-action', { type: 'button', testid: `action-${name}`, title: label, 'aria-label': label, onclick }, icon(iconName, 18));
}

function actionsNode(m, ctx, mine) {
  const canDelete = mine || ctx.isOwner;
  return h('div.msg-actions', { testid: 'message-actions', role: 'toolbar', 'aria-label': 'Message actions' },
    actionButton('react', 'Add a reaction', 'smile', (ev) => ctx.onPicker(m, ev.currentTarget)),
    actionButton('reply', 'Reply', 'reply', () => ctx.onReply(m)),
    mine && m.text !== null ? actionButton('edit', 'Edit', 'edit', () => ctx.onEdit(m)) : null,
    m.text ? actionButton('copy', 'Copy text', 'copy', () => ctx.onCopy(m)) : null,
    canDelete ? actionButton('delete', 'Delete', 'trash', () => ctx.onDelete(m)) : null);
}

function editForm(m, ctx) {
  const input = h('textarea.edit-input', { testid: 'edit-input', rows: 2, 'aria-label': 'Edit message' });
  input.value = m.text || '';
  const save = () => {
    const text = input.value;
    if (!text.trim()) return;
    ctx.onSaveEdit(m, text);
  };
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') {
      ev.preventDefault();
      ctx.onCancelEdit();
    } else if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && !ctx.touch) {
      ev.preventDefault();
      save();
    }
  });
  setTimeout(() => {
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
  }, 0);
  return h('div.edit-form', { testid: 'edit-form' },
    input,
    h('div.edit-buttons',
      h('span.edit-hint', ctx.touch ? '' : 'Enter to save · Esc to cancel'),
      h('button.btn.small', { type: 'button', testid: 'edit-cancel', onclick: () => ctx.onCancelEdit() }, 'Cancel'),
      h('button.btn.small.primary', { type: 'button', testid: 'edit-save', onclick: save }, 'Save')));
}

function pendingStatus(m, ctx) {
  if (m.status === 'failed') return 'Not sent';
  if (m.status === 'sending' && m.progress !== null && m.progress !== undefined && m.files.length) return `Uploading ${Math.round(m.progress * 100)}%`;
  if (!ctx.online && !m.files.length) return 'Waiting for connection…';
  return 'Sending…';
}

/** A signature of everything the node shows, to reuse the node while nothing changed. */
export function messageSig(m, t, pos, ctx) {
  return JSON.stringify([m.id, m.seq ?? null, m.text, m.editedAt, m.deleted, m.reactions, m.replyTo,
    m.pending ? [m.status, m.error, m.retryable, m.progress && Math.round(m.progress * 20), ctx.online] : 0,
    pos.first, m.sender?.avatarUrl, m.sender?.nickName, ctx.isOwner, ctx.editingId !== null && ctx.editingId === m.id]);
}

export function messageNode(m, t, pos, ctx) {
  const mine = m.sender?.id === ctx.me.id;
  const pending = m.pending;
  const deleted = !!m.deleted;
  const time = h('time.msg-time', { testid: 'message-time', datetime: m.createdAt, title: new Date(m.createdAt).toLocaleString() }, formatTime(m.createdAt));
  const meta = h('span.msg-meta');
  if (m.editedAt && !deleted) {
    meta.prepend(h('span.msg-edited', { testid: 'edited-mark', title: `Edited ${new Date(m.editedAt).toLocaleString()}` }, 'edited'));
  }
  if (pending) meta.append(h('span.msg-status', { testid: 'message-status' }, pendingStatus(m, ctx)));

  let content;
  if (deleted) {
    content = [h('div.msg-deleted', { testid: 'message-deleted' }, icon('trash', 14), 'Message deleted')];
  } else if (ctx.editingId !== null && ctx.editingId === m.id) {
    content = [editForm(m, ctx)];
  } else {
    const attachments = pending
      ? m.files.map((f) => ({ name: f.name, size: f.size, contentType: f.type }))
      : (m.attachments || []);
    content = [
      m.replyTo ? quoteNode(m.replyTo, ctx) : null,
      attachmentNodes(attachments, m.previews || [], ctx),
      m.text ? h('div.msg-text', { testid: 'message-text' }, renderRich(m.text)) : null,
      meta.childNodes.length ? meta : null,
    ];
  }
  const bubble = h('div.bubble', content);
  const failed = pending && m.status === 'failed'
    ? h('div.msg-failed', { testid: 'message-failed', role: 'alert' },
      h('span', m.error || 'Not sent.'),
      m.retryable !== false
        ? h('button.btn.link', { type: 'button', testid: 'message-retry', onclick: () => ctx.onRetry(m) }, 'Retry')
        : null,
      h('button.btn.link', { type: 'button', testid: 'message-discard', onclick: () => ctx.onDiscard(m) }, m.retryable === false ? 'Dismiss' : 'Delete'))
    : null;
  // Slack/Discord style: the first message of a run carries the header (avatar, name, time);
  // the ones after it show their time in the gutter on hover.
  const header = pos.first
    ? h('div.msg-header', { testid: 'message-header' },
      h('span.msg-sender', { testid: 'message-sender' }, m.sender?.nickName || (mine ? 'You' : 'Someone')),
      time)
    : null;
  const gutter = pos.first
    ? h('div.msg-gutter', avatar({ name: m.sender?.nickName, url: m.sender?.avatarThumbUrl || m.sender?.avatarUrl, key: m.sender?.id, size: 36 }))
    : h('div.msg-gutter', time);
  const body = h('div.msg-body',
    header,
    h('div.bubble-row', bubble, !pending && !deleted && ctx.editingId !== m.id ? actionsNode(m, ctx, mine) : null),
    deleted ? null : reactionsNode(m, ctx),
    failed);
  const el = h('div.msg', {
    testid: 'message',
    class: [mine ? 'own' : 'other', pos.first ? 'first' : 'cont', pending ? `pending ${m.status}` : '', deleted ? 'deleted' : ''].filter(Boolean).join(' '),
    dataset: pending
      ? { clientMsgId: m.clientMsgId, pending: 'true', senderId: String(ctx.me.id) }
      : { messageId: String(m.id), senderId: String(m.sender?.id), deleted: deleted ? 'true' : 'false' },
  },
  gutter,
  body);
  if (!pending && !deleted) {
    // Touch screens: a long press shows the actions (there is no hover).
    let timer = null;
    el.addEventListener('touchstart', () => {
      timer = setTimeout(() => ctx.onLongPress(el), 450);
    }, { passive: true });
    for (const name of ['touchend', 'touchmove', 'touchcancel']) el.addEventListener(name, () => clearTimeout(timer), { passive: true });
    el.addEventListener('contextmenu', (ev) => {
      if (!ctx.touch) return;
      ev.preventDefault();
      ctx.onLongPress(el);
    });
  }
  return el;
}

export function systemLineNode(line) {
  return h('div.system-line', { testid: 'system-line', role: 'note' }, h('span', line.text));
}
