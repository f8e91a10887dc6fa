// Account and devices: the profile (display name, picture), desktop notifications, the
// sessions of this account (log one or all others out), the password.

import { h, clear, formatShort, avatar, formatSize } from '../dom.js';
import { limits } from '../limits.js';
import { notificationsSupported, notificationsOn, setNotifications } from './alerts.js';
import { api } from '../api.js';
import * as chat from '../chat.js';
import { toast } from '../toast.js';
import { openDialog } from './dialogs.js';
import { registrationProblems } from './auth.js';

const { state } = chat;

/** "Chrome on Linux" from a user agent, or the raw text when it is something else. */
export function deviceName(ua) {
  if (!ua) return 'Unknown device';
  const browser = /Edg\//.test(ua) ? 'Edge' : /Firefox\//.test(ua) ? 'Firefox' : /Chrom(e|ium)\//.test(ua) ? 'Chrome'
    : /Safari\//.test(ua) ? 'Safari' : null;
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Windows/.test(ua) ? 'Windows'
    : /Mac OS X/.test(ua) ? 'macOS' : /Linux/.test(ua) ? 'Linux' : null;
  if (browser && os) return `${browser} on ${os}`;
  return ua.length > 60 ? `${ua.slice(0, 60)}…` : ua;
}

export function accountDialog() {
  const list = h('ul.session-list', { testid: 'session-list' });
  const status = h('p.dialog-sub', { testid: 'sessions-status' }, 'Loading your devices…');
  const error = h('p.field-error', { testid: 'account-error', hidden: true, role: 'alert' });
  const endOthers = h('button.btn.secondary.small', { type: 'button', testid: 'logout-others', hidden: true }, 'Log out all other devices');

  const fail = (e) => {
    error.textContent = e.message;
    error.hidden = false;
  };

  async function loadSessions() {
    try {
      const data = await api.sessions();
      const sessions = data.sessions || [];
      clear(list);
      for (const s of sessions) {
        const end = s.current ? null : h('button.btn.link.danger', {
          type: 'button',
          testid: 'session-end',
          onclick: async () => {
            try {
              await api.endSession(s.id);
              toast('That device was logged out.', 'success');
              loadSessions();
            } catch (e) { fail(e); }
          },
        }, 'Log out');
        list.append(h('li.session', { testid: 'session-item', dataset: { sessionId: String(s.id), current: s.current ? 'true' : 'false' } },
          h('span.user-names',
            h('strong', deviceName(s.userAgent), s.current ? h('span.tag', 'this device') : null),
            h('span.handle', `Signed in ${formatShort(s.createdAt)} · last active ${formatShort(s.lastUsedAt)}`)),
          end));
      }
      const others = sessions.filter((s) => !s.current).length;
      status.textContent = others ? `You are signed in on ${sessions.length} devices.` : 'This is the only device signed in.';
      endOthers.hidden = !others;
    } catch (e) {
      status.textContent = '';
      fail(e);
    }
  }
  endOthers.addEventListener('click', async () => {
    try {
      const data = await api.endOtherSessions();
      toast(`${data.ended ?? 'All other'} device${data.ended === 1 ? ' was' : 's were'} logged out.`, 'success');
      loadSessions();
    } catch (e) { fail(e); }
  });

  // -------- password
  const current = h('input', { type: 'password', autocomplete: 'current-password', testid: 'password-current', 'aria-label': 'Current password' });
  const next = h('input', { type: 'password', autocomplete: 'new-password', testid: 'password-new', 'aria-label': 'New password' });
  const again = h('input', { type: 'password', autocomplete: 'new-password', testid: 'password-confirm', 'aria-label': 'Repeat the new password' });
  const pwError = h('p.field-error', { testid: 'password-error', hidden: true, role: 'alert' });
  const pwSave = h('button.btn.primary.small', { type: 'submit', testid: 'password-save' }, 'Change password');
  const pwForm = h('form.account-form', { testid: 'password-form', novalidate: true },
    h('label', 'Current password', current), h('label', 'New password', next), h('label', 'Repeat the new password', again),
    h('p.field-hint', 'Changing it logs out every other device.'), pwError, pwSave);
  pwForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    pwError.hidden = true;
    const problems = registrationProblems({ nickName: 'x', userName: 'abcdef', password: next.value, confirmPassword: again.value });
    const problem = !current.value ? 'Enter your current password.' : problems.password || problems.confirmPassword;
    if (problem) {
      pwError.textContent = problem;
      pwError.hidden = false;
      return;
    }
    pwSave.disabled = true;
    try {
      await api.changePassword(current.value, next.value, again.value);
      current.value = next.value = again.value = '';
      toast('Your password was changed. Other devices were logged out.', 'success');
      loadSessions();
    } catch (e) {
      pwError.textContent = e.status === 401 ? 'The current password is not right.' : e.message;
      pwError.hidden = false;
    } finally {
      pwSave.disabled = false;
    }
  });

  // -------- display name
  const nick = h('input', { type: 'text', maxlength: 50, value: state.me.nickName, testid: 'profile-nickname', 'aria-label': 'Display name' });
  const nickSave = h('button.btn.secondary.small', { type: 'submit', testid: 'profile-save' }, 'Save');
  const nickForm = h('form.account-form.inline', { testid: 'profile-form' }, h('label', 'Display name', nick), nickSave);
  nickForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const value = nick.value.trim();
    if (!value || value === state.me.nickName) return;
    const fd = new FormData();
    fd.append('nickName', value);
    try {
      const data = await api.updateMe(fd);
      chat.updateMe(data.user);
      toast('Your name was changed.', 'success');
    } catch (e) { fail(e); }
  });

  // -------- picture
  const photoSlot = h('span.photo-slot');
  const renderPhoto = () => {
    clear(photoSlot);
    photoSlot.append(avatar({ name: state.me.nickName, url: state.me.avatarUrl, key: state.me.id, size: 56, testid: 'profile-avatar' }));
  };
  renderPhoto();
  const photoInput = h('input.visually-hidden', { type: 'file', accept: 'image/png,image/jpeg,image/gif,image/webp', testid: 'profile-avatar-input', 'aria-label': 'Choose a new picture', tabindex: '-1' });
  const photoBtn = h('button.btn.secondary.small', { type: 'button', testid: 'profile-avatar-button', onclick: () => photoInput.click() }, 'Change picture');
  const photoError = h('p.field-error', { testid: 'profile-avatar-error', hidden: true, role: 'alert' });
  photoInput.addEventListener('change', async () => {
    const file = photoInput.files[0];
    photoInput.value = '';
    if (!file) return;
    photoError.hidden = true;
    // checked before the upload: the server would refuse it only after all of it arrived
    const problem = !/^image\/(png|jpeg|gif|webp)$/.test(file.type)
      ? 'A picture must be a PNG, JPEG, GIF or WebP image.'
      : file.size > limits.maxAvatarBytes ? `That picture is ${formatSize(file.size)}; the limit is ${formatSize(limits.maxAvatarBytes)}.` : '';
    if (problem) {
      photoError.textContent = problem;
      photoError.hidden = false;
      return;
    }
    const fd = new FormData();
    fd.append('avatar', file, file.name);
    photoBtn.disabled = true;
    try {
      const data = await api.updateMe(fd);
      chat.updateMe(data.user);
      renderPhoto();
      toast('Your picture was changed.', 'success');
    } catch (e) {
      photoError.textContent = e.message;
      photoError.hidden = false;
    } finally {
      photoBtn.disabled = false;
    }
  });
  const photoRow = h('div.profile-photo', photoSlot, photoBtn, photoInput);

  // -------- desktop notifications
  const notifyBox = h('input', { type: 'checkbox', testid: 'notifications-toggle' });
  notifyBox.checked = notificationsOn();
  const notifyHint = h('p.field-hint', { testid: 'notifications-hint' });
  const hint = (result) => {
    notifyHint.textContent = result === 'unsupported' ? 'This browser cannot show desktop notifications.'
      : result === 'denied' ? 'The browser blocks notifications for this site: allow them in its site settings.'
        : 'Shown while this tab is hidden, except for muted chats.';
  };
  hint(notificationsSupported() ? (typeof Notification !== 'undefined' && Notification.permission === 'denied' ? 'denied' : 'ok') : 'unsupported');
  notifyBox.disabled = !notificationsSupported();
  // the permission is asked here, from the click: browsers refuse it otherwise
  notifyBox.addEventListener('change', async () => {
    const result = await setNotifications(notifyBox.checked);
    notifyBox.checked = result === 'on';
    hint(result);
  });
  const notifyRow = h('label.toggle-row', notifyBox, 'Desktop notifications');

  openDialog({
    title: 'Account and devices',
    testid: 'account-dialog',
    body: [
      h('h3.dialog-section', 'Profile'), photoRow, photoError, nickForm,
      h('h3.dialog-section', 'Notifications'), notifyRow, notifyHint,
      h('h3.dialog-section', 'Devices'), status, list, endOthers,
      h('h3.dialog-section', 'Password'), pwForm,
      error,
    ],
  });
  loadSessions();
}
