// Helpers of the browser end-to-end tests: pages, the server, the API.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';

export const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run this test through tests/e2e/run.sh`);
  return v;
};
export const BASE = env('E2E_BASE_URL');
export const SHOTS = process.env.E2E_SCREENSHOTS || path.resolve('target/e2e-screenshots');
export const TIMEOUT = 10000;

export const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// ------------------------------------------------------------------ helpers

/** A real PNG made from bytes: width x height, one colour with a darker diagonal. */
export function makePng(width, height, [r, g, b]) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc32 = (buf) => {
    let c = 0xffffffff;
    for (const byte of buf) c = crcTable[(c ^ byte) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // truecolour RGB
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    raw[row] = 0; // filter: none
    for (let x = 0; x < width; x++) {
      const dark = Math.abs(x * height - y * width) < width * 3 ? 0.55 : 1;
      raw[row + 1 + x * 3] = Math.round(r * dark);
      raw[row + 2 + x * 3] = Math.round(g * dark);
      raw[row + 3 + x * 3] = Math.round(b * dark);
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

export async function waitUntil(fn, what, timeout = TIMEOUT) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const tid = (id) => `[data-testid="${id}"]`;

export async function shot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  // toasts come and go; keep them out of the pictures
  await page.evaluate(() => document.querySelectorAll('[data-testid="toast"]').forEach((el) => el.remove()));
  await page.screenshot({ path: path.join(SHOTS, name) });
}

/** Texts of the message elements, in page order. */
export function messageTexts(page) {
  return page.$$eval(`${tid('message-list')} ${tid('message')}`, (els) => els.map((el) => {
    const t = el.querySelector('[data-testid="message-text"]');
    return t ? t.textContent : '';
  }));
}

export async function messageState(page) {
  return page.$$eval(`${tid('message-list')} ${tid('message')}`, (els) => els.map((el) => ({
    id: el.dataset.messageId || null,
    pending: el.dataset.pending === 'true',
    text: el.querySelector('[data-testid="message-text"]')?.textContent || '',
  })));
}

export async function expectMessages(page, expected, who) {
  await waitUntil(async () => {
    const state = await messageState(page);
    return state.length === expected.length && state.every((m, i) => m.id && !m.pending && m.text === expected[i]);
  }, `${who} to show exactly ${JSON.stringify(expected)}`, 15000).catch(async (e) => {
    throw new Error(`${e.message}\n${who} shows: ${JSON.stringify(await messageState(page))}`);
  });
  const state = await messageState(page);
  const ids = state.map((m) => Number(m.id));
  assert.equal(new Set(ids).size, ids.length, `${who}: a message is shown twice`);
  assert.deepEqual(ids, [...ids].sort((a, b) => a - b), `${who}: messages out of order`);
  return state;
}

export async function connectionState(page) {
  return page.getAttribute(tid('connection-status'), 'data-state');
}

export async function waitOnline(page, who) {
  await waitUntil(async () => (await connectionState(page)) === 'online', `${who} to be connected`, 20000);
}

export async function register(page, { nickName, userName, password, avatarPng }, base = BASE) {
  await page.goto(`${base}/#/register`);
  await page.waitForSelector(tid('register-form'));
  await page.fill(tid('register-nickname'), nickName);
  await page.fill(tid('register-username'), userName);
  await page.fill(tid('register-password'), password);
  await page.fill(tid('register-confirm'), password);
  if (avatarPng) {
    await page.setInputFiles(tid('register-avatar'), { name: 'me.png', mimeType: 'image/png', buffer: avatarPng });
  }
  await page.click(tid('register-submit'));
  await page.waitForSelector(tid('sidebar'));
  await waitOnline(page, userName);
}

export function startServer() {
  const log = fs.openSync(env('E2E_SERVER_LOG'), 'a');
  const child = spawn(env('E2E_SERVER_BIN'), [], {
    env: {
      ...process.env,
      RATE_LIMITS: 'off',
      BCRYPT_COST: '4',
      DATA_DIR: env('E2E_DATA_DIR'),
      STATIC_DIR: env('E2E_STATIC_DIR'),
      BIND_ADDR: env('E2E_BIND_ADDR'),
    },
    stdio: ['ignore', log, log],
    detached: true,
  });
  child.unref();
  fs.writeFileSync(env('E2E_PIDFILE'), String(child.pid));
  return child;
}

export async function healthy(base = BASE) {
  try {
    const res = await fetch(`${base}/healthz`);
    return res.ok;
  } catch {
    return false;
  }
}

export async function killServer() {
  const pid = Number(fs.readFileSync(env('E2E_PIDFILE'), 'utf8'));
  process.kill(pid, 'SIGKILL');
  await waitUntil(async () => !(await healthy()), 'the server to go away');
}

export async function restartServer() {
  for (let attempt = 0; attempt < 3; attempt++) {
    const child = startServer();
    let exited = false;
    child.once('exit', () => { exited = true; });
    try {
      await waitUntil(async () => exited || (await healthy()), 'the server to start', 15000);
    } catch (e) {
      if (attempt === 2) throw e;
    }
    if (!exited && (await healthy())) return;
    await new Promise((r) => setTimeout(r, 300)); // port still held: try again
  }
  throw new Error('the server did not restart');
}

export async function apiPost(token, pathName, body, base = BASE) {
  const res = await fetch(`${base}${pathName}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  const data = await res.json();
  assert.ok(res.ok, `POST ${pathName}: ${res.status} ${JSON.stringify(data)}`);
  return data;
}

// ------------------------------------------------------------------ the story

/** A server of its own (its own port and data dir) with extra settings, for one test file. */
export async function spawnServer(extraEnv) {
  const port = await new Promise((resolve) => {
    import('node:net').then(({ createServer }) => {
      const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
    });
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-e2e-'));
  const logPath = path.join(dir, 'server.log');
  const log = fs.openSync(logPath, 'a');
  const child = spawn(env('E2E_SERVER_BIN'), [], {
    env: {
      ...process.env,
      RATE_LIMITS: 'off',
      BCRYPT_COST: '4',
      DATA_DIR: path.join(dir, 'data'),
      STATIC_DIR: env('E2E_STATIC_DIR'),
      BIND_ADDR: `127.0.0.1:${port}`,
      ...extraEnv,
    },
    stdio: ['ignore', log, log],
  });
  const base = `http://127.0.0.1:${port}`;
  await waitUntil(() => healthy(base), 'the second server to start', 15000);
  return {
    base,
    logPath,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => { if (child.exitCode !== null) r(); else child.once('exit', r); });
      if (!process.env.E2E_KEEP) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** POST /auth/register through the API: {accessToken, refreshToken, user}. */
export async function apiRegister(base, nickName, userName, password) {
  const res = await fetch(`${base}/auth/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ nickName, userName, password, confirmPassword: password }),
  });
  const data = await res.json();
  assert.equal(res.status, 200, JSON.stringify(data));
  return data;
}

export async function api(base, token, method, pathName, body) {
  const res = await fetch(`${base}${pathName}`, {
    method,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await res.json();
  assert.ok(res.ok, `${method} ${pathName}: ${res.status} ${JSON.stringify(data)}`);
  return data;
}

/** Reports script errors of a page into `sink` (a failed socket or resource is not one). */
export function watch(page, who, sink) {
  page.on('pageerror', (e) => sink.push(`${who}: ${e.message}`));
  page.on('console', (msg) => {
    // An access token (a JWT) must never reach the console, not even in a failed socket's URL.
    if (/eyJ[\w-]+\.[\w-]+\.[\w-]+|[?&]token=/.test(msg.text())) sink.push(`${who}: a token in the console: ${msg.text().slice(0, 120)}`);
    if (msg.type() === 'error' && !/WebSocket|Failed to load resource|net::ERR/.test(msg.text())) {
      sink.push(`${who} console: ${msg.text()}`);
    }
  });
}

/**
 * A small accessibility check of what is on screen (our own, offline): WCAG AA contrast of
 * visible text against the background it sits on, and a name for every control.
 * Returns the problems found, as readable strings.
 */
export function a11yAudit(page) {
  return page.evaluate(() => {
    const parse = (c) => {
      const m = /rgba?\(([^)]+)\)/.exec(c);
      if (!m) return null;
      const [r, g, b, a = 1] = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
      return { r, g, b, a };
    };
    const over = (top, under) => ({
      r: top.r * top.a + under.r * (1 - top.a),
      g: top.g * top.a + under.g * (1 - top.a),
      b: top.b * top.a + under.b * (1 - top.a),
      a: 1,
    });
    const lum = ({ r, g, b }) => {
      const f = (v) => { const s = v / 255; return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; };
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const ratio = (x, y) => { const [l1, l2] = [lum(x), lum(y)].sort((p, q) => q - p); return (l1 + 0.05) / (l2 + 0.05); };
    const background = (el) => {
      const layers = [];
      for (let n = el; n; n = n.parentElement) {
        const cs = getComputedStyle(n);
        if (cs.backgroundImage !== 'none' && !/gradient/.test(cs.backgroundImage)) return null; // a picture: not judged
        const c = parse(cs.backgroundColor);
        if (c && c.a > 0) layers.push(c);
        if (c && c.a >= 1) break;
      }
      let bg = { r: 255, g: 255, b: 255, a: 1 };
      if (matchMedia('(prefers-color-scheme: dark)').matches && !layers.some((l) => l.a >= 1)) bg = { r: 0, g: 0, b: 0, a: 1 };
      for (const l of layers.reverse()) bg = over(l, bg);
      return bg;
    };
    const opacity = (el) => { let o = 1; for (let n = el; n; n = n.parentElement) o *= Number(getComputedStyle(n).opacity); return o; };
    const visible = (el) => {
      const r = el.getBoundingClientRect();
      if (r.width < 1 || r.height < 1 || r.bottom < 0 || r.top > innerHeight) return false;
      const cs = getComputedStyle(el);
      return cs.visibility !== 'hidden' && cs.display !== 'none';
    };
    const problems = [];
    const seen = new Set();
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let t = walker.nextNode(); t; t = walker.nextNode()) {
      const el = t.parentElement;
      if (!t.textContent.trim() || !el || seen.has(el) || !visible(el)) continue;
      seen.add(el);
      if (el.closest('[disabled], .md-pre, mark')) continue;
      const cs = getComputedStyle(el);
      const fg = parse(cs.color);
      const bg = background(el);
      if (!fg || !bg) continue;
      const eff = over({ ...fg, a: fg.a * opacity(el) }, bg);
      const size = parseFloat(cs.fontSize);
      const large = size >= 24 || (size >= 18.66 && Number(cs.fontWeight) >= 700);
      const need = large ? 3 : 4.5;
      const got = ratio(eff, bg);
      if (got < need) problems.push(`contrast ${got.toFixed(2)} < ${need}: "${t.textContent.trim().slice(0, 40)}" (${el.className || el.tagName})`);
    }
    for (const el of document.querySelectorAll('button, input, textarea, select, a[href]')) {
      if (el.type === 'hidden') continue;
      const name = el.getAttribute('aria-label') || el.getAttribute('title') || el.textContent.trim()
        || (el.id && document.querySelector(`label[for="${el.id}"]`)?.textContent.trim()) || el.closest('label')?.textContent.trim()
        || el.getAttribute('placeholder');
      if (!name) problems.push(`no accessible name: <${el.tagName.toLowerCase()} class="${el.className}" data-testid="${el.dataset.testid || ''}">`);
    }
    return problems;
  });
}
