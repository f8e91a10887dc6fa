// What a message of the open thread can do (react, reply, edit, delete, copy, retry), as the
// context object message.js builds its nodes with; the edit in progress lives here.

import { codePoints } from '../dom.js';
import * as chat from '../chat.js';
import { toast } from '../toast.js';
import { limits } from '../limits.js';
import { confirmDialog, imageViewer } from './dialogs.js';
import { emojiPicker } from './reactions.js';

const { state } = chat;
const touchQuery = window.matchMedia('(pointer: coarse)');

/**
 * view: { currentThread(), rerender(), jumpTo(id), startReply(m), replyingTo(), cancelReply(),
 * focusComposer(), onImageLoad(), items } — filled in by the views that own those parts.
 */
export function messageActions(me, view) {
  let editingId = null;

  const ctx = {
    me,
    get touch() { return touchQuery.matches; },
    get online() { return state.conn.state === 'online'; },
    get isOwner() { const t = view.currentThread(); return !!t && t.isGroup && t.ownerId === me.id; },
    get editingId() { return editingId; },
    memberName: (id) => view.currentThread()?.members.find((u) => u.id === id)?.nickName || 'someone',
    onImageLoad: () => view.onImageLoad(),
    onImage: (a) => imageViewer(a),
    onJump: (id) => view.jumpTo(id),
    onReply: (m) => view.startReply(m),
    onReact: (m, emoji, on) => chat.react(m, emoji, on).catch((e) => toast(`Could not react: ${e.message}`, 'error')),
    onPicker: (m, anchorEl) => emojiPicker({
      anchor: anchorEl,
      mine: new Set((m.reactions || []).filter((r) => r.userIds.includes(me.id)).map((r) => r.emoji)),
      onPick: (emoji, on) => ctx.onReact(m, emoji, on),
    }),
    onEdit: (m) => {
      editingId = m.id;
      view.rerender();
    },
    onCancelEdit: () => {
      editingId = null;
      view.rerender();
      view.focusComposer();
    },
    onSaveEdit: async (m, text) => {
      if (codePoints(text) > limits.maxTextChars) {
        toast(`A message can have at most ${limits.maxTextChars} characters.`, 'error');
        return;
      }
      editingId = null;
      view.rerender();
      if (text === m.text) return;
      try {
        await chat.editMessage(m, text);
      } catch (e) {
        toast(`Could not edit the message: ${e.message}`, 'error');
      }
    },
    onDelete: async (m) => {
      const ok = await confirmDialog({
        title: 'Delete message?',
        text: m.sender?.id === me.id ? 'Everyone in this chat will see “Message deleted” instead.' : `This deletes ${m.sender?.nickName}’s message for everyone.`,
        confirm: 'Delete',
        danger: true,
      });
      if (!ok) return;
      try {
        await chat.deleteMessage(m);
        if (view.replyingTo()?.id === m.id) view.cancelReply();
      } catch (e) {
        toast(`Could not delete the message: ${e.message}`, 'error');
      }
    },
    onCopy: async (m) => {
      try {
        await navigator.clipboard.writeText(m.text || '');
        toast('Copied.', 'success', { timeout: 1500 });
      } catch {
        toast('Copying is not allowed here: select the text instead.', 'error');
      }
    },
    onLongPress: (el) => {
      for (const other of view.items().querySelectorAll('.msg.show-actions')) if (other !== el) other.classList.remove('show-actions');
      el.classList.toggle('show-actions');
    },
    onRetry: (m) => chat.retryPending(m.clientMsgId),
    onDiscard: (m) => chat.discardPending(m.clientMsgId),
  };

  return {
    ctx,
    /** Ends an edit (another thread opened, the message deleted meanwhile). */
    stopEditing() {
      editingId = null;
    },
  };
}
