// What the server accepts, checked before anything is uploaded, and its refusals in plain words.

import { formatSize } from './dom.js';
import { api } from './api.js';

const KEY = 'chat.limits';
const DEFAULTS = { maxAttachmentBytes: 10 * 1024 * 1024, maxAvatarBytes: 2 * 1024 * 1024, maxAttachments: 10, maxTextChars: 4000 };

export const limits = { ...DEFAULTS };
try {
  Object.assign(limits, JSON.parse(localStorage.getItem(KEY) || '{}'));
} catch {
  /* defaults */
}

function remember(patch) {
  Object.assign(limits, patch);
  try {
    localStorage.setItem(KEY, JSON.stringify(limits));
  } catch {
    /* memory only */
  }
}

/** The server's configured limits, when it tells them (`/healthz` `limits`). */
export async function loadLimits() {
  try {
    const data = await api.health();
    const l = data && data.limits;
    if (l && typeof l === 'object') {
      const patch = {};
      for (const k of Object.keys(DEFAULTS)) if (Number.isFinite(l[k]) && l[k] > 0) patch[k] = l[k];
      remember(patch);
    }
  } catch {
    /* the defaults, or what we learnt before */
  }
}

/** Size in words: "10 MB", never a count of bytes. */
export function sizeWords(bytes) {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / 1024 / 1024} MB`;
  return formatSize(bytes);
}

/** Why this file cannot be attached, or null. */
export function fileProblem(file, max = limits.maxAttachmentBytes) {
  if (file.size > max) return `“${file.name}” is ${formatSize(file.size)}: files can be at most ${sizeWords(max)}.`;
  if (file.size === 0) return `“${file.name}” is empty.`;
  return null;
}

const PERMANENT = new Set(['VALIDATION', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'FORBIDDEN', 'NOT_MEMBER', 'NOT_FOUND']);

/** A refusal that sending again cannot change. */
export function isPermanent(e) {
  return !!e && PERMANENT.has(e.code);
}

/** The error as a person should read it; learns the size limit from a 413. */
export function plainError(e, files = []) {
  const text = String(e?.message || 'Something went wrong.');
  const bytes = /at most (\d+) bytes/.exec(text);
  if (e?.code === 'PAYLOAD_TOO_LARGE' || bytes) {
    if (bytes) remember({ maxAttachmentBytes: Number(bytes[1]) });
    const max = bytes ? ` Files can be at most ${sizeWords(Number(bytes[1]))}.` : '';
    const big = files.length === 1 ? `“${files[0].name}” is too large.` : 'A file is too large.';
    return big + max;
  }
  if (e?.code === 'NOT_MEMBER' || e?.code === 'FORBIDDEN') return 'You are no longer a member of this chat.';
  if (e?.code === 'UNSUPPORTED_MEDIA_TYPE') return 'This kind of file cannot be sent.';
  return text;
}
