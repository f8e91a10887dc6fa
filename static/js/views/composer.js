// The composer: text with drafts kept per thread, attachments checked before any upload, the
// reply being written, typing notices, and sending (Enter on a keyboard, the button on touch).

import { h, icon, clear, formatSize, codePoints } from '../dom.js';
import * as chat from '../chat.js';
import { limits, fileProblem } from '../limits.js';

const IMAGE_TYPES = /^image\/(png|jpeg|gif|webp)$/;
// Touch screens have no Shift+Enter: there Enter makes a new line and the button sends.
const touchQuery = window.matchMedia('(pointer: coarse)');

/** timeline: the message list (its scroll); onEditLast(): ArrowUp in an empty composer. */
export function composerView({ me, timeline, isNarrow, onEditLast }) {
  const drafts = chat.loadDrafts();
  // saved as typed: a forced re-login or a closed tab must not lose a word
  const persistDrafts = () => chat.saveDrafts(drafts);
  let threadId = null;
  let replyTo = null; // the message being answered

  const fileInput = h('input.visually-hidden', { type: 'file', multiple: true, testid: 'file-input', tabindex: '-1', 'aria-label': 'Attach files' });
  const attachBtn = h('button.icon-btn.attach', { type: 'button', title: 'Attach files', 'aria-label': 'Attach files', testid: 'attach-button', onclick: () => fileInput.click() }, icon('attach'));
  const textarea = h('textarea.composer-input', { rows: 1, placeholder: 'Write a message…', 'aria-label': 'Message', testid: 'composer-input', enterkeyhint: touchQuery.matches ? 'enter' : 'send' });
  const sendBtn = h('button.send-btn', { type: 'submit', title: 'Send', 'aria-label': 'Send', testid: 'send-button', disabled: true }, icon('send'));
  const attachmentsPreview = h('div.composer-attachments', { testid: 'composer-attachments', hidden: true });
  const composerError = h('p.composer-error', { testid: 'composer-error', hidden: true, role: 'alert' });
  const replyBar = h('div.reply-bar', { testid: 'reply-bar', hidden: true });
  const form = h('form.composer', { testid: 'composer' },
    replyBar,
    attachmentsPreview,
    composerError,
    h('div.composer-row', attachBtn, fileInput, textarea, sendBtn));

  function setReply(m) {
    replyTo = m;
    clear(replyBar);
    replyBar.hidden = !m;
    if (!m) return;
    const who = m.sender?.id === me.id ? 'yourself' : m.sender?.nickName || 'someone';
    replyBar.append(
      h('span.reply-bar-icon', icon('reply', 18)),
      h('span.reply-bar-text', h('strong', `Replying to ${who}`), h('span.reply-bar-quote', m.text || '📎 Attachment')),
      h('button.icon-btn.small', { type: 'button', 'aria-label': 'Cancel the reply', testid: 'reply-cancel', onclick: () => setReply(null) }, icon('close', 16)));
  }

  // ---------------------------------------------------------------- attachments
  let draftFiles = [];
  let draftPreviews = [];
  let fileError = '';

  function renderDraftFiles() {
    clear(attachmentsPreview);
    attachmentsPreview.hidden = !draftFiles.length;
    draftFiles.forEach((f, i) => {
      const thumb = draftPreviews[i]
        ? h('img', { src: draftPreviews[i], alt: '' })
        : h('span.att-icon', icon('file', 20));
      attachmentsPreview.append(h('div.draft-file', { testid: 'draft-file' },
        thumb,
        h('span.draft-name', f.name),
        h('span.draft-size', formatSize(f.size)),
        h('button.icon-btn.small', { type: 'button', 'aria-label': `Remove ${f.name}`, onclick: () => removeDraftFile(i) }, icon('close', 16))));
    });
    updateSendState();
  }

  function addFiles(files) {
    const list = [...files];
    if (!list.length) return;
    const problems = [];
    if (draftFiles.length + list.length > limits.maxAttachments) {
      problems.push(`You can attach at most ${limits.maxAttachments} files to one message.`);
      list.splice(Math.max(0, limits.maxAttachments - draftFiles.length));
    }
    // Checked here, before anything is uploaded: the server would only refuse it after the whole upload.
    for (const f of [...list]) {
      const problem = fileProblem(f);
      if (problem) {
        problems.push(problem);
        list.splice(list.indexOf(f), 1);
      }
    }
    fileError = problems.join(' ');
    for (const f of list) {
      draftFiles.push(f);
      draftPreviews.push(IMAGE_TYPES.test(f.type) ? URL.createObjectURL(f) : null);
    }
    renderDraftFiles();
    textarea.focus();
  }

  function removeDraftFile(i) {
    if (draftPreviews[i]) URL.revokeObjectURL(draftPreviews[i]);
    draftFiles.splice(i, 1);
    draftPreviews.splice(i, 1);
    renderDraftFiles();
  }

  function clearDraftFiles(revoke = true) {
    if (revoke) for (const u of draftPreviews) if (u) URL.revokeObjectURL(u);
    draftFiles = [];
    draftPreviews = [];
    renderDraftFiles();
  }

  // ---------------------------------------------------------------- text
  function updateSendState() {
    const text = textarea.value;
    const n = codePoints(text);
    const tooLong = n > limits.maxTextChars;
    const problem = tooLong ? `Message is too long: ${n} of ${limits.maxTextChars} characters.` : fileError;
    composerError.hidden = !problem;
    composerError.textContent = problem;
    sendBtn.disabled = tooLong || (!text.trim() && !draftFiles.length);
  }

  function autoGrow() {
    const stick = timeline.atBottom;
    textarea.style.height = 'auto';
    textarea.style.height = `${Math.min(textarea.scrollHeight, isNarrow() ? 120 : 160)}px`;
    if (stick) timeline.scrollToBottom();
  }

  fileInput.addEventListener('change', () => {
    addFiles(fileInput.files);
    fileInput.value = '';
  });
  textarea.addEventListener('input', () => {
    autoGrow();
    updateSendState();
    if (fileError) {
      fileError = '';
      updateSendState();
    }
    if (threadId !== null) {
      drafts.set(threadId, textarea.value);
      persistDrafts();
      if (textarea.value.trim()) chat.userTyping(threadId);
      else chat.stopTyping(threadId);
    }
  });
  textarea.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && replyTo) {
      setReply(null);
      return;
    }
    if (ev.key === 'ArrowUp' && !textarea.value) {
      // like Slack: edit your last message
      if (onEditLast()) ev.preventDefault();
      return;
    }
    if (ev.key !== 'Enter' || ev.shiftKey || ev.isComposing || ev.altKey || ev.metaKey) return;
    if (touchQuery.matches && !ev.ctrlKey) return; // a new line; the button sends
    ev.preventDefault();
    form.requestSubmit();
  });
  textarea.addEventListener('paste', (ev) => {
    const files = [...(ev.clipboardData?.files || [])];
    if (files.length) {
      ev.preventDefault();
      addFiles(files);
    }
  });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (threadId === null || sendBtn.disabled) return;
    const text = textarea.value;
    const body = text.trim() ? text : '';
    if (!body && !draftFiles.length) return;
    // after a jump into the past, what is sent shows in the present
    if (chat.state.threads.get(threadId)?.hasMoreNewer) chat.backToPresent(threadId);
    chat.sendMessage(threadId, body, draftFiles, replyTo);
    // the outbox owns the previews now
    clearDraftFiles(false);
    setReply(null);
    textarea.value = '';
    drafts.delete(threadId);
    persistDrafts();
    autoGrow();
    updateSendState();
    timeline.scrollToBottom();
    textarea.focus();
  });

  return {
    el: form,
    textarea,
    addFiles,
    setReply,
    get replyTo() { return replyTo; },
    /** Shows the draft of another thread (or of none). */
    open(id) {
      if (threadId !== null && threadId !== id) chat.stopTyping(threadId);
      threadId = id;
      setReply(null);
      if (id === null) return;
      textarea.value = drafts.get(id) || '';
      clearDraftFiles();
      autoGrow();
      updateSendState();
    },
    focus: (opts) => textarea.focus(opts),
    destroy: () => clearDraftFiles(),
  };
}
