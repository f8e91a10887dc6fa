// Login and registration screens.

import { h, icon, clear, formatSize } from '../dom.js';
import { api, ApiError } from '../api.js';
import { limits, sizeWords } from '../limits.js';

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

/** Every problem of the registration form at once, in plain words (the server's rules). */
export function registrationProblems({ nickName, userName, password, confirmPassword, avatar }) {
  const out = {};
  const nick = nickName.trim();
  if (!nick) out.nickName = 'Enter the name others will see.';
  else if (Array.from(nick).length > 50) out.nickName = 'Keep the display name to 50 characters or fewer.';
  else if (/[\u0000-\u001f\u007f\u202a-\u202e\u2066-\u2069]/.test(nickName)) out.nickName = 'The display name cannot contain special control characters.';
  if (!userName) out.userName = 'Choose a user name.';
  else if (userName.length < 6 || userName.length > 30) out.userName = `Use 6 to 30 characters (this one has ${userName.length}).`;
  else if (!/^[A-Za-z]/.test(userName)) out.userName = 'Start with a letter (a–z).';
  else if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(userName)) out.userName = 'Use only letters a–z, digits and _ (no spaces or accents).';
  const bytes = new TextEncoder().encode(password).length;
  const missing = [];
  if (!/\p{Ll}/u.test(password)) missing.push('a lowercase letter');
  if (!/\p{Lu}/u.test(password)) missing.push('an uppercase letter');
  if (!/[0-9]/.test(password)) missing.push('a digit');
  if (!password) out.password = 'Choose a password.';
  else if (bytes < 8) out.password = 'Use at least 8 characters.';
  else if (bytes > 72) out.password = 'Use at most 72 characters.';
  else if (missing.length) out.password = `Add ${missing.join(' and ')}.`;
  if (password && confirmPassword !== password) out.confirmPassword = 'The two passwords are not the same.';
  if (avatar && avatar.size > limits.maxAvatarBytes) out.avatar = `This picture is ${formatSize(avatar.size)}: pictures can be at most ${sizeWords(limits.maxAvatarBytes)}.`;
  return out;
}

/** A server refusal in the words of the form. */
function plainServerError(field, message) {
  if (field === 'userName' && /taken|exists/i.test(message)) return 'This user name is taken. Try another one.';
  if (field === 'avatar' && /at most \d+ bytes/.test(message)) return `This picture is too large: at most ${sizeWords(limits.maxAvatarBytes)}.`;
  return message;
}

export function loginView({ onLoggedIn, notice, userName = '' }) {
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
  if (userName) fields.userName.input.value = userName;

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
      onLoggedIn(data);
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
  setTimeout(() => (userName ? fields.password.input : fields.userName.input).focus(), 0);
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
    } else if (file.size > limits.maxAvatarBytes) {
      setFieldError(fields, 'avatar', `This picture is ${formatSize(file.size)}: pictures can be at most ${sizeWords(limits.maxAvatarBytes)}.`);
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

  // Inline: a field marked wrong is checked again as it is corrected; any field on leaving it.
  const recheck = (name, onlyIfShown) => {
    if (onlyIfShown && fields[name].error.hidden) return;
    const problems = registrationProblems({
      nickName: fields.nickName.input.value,
      userName: fields.userName.input.value.trim(),
      password: fields.password.input.value,
      confirmPassword: fields.confirmPassword.input.value,
      avatar: avatarFile,
    });
    if (name === 'password' && !fields.confirmPassword.error.hidden) setFieldError(fields, 'confirmPassword', problems.confirmPassword || '');
    setFieldError(fields, name, problems[name] || '');
  };
  for (const name of ['nickName', 'userName', 'password', 'confirmPassword']) {
    fields[name].input.addEventListener('input', () => recheck(name, true));
    fields[name].input.addEventListener('blur', (ev) => {
      // not when the person is pressing "Create account": the submit shows everything at once,
      // and an error appearing under the pointer would move the button away from the click
      if (ev.relatedTarget && ev.relatedTarget.type === 'submit') return;
      if (fields[name].input.value) recheck(name, false);
    });
  }

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
    const problems = registrationProblems({
      nickName: fields.nickName.input.value,
      userName: fields.userName.input.value.trim(),
      password: fields.password.input.value,
      confirmPassword: fields.confirmPassword.input.value,
      avatar: avatarFile,
    });
    const wrong = Object.keys(problems);
    if (wrong.length) {
      for (const name of wrong) setFieldError(fields, name, problems[name]);
      const first = ['avatar', 'nickName', 'userName', 'password', 'confirmPassword'].find((n) => problems[n]);
      (first === 'avatar' ? fields.avatar.wrap.querySelector('label.btn') : fields[first].input)?.focus();
      return;
    }
    busy(submit, true, 'Creating account…');
    try {
      const data = await api.register(fd);
      if (previewUrl) URL.revokeObjectURL(previewUrl);
      onLoggedIn(data);
    } catch (e) {
      const target = e instanceof ApiError ? fieldOfMessage(e.message, e.code) : null;
      if (target && setFieldError(fields, target, plainServerError(target, e.message))) {
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
