// Messages not yet acknowledged: queued in the order written, sent one at a time (text over
// the socket, files over HTTP), retried or discarded when they fail.

import { api, ApiError } from '../api.js';
import { ConnectionLost, ServerError } from '../socket.js';
import { randomId } from '../dom.js';
import { plainError, isPermanent } from '../limits.js';
import { state, rt, emit, notify, persistOutbox, loadJson } from './core.js';
import { ingest } from './messages.js';
import { stopTyping } from './typing.js';

let seq = 0;

export function sendMessage(threadId, text, files = [], replyTo = null) {
  const p = {
    clientMsgId: randomId(),
    threadId,
    text,
    files,
    replyTo: replyTo ? { id: replyTo.id, sender: replyTo.sender, text: replyTo.text, deleted: false } : null,
    previews: files.map((f) => (/^image\/(png|jpeg|gif|webp)$/.test(f.type) ? URL.createObjectURL(f) : null)),
    createdAt: new Date().toISOString(),
    status: 'queued',
    error: null,
    progress: null,
    seq: seq++,
    inFlight: false,
  };
  state.outbox.set(p.clientMsgId, p);
  persistOutbox();
  emit('messages', { threadId, own: true });
  stopTyping(threadId);
  pump();
}

/** The text messages a reload left unsent, back in the queue (files do not survive a reload). */
export function restoreOutbox() {
  for (const saved of loadJson('outbox', [])) {
    if (!saved || !saved.clientMsgId) continue;
    state.outbox.set(saved.clientMsgId, {
      ...saved, files: [], previews: [], status: 'queued', error: null, progress: null, seq: seq++, inFlight: false,
    });
  }
}

export function retryPending(clientMsgId) {
  const p = state.outbox.get(clientMsgId);
  if (!p) return;
  p.status = 'queued';
  p.error = null;
  emit('messages', { threadId: p.threadId });
  pump();
}

export function discardPending(clientMsgId) {
  const p = state.outbox.get(clientMsgId);
  if (!p) return;
  for (const url of p.previews || []) if (url) URL.revokeObjectURL(url);
  state.outbox.delete(clientMsgId);
  persistOutbox();
  emit('messages', { threadId: p.threadId });
}

let pumping = false;
/**
 * Sends queued messages one at a time, strictly in the order they were written: text goes over
 * the socket, files over HTTP, and a file never overtakes text that waits for the connection.
 */
export async function pump() {
  if (pumping) return;
  pumping = true;
  try {
    for (;;) {
      const next = [...state.outbox.values()]
        .filter((p) => p.status !== 'failed')
        .sort((a, b) => a.seq - b.seq)[0];
      if (!next || next.status !== 'queued') break;
      if (!next.files.length && !rt.connection?.isOpen) break;
      const ok = await deliver(next);
      if (!ok) break;
    }
  } finally {
    pumping = false;
  }
}

async function deliver(p) {
  p.status = 'sending';
  emit('messages', { threadId: p.threadId });
  try {
    if (p.files.length) {
      const form = new FormData();
      if (p.text) form.append('text', p.text);
      form.append('clientMsgId', p.clientMsgId);
      if (p.replyTo) form.append('replyTo', String(p.replyTo.id));
      for (const f of p.files) form.append('attachments', f, f.name);
      const data = await api.postMessage(p.threadId, form, (fraction) => {
        p.progress = fraction;
        emit('messages', { threadId: p.threadId });
      });
      ingest(data.message);
    } else {
      const frame = { type: 'send', threadId: p.threadId, text: p.text, clientMsgId: p.clientMsgId };
      if (p.replyTo) frame.replyTo = p.replyTo.id;
      const ack = await rt.connection.request(frame);
      ingest(ack.message);
    }
    return true;
  } catch (e) {
    if (!state.outbox.has(p.clientMsgId)) return true; // delivered meanwhile (e.g. by sync)
    if (e instanceof ConnectionLost || (e instanceof ApiError && e.isNetwork)) {
      // Not lost: it goes out again (same clientMsgId, so never twice) once we are back.
      p.status = 'queued';
      p.progress = null;
      emit('messages', { threadId: p.threadId });
      if (rt.connection?.isOpen) setTimeout(pump, 2000); // no answer in time on a live socket
      return false;
    }
    if ((e instanceof ServerError || e instanceof ApiError) && e.code === 'RATE_LIMITED') {
      p.status = 'queued';
      emit('messages', { threadId: p.threadId });
      setTimeout(pump, ((e.retryAfter || 1) * 1000));
      notify('You are sending messages too fast; waiting a moment.', 'info');
      return false;
    }
    p.status = 'failed';
    p.error = plainError(e, p.files);
    p.retryable = !isPermanent(e);
    p.progress = null;
    persistOutbox();
    emit('messages', { threadId: p.threadId });
    emit('threads');
    return true;
  }
}
