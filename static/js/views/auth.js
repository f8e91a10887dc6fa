// Login and registration screens.

import { h, icon, clear } from '../dom.js';
import { api, ApiError } from '../api.js';

const FIELD_ORDER = ['confirmPassword', 'nickName', 'userName', 'password', 'avatar'];

/** Which form field a server message is about: it starts with the field's name. */
export function fieldOfMessage(message, code) {
  if (code === 'USERNAME_TAKEN') return 'userName';
  if (code === 'UNSUPPORTED_MEDIA_TYPE' || code === 'PAYLOAD_TOO_LARGE') return 'avatar';
  const text = String(message || '');
  for (const field of FIELD_ORDER) {
    if (text.startsWith(field) || text.toLowerCase().startsWith(field.toLowerCase())) return field;
  }
  if (/^user ?name/i.test(text)) return 'userName';
  if (/^nick ?name/i.test(text)) return 'nickName';
  if (/avatar|image/i.test(text)) return 'avatar';
  return null;
}

function field({ name, label, type = 'text', testid, autocomplete, hint, extra = {} }) {
  const id = `f-${testid}`;
  const input = h('input', { id, name, type, autocomplete, testid, 'aria-describedby': `${id}-err`, ...extra });
  const error = h('p.field-error', { id: `${id}-err`, testid: `error-${name}`, 'aria-live': 'polite', hidden: true });
  const wrap = h('div.field', { dataset: { field: name } },
    h('label', { for: id }, label),
    input,
    hint ? h('p.field-hint', hint) : null,
    error);
  return { wrap, input, error };
}

function setFieldError(fields, name, message) {
  const f = fields[name];
  if (!f) return false;
  f.error.textContent = message;
  f.error.hidden = !message;
  f.wrap.classList.toggle('invalid', !!message);
  if (message) f.input.setAttribute('aria-invalid', 'true');
  else f.input.removeAttribute('aria-invalid');
  return true;
}

function brand() {
  return h('div.brand', h('span.brand-mark', icon('chat', 28)), h('span.brand-name', 'Chat'));
}

function showFormError(el, message) {
  el.textContent = message || '';
  el.hidden = !message;
}

function busy(button, on, label) {
  button.disabled = on;
  if (on) {
    button.dataset.label = button.textContent;
    button.textContent = label;
  } else if (button.dataset.label) {
    button.textContent = button.dataset.label;
  }
}

export function loginView({ onLoggedIn, notice }) {
  const fields = {
    userName: field({ name: 'userName', label: 'User name', testid: 'login-username', autocomplete: 'username', extra: { required: true, autocapitalize: 'off', spellcheck: 'false' } }),
    password: field({ name: 'password', label: 'Password', type: 'password', testid: 'login-password', autocomplete: 'current-password', extra: { required: true } }),
  };
  const formError = h('p.form-error', { testid: 'login-error', role: 'alert', hidden: true });
  const submit = h('button.btn.primary.wide', { type: 'submit', testid: 'login-submit' }, 'Log in');
  const form = h('form.auth-form', { testid: 'login-form', novalidate: true },
    formError,
    fields.userName.wrap,
    fields.password.wrap,
    submit);
  if (notice) showFormError(formError, notice);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    for (const name of Object.keys(fields)) setFieldError(fields, name, '');
    showFormError(formError, '');
    const userName = fields.userName.input.value.trim();
    const password = fields.password.input.value;
    let missing = false;
    if (!userName) missing = setFieldError(fields, 'userName', 'Enter your user name.');
    if (!password) missing = setFieldError(fields, 'password', 'Enter your password.') || missing;
    if (missing) return;
    busy(submit, true, 'Logging in…');
    try {
      const data = await api.login(userName, password);
      onLoggedIn(data.accessToken, data.user);
    } catch (e) {
      const target = e instanceof ApiError && e.status === 400 ? fieldOfMessage(e.message, e.code) : null;
      if (!target || !setFieldError(fields, target, e.message)) showFormError(formError, e.message);
      (target ? fields[target].input : fields.password.input).focus();
    } finally {
      busy(submit, false);
    }
  });

  const el = h('div.auth-screen', { testid: 'login-screen' },
    h('div.auth-card',
      brand(),
      h('h1', 'Welcome back'),
      h('p.auth-sub', 'Log in to continue your conversations.'),
      form,
      h('p.auth-switch', 'New here? ', h('a', { href: '#/register', testid: 'goto-register' }, 'Create an account'))));
  setTimeout(() => fields.userName.input.focus(), 0);
  return el;
}

export function registerView({ onLoggedIn }) {
  const fields = {
    nickName: field({ name: 'nickName', label: 'Display name', testid: 'register-nickname', autocomplete: 'nickname', hint: 'How others see you, e.g. “Alice Martin”.', extra: { maxlength: 200 } }),
    userName: field({ name: 'userName', label: 'User name', testid: 'register-username', autocomplete: 'username', hint: '6–30 characters: a letter first, then letters, digits or _.', extra: { autocapitalize: 'off', spellcheck: 'false' } }),
    password: field({ name: 'password', label: 'Password', type: 'password', testid: 'register-password', autocomplete: 'new-password', hint: 'At least 8 characters with a lowercase letter, an uppercase letter and a digit.' }),
    confirmPassword: field({ name: 'confirmPassword', label: 'Repeat password', type: 'password', testid: 'register-confirm', autocomplete: 'new-password' }),
  };

  // Avatar picker with a preview.
  let avatarFile = null;
  let previewUrl = null;
  const avatarInput = h('input.visually-hidden', { id: 'f-register-avatar', type: 'file', name: 'avatar', accept: 'image/png,image/jpeg,image/gif,image/webp', testid: 'register-avatar' });
  const preview = h('div.avatar-preview', { testid: 'register-avatar-preview-box' }, icon('group', 34));
  const avatarName = h('span.avatar-file-name', 'No picture chosen (optional)');
  const removeAvatar = h('button.btn.link', { type: 'button', hidden: true, testid: 'register-avatar-remove' }, 'Remove');
  const avatarError = h('p.field-error', { testid: 'error-avatar', hidden: true });
  const avatarWrap = h('div.field.avatar-field', { dataset: { field: 'avatar' } },
    h('span.label', 'Profile picture'),
    h('div.avatar-picker',
      preview,
      h('div.avatar-actions',
        h('label.btn.secondary', { for: 'f-register-avatar', testid: 'register-avatar-button' }, 'Choose picture…'),
        avatarName,
        removeAvatar)),
    avatarInput,
    avatarError);
  fields.avatar = { wrap: avatarWrap, input: avatarInput, error: avatarError };

  function setAvatar(file) {
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = null;
    avatarFile = file || null;
    clear(preview);
    setFieldError(fields, 'avatar', '');
    if (!file) {
      preview.append(icon('group', 34));
      avatarName.textContent = 'No picture chosen (optional)';
      removeAvatar.hidden = true;
      avatarInput.value = '';
      return;
    }
    avatarName.textContent = file.name;
    removeAvatar.hidden = false;
    if (!/^image\//.test(file.type)) {
      setFieldError(fields, 'avatar', 'Choose a PNG, JPEG, GIF or WebP picture.');
    }
    previewUrl = URL.createObjectURL(file);
    const img = h('img', { src: previewUrl, alt: 'Preview of your picture', testid: 'register-avatar-preview' });
    img.addEventListener('error', () => {
      img.remove();
      preview.append(icon('file', 34));
      setFieldError(fields, 'avatar', 'This file is not a picture the browser can show (PNG, JPEG, GIF or WebP).');
    }, { once: true });
    preview.append(img);
  }
  avatarInput.addEventListener('change', () => setAvatar(avatarInput.files[0]));
  removeAvatar.addEventListener('click', () => setAvatar(null));

  const formError = h('p.form-error', { testid: 'register-error', role: 'alert', hidden: true });
  const submit = h('button.btn.primary.wide', { type: 'submit', testid: 'register-submit' }, 'Create account');
  const form = h('form.auth-form', { testid: 'register-form', novalidate: true },
    formError,
    avatarWrap,
    fields.nickName.wrap,
    fields.userName.wrap,
    fields.password.wrap,
    fields.confirmPassword.wrap,
    submit);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    for (const name of Object.keys(fields)) setFieldError(fields, name, '');
    showFormError(formError, '');
    const fd = new FormData();
    fd.append('nickName', fields.nickName.input.value);
    fd.append('userName', fields.userName.input.value.trim());
    fd.append('password', fields.password.input.value);
    fd.append('confirmPassword', fields.confirmPassword.input.value);
    if (avatarFile) fd.append('avatar', avatarFile, avatarFile.name);
    busy(submit, true, 'Creating account…');
    try {
      const data = await api.register(fd);
      if (previewUrl) URL.revokeObjectURL(previewUrl);
      onLoggedIn(data.accessToken, data.user);
    } catch (e) {
      const target = e instanceof ApiError ? fieldOfMessage(e.message, e.code) : null;
      if (target && setFieldError(fields, target, e.message)) {
        (fields[target].input.type === 'file' ? fields[target].wrap.querySelector('label.btn') : fields[target].input)?.focus();
      } else {
        showFormError(formError, e.message);
      }
    } finally {
      busy(submit, false);
    }
  });

  const el = h('div.auth-screen', { testid: 'register-screen' },
    h('div.auth-card',
      brand(),
      h('h1', 'Create your account'),
      h('p.auth-sub', 'It takes a few seconds.'),
      form,
      h('p.auth-switch', 'Already have an account? ', h('a', { href: '#/login', testid: 'goto-login' }, 'Log in'))));
  setTimeout(() => fields.nickName.input.focus(), 0);
  return el;
}
