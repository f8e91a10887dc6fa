// Browser end-to-end test of the chat client: two people in two browser contexts.
// Run through run.sh, which starts the server and sets the E2E_* variables.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { chromium } from 'playwright-core';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run this test through tests/e2e/run.sh`);
  return v;
};
const BASE = env('E2E_BASE_URL');
const SHOTS = process.env.E2E_SCREENSHOTS || path.resolve('target/e2e-screenshots');
const TIMEOUT = 10000;

const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// ------------------------------------------------------------------ helpers

/** A real PNG made from bytes: width x height, one colour with a darker diagonal. */
function makePng(width, height, [r, g, b]) {
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

async function waitUntil(fn, what, timeout = TIMEOUT) {
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

const tid = (id) => `[data-testid="${id}"]`;

async function shot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  // toasts come and go; keep them out of the pictures
  await page.evaluate(() => document.querySelectorAll('[data-testid="toast"]').forEach((el) => el.remove()));
  await page.screenshot({ path: path.join(SHOTS, name) });
}

/** Texts of the message elements, in page order. */
function messageTexts(page) {
  return page.$$eval(`${tid('message-list')} ${tid('message')}`, (els) => els.map((el) => {
    const t = el.querySelector('[data-testid="message-text"]');
    return t ? t.textContent : '';
  }));
}

async function messageState(page) {
  return page.$$eval(`${tid('message-list')} ${tid('message')}`, (els) => els.map((el) => ({
    id: el.dataset.messageId || null,
    pending: el.dataset.pending === 'true',
    text: el.querySelector('[data-testid="message-text"]')?.textContent || '',
  })));
}

async function expectMessages(page, expected, who) {
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

async function connectionState(page) {
  return page.getAttribute(tid('connection-status'), 'data-state');
}

async function waitOnline(page, who) {
  await waitUntil(async () => (await connectionState(page)) === 'online', `${who} to be connected`, 20000);
}

async function register(page, { nickName, userName, password, avatarPng }) {
  await page.goto(`${BASE}/#/register`);
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

function startServer() {
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

async function healthy() {
  try {
    const res = await fetch(`${BASE}/healthz`);
    return res.ok;
  } catch {
    return false;
  }
}

async function killServer() {
  const pid = Number(fs.readFileSync(env('E2E_PIDFILE'), 'utf8'));
  process.kill(pid, 'SIGKILL');
  await waitUntil(async () => !(await healthy()), 'the server to go away');
}

async function restartServer() {
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

async function apiPost(token, pathName, body) {
  const res = await fetch(`${BASE}${pathName}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  const data = await res.json();
  assert.ok(res.ok, `POST ${pathName}: ${res.status} ${JSON.stringify(data)}`);
  return data;
}

// ------------------------------------------------------------------ the story

let browser;
const pageErrors = [];

before(async () => {
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: LAUNCH_ARGS });
});

after(async () => {
  await browser?.close();
});

function watch(page, who) {
  page.on('pageerror', (e) => pageErrors.push(`${who}: ${e.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/WebSocket|Failed to load resource|net::ERR/.test(msg.text())) {
      pageErrors.push(`${who} console: ${msg.text()}`);
    }
  });
}

test('two people chat in the browser, through a server restart', { timeout: 120000 }, async (t) => {
  const ctxA = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const ctxB = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  // Bob's WebSocket goes through a switch the test can open: a cut-off client that must catch up.
  const bobSockets = new Set();
  let bobCutOff = false;
  await ctxB.routeWebSocket(/\/ws(\?|$)/, (ws) => {
    if (bobCutOff) {
      ws.close({ code: 4000, reason: 'cut off by the test' });
      return;
    }
    const server = ws.connectToServer();
    const pair = { ws, server };
    bobSockets.add(pair);
    ws.onClose(() => { bobSockets.delete(pair); server.close().catch(() => {}); });
    server.onClose(() => { bobSockets.delete(pair); ws.close().catch(() => {}); });
  });
  ctxA.setDefaultTimeout(TIMEOUT);
  ctxB.setDefaultTimeout(TIMEOUT);
  const a = await ctxA.newPage();
  const b = await ctxB.newPage();
  watch(a, 'alice');
  watch(b, 'bob');
  const password = 'Sup3rSecret';
  const avatarPng = makePng(96, 96, [236, 72, 153]);
  const sent = []; // the conversation as both sides must show it

  await t.test('login screen, register validation, register with an avatar', async () => {
    await a.goto(BASE);
    await a.waitForSelector(tid('login-form'));
    assert.equal(await a.isVisible(tid('login-username')), true);
    await shot(a, '01-login.png');

    await a.click(tid('goto-register'));
    await a.waitForSelector(tid('register-form'));
    await a.fill(tid('register-nickname'), 'Alice Martin');
    await a.fill(tid('register-username'), 'al'); // too short
    await a.fill(tid('register-password'), password);
    await a.fill(tid('register-confirm'), password);
    await a.click(tid('register-submit'));
    await a.waitForSelector(`${tid('error-userName')}:visible`);
    assert.match(await a.textContent(tid('error-userName')), /^userName must be 6-30 characters/);

    await a.fill(tid('register-username'), 'alice_e2e');
    await a.fill(tid('register-confirm'), 'Different1');
    await a.click(tid('register-submit'));
    await a.waitForSelector(`${tid('error-confirmPassword')}:visible`);
    assert.match(await a.textContent(tid('error-confirmPassword')), /^confirmPassword must match password/);
    assert.equal(await a.isVisible(tid('error-userName')), false, 'the old userName error is cleared');

    await a.setInputFiles(tid('register-avatar'), { name: 'alice.png', mimeType: 'image/png', buffer: avatarPng });
    await a.waitForSelector(tid('register-avatar-preview'));
    await waitUntil(() => a.$eval(tid('register-avatar-preview'), (img) => img.complete && img.naturalWidth === 96), 'the avatar preview');
    await shot(a, '02-register.png');

    await a.fill(tid('register-confirm'), password);
    await a.click(tid('register-submit'));
    await a.waitForSelector(tid('sidebar'));
    await a.waitForSelector(`${tid('threads-empty')}:visible`);
    await waitOnline(a, 'alice');
    const avatarSrc = await a.getAttribute(`${tid('me-avatar')} img`, 'src');
    assert.match(avatarSrc, /^\/uploads\/avatars\//);
    assert.equal(await a.textContent(tid('me-name')), 'Alice Martin');
    assert.ok(await a.evaluate(() => localStorage.getItem('chat.token')), 'token kept in localStorage');
  });

  await t.test('second person registers without an avatar: initials', async () => {
    await register(b, { nickName: 'Bob Stone', userName: 'bob_e2e', password });
    assert.equal((await b.textContent(`${tid('me-avatar')} .avatar-initials`)).trim(), 'BS');
  });

  await t.test('open a direct thread by searching, send a message', async () => {
    await a.click(tid('new-chat-button'));
    await a.waitForSelector(tid('new-chat-dialog'));
    await a.fill(tid('user-search-input'), 'bob');
    await a.click(`${tid('user-result')}[data-user-name="bob_e2e"]`);
    await a.waitForSelector(`${tid('conversation')}:visible`);
    assert.equal(await a.textContent(tid('conversation-title')), 'Bob Stone');
    assert.equal(await a.isVisible(tid('new-chat-dialog')), false);

    const text = 'Hello Bob! 👋 How are you?';
    await a.fill(tid('composer-input'), text);
    await a.click(tid('send-button'));
    sent.push(text);
    await expectMessages(a, sent, 'alice');
    assert.equal(await a.inputValue(tid('composer-input')), '');
  });

  let threadId;
  await t.test('the other side gets the thread, unread count, message', async () => {
    const item = tid('thread-item');
    await b.waitForSelector(`${item} ${tid('unread-count')}`);
    threadId = await b.getAttribute(item, 'data-thread-id');
    assert.equal(await b.textContent(`${item} ${tid('thread-name')}`), 'Alice Martin');
    assert.match(await b.textContent(`${item} ${tid('thread-preview')}`), /Hello Bob!/);
    assert.equal(await b.textContent(`${item} ${tid('unread-count')}`), '1');
    assert.match(await b.getAttribute(`${item} ${tid('avatar')} img`, 'src'), /^\/uploads\/avatars\//);
    await shot(b, '03-thread-list.png');

    await b.click(`${item} a`);
    await b.waitForSelector(`${tid('conversation')}:visible`);
    await expectMessages(b, sent, 'bob');
    await waitUntil(async () => (await b.$(`${item} ${tid('unread-count')}`)) === null, 'the unread badge to clear');
  });

  await t.test('typing indicator, reply, read mark ("Seen")', async () => {
    // Bob opened the thread: his read mark passes Alice's message.
    await a.waitForSelector(`${tid('seen-marker')}:visible`);
    assert.equal(await a.textContent(tid('seen-marker')), 'Seen');

    await b.click(tid('composer-input'));
    await b.keyboard.type('Hi Alice, all good', { delay: 20 });
    await waitUntil(async () => /Bob Stone is typing/.test(await a.textContent(tid('typing-indicator'))), 'the typing indicator');
    assert.equal(await a.getAttribute(tid('typing-indicator'), 'data-active'), 'true');
    await b.keyboard.press('Enter');
    sent.push('Hi Alice, all good');
    await expectMessages(a, sent, 'alice');
    await expectMessages(b, sent, 'bob');
    await waitUntil(async () => (await a.getAttribute(tid('typing-indicator'), 'data-active')) === 'false', 'the typing indicator to go');

    // Multi-line message; the seen marker follows Alice's newest message once Bob's view shows it.
    await a.fill(tid('composer-input'), 'Great!\nSee you at 7');
    await a.press(tid('composer-input'), 'Enter');
    sent.push('Great!\nSee you at 7');
    const state = await expectMessages(a, sent, 'alice');
    await expectMessages(b, sent, 'bob');
    const lastId = state[state.length - 1].id;
    await waitUntil(async () => (await a.getAttribute(tid('seen-marker'), 'data-message-id')) === lastId, 'the seen marker to move to the newest message');
    assert.equal(await a.$$eval(tid('seen-marker'), (els) => els.length), 1);
  });

  await t.test('attachments: an image inline, a file as a download link', async () => {
    const photo = makePng(200, 120, [59, 130, 246]);
    await a.setInputFiles(tid('file-input'), [
      { name: 'photo.png', mimeType: 'image/png', buffer: photo },
      { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('bring snacks\n') },
    ]);
    await waitUntil(async () => (await a.$$(tid('draft-file'))).length === 2, 'two files in the composer');
    await a.fill(tid('composer-input'), 'Pictures from the trip');
    await a.click(tid('send-button'));
    sent.push('Pictures from the trip');
    for (const [page, who] of [[a, 'alice'], [b, 'bob']]) {
      await expectMessages(page, sent, who);
      const img = `${tid('message-list')} ${tid('message')}:last-child ${tid('attachment-image')}`;
      await page.waitForSelector(img);
      await waitUntil(() => page.$eval(img, (el) => el.complete && el.naturalWidth === 200 && el.naturalHeight === 120), `${who}: the image to load`);
      assert.match(await page.getAttribute(img, 'src'), /^\/uploads\/attachments\/.+\.png$/);
      const file = `${tid('message-list')} ${tid('message')}:last-child ${tid('attachment-file')}`;
      assert.equal(await page.getAttribute(file, 'download'), 'notes.txt');
      assert.match(await page.getAttribute(file, 'href'), /^\/uploads\/attachments\//);
    }
    // Bob looks at it: his unread count clears and Alice's newest message gets his read mark.
    await waitUntil(async () => (await b.$(tid('unread-count'))) === null, 'bob to have read the attachment message');
    const newest = (await messageState(a)).at(-1).id;
    await waitUntil(async () => (await a.getAttribute(tid('seen-marker'), 'data-message-id')) === newest, 'alice to see it seen');
    // And Bob sees Alice's read mark under his own last message.
    await b.waitForSelector(`${tid('seen-marker')}:visible`);
    await shot(b, '04-conversation.png');
  });

  await t.test('reload keeps the session and finds the history', async () => {
    await b.reload();
    await b.waitForSelector(`${tid('conversation')}:visible`); // the URL keeps the open thread
    await waitOnline(b, 'bob');
    await expectMessages(b, sent, 'bob after reload');
    await b.waitForSelector(`${tid('message-list')} ${tid('attachment-image')}`);
    assert.equal(await b.textContent(tid('conversation-title')), 'Alice Martin');
  });

  await t.test('server restart mid-conversation: nothing lost, nothing doubled', async () => {
    await killServer();
    await waitUntil(async () => (await connectionState(a)) !== 'online', 'alice to notice the server is gone');
    await waitUntil(async () => (await connectionState(b)) !== 'online', 'bob to notice the server is gone');
    await a.waitForSelector(`${tid('connection-banner')}:visible`);

    // Written while the server is down: kept and sent after reconnecting.
    await a.fill(tid('composer-input'), 'Written while offline');
    await a.press(tid('composer-input'), 'Enter');
    await a.waitForSelector(`${tid('message')}[data-pending="true"]`);
    assert.match(await a.textContent(`${tid('message')}[data-pending="true"] ${tid('message-status')}`), /Waiting for connection|Sending/);

    await restartServer();
    // Sent right after the restart, most likely before the browsers are back: only `sync` brings it.
    const bobToken = await b.evaluate(() => localStorage.getItem('chat.token'));
    await apiPost(bobToken, `/threads/${threadId}/messages`, { text: 'Sent over HTTP during the reconnect', clientMsgId: 'e2e-http-1' });

    await waitOnline(a, 'alice');
    await waitOnline(b, 'bob');
    await a.waitForSelector(`${tid('connection-banner')}`, { state: 'hidden' });

    // The two messages from the gap, in id order (either may have been stored first).
    const aState = await waitUntil(async () => {
      const s = await messageState(a);
      return s.length === sent.length + 2 && s.every((m) => m.id && !m.pending) ? s : null;
    }, 'alice to have both gap messages', 20000);
    const gap = aState.slice(sent.length).map((m) => m.text);
    assert.deepEqual([...gap].sort(), ['Sent over HTTP during the reconnect', 'Written while offline']);
    sent.push(...gap);

    await b.fill(tid('composer-input'), 'Back online after the restart');
    await b.press(tid('composer-input'), 'Enter');
    sent.push('Back online after the restart');
    await expectMessages(a, sent, 'alice');
    await expectMessages(b, sent, 'bob');

    // Presence after the reconnect: each sees the other online.
    await waitUntil(async () => (await a.getAttribute(`${tid('thread-item')} ${tid('presence-dot')}`, 'data-online')) === 'true', 'alice to see bob online');
    assert.equal(await a.getAttribute(tid('conversation-subtitle'), 'data-online'), 'true');

    // Once more after a reload: the server's history agrees.
    await a.reload();
    await waitOnline(a, 'alice');
    await expectMessages(a, sent, 'alice after reload');
  });

  await t.test('a client cut off for a while catches up with sync', async () => {
    bobCutOff = true;
    for (const { ws } of [...bobSockets]) await ws.close({ code: 4000, reason: 'cut off by the test' });
    await waitUntil(async () => (await connectionState(b)) !== 'online', 'bob to notice he is cut off');

    const missed = ['While you were away 1', 'While you were away 2', 'While you were away 3'];
    for (const text of missed) {
      await a.fill(tid('composer-input'), text);
      await a.press(tid('composer-input'), 'Enter');
    }
    // Bob's other device writes too: his own message must come back to this one exactly once.
    const bobToken = await b.evaluate(() => localStorage.getItem('chat.token'));
    await apiPost(bobToken, `/threads/${threadId}/messages`, { text: 'From my phone', clientMsgId: 'e2e-phone-1' });
    missed.push('From my phone');
    sent.push(...missed);
    await expectMessages(a, sent, 'alice');
    assert.equal((await messageState(b)).length, sent.length - missed.length, 'bob is really cut off');

    await b.waitForSelector(`${tid('connection-banner')}:visible`);
    assert.match(await b.textContent(tid('connection-banner')), /Reconnecting/);
    bobCutOff = false;
    // "Retry now" instead of waiting for the backoff (an automatic retry may beat the click: fine)
    await b.evaluate(() => document.querySelector('[data-testid="reconnect-now"]')?.click());
    await waitOnline(b, 'bob');
    await expectMessages(b, sent, 'bob after catching up');
    await waitUntil(async () => (await a.getAttribute(tid('seen-marker'), 'data-message-id')) === (await messageState(a)).at(-2).id,
      'alice to see her last message seen once bob caught up');
  });

  let carol;
  await t.test('groups: create, message, add a member', async () => {
    // A third person, made through the API.
    const res = await fetch(`${BASE}/auth/register`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ nickName: 'Carol Diaz', userName: 'carol_e2e', password, confirmPassword: password }),
    });
    assert.equal(res.status, 200);
    carol = await res.json();

    await a.click(tid('new-group-button'));
    await a.waitForSelector(tid('new-group-dialog'));
    await a.fill(tid('group-name-input'), 'Weekend trip');
    await a.fill(tid('user-search-input'), 'bob');
    await a.click(`${tid('user-result')}[data-user-name="bob_e2e"]`);
    await a.waitForSelector(`${tid('group-member-chip')}[data-user-id]`);
    await a.click(tid('group-create-button'));
    await waitUntil(async () => (await a.textContent(tid('conversation-title'))) === 'Weekend trip', 'the group to open');
    await a.fill(tid('composer-input'), 'Who brings the tent?');
    await a.press(tid('composer-input'), 'Enter');
    await expectMessages(a, ['Who brings the tent?'], 'alice in the group');
    // Text is text: markup in a message is shown as typed, never parsed.
    const markup = '<img src=x onerror="window.__pwned=1"><b>not bold</b>';
    await a.fill(tid('composer-input'), markup);
    await a.press(tid('composer-input'), 'Enter');
    await expectMessages(a, ['Who brings the tent?', markup], 'alice in the group');
    assert.equal(await a.$$eval(`${tid('message-text')} img, ${tid('message-text')} b`, (els) => els.length), 0);
    assert.equal(await a.evaluate(() => window.__pwned), undefined);

    const groupItem = `${tid('thread-item')}:has(${tid('thread-name')}:text-is("Weekend trip"))`;
    await b.waitForSelector(groupItem);
    await waitUntil(async () => (await b.textContent(`${groupItem} ${tid('thread-preview')}`)) === `Alice Martin: ${markup}`, 'bob to see the group message');

    await a.click(tid('thread-info-button'));
    await a.waitForSelector(tid('group-info-dialog'));
    await a.fill(`${tid('group-info-dialog')} ${tid('user-search-input')}`, 'carol');
    await a.click(`${tid('group-info-dialog')} ${tid('user-result')}[data-user-name="carol_e2e"]`);
    await waitUntil(async () => (await a.$$(`${tid('group-info-dialog')} ${tid('member-item')}`)).length === 3, 'three members');
    await a.click(`${tid('group-info-dialog')} ${tid('dialog-close')}`);
    assert.match(await a.textContent(tid('conversation-subtitle')), /^3 members/);
  });

  await t.test('long history: the newest page first, older pages on scroll up', async () => {
    const aliceId = Number(await a.evaluate(() => JSON.parse(localStorage.getItem('chat.user')).id));
    const direct = await apiPost(carol.accessToken, '/threads', { userId: aliceId });
    const total = 120;
    for (let i = 1; i <= total; i++) {
      await apiPost(carol.accessToken, `/threads/${direct.thread.id}/messages`, { text: `history ${i}` });
    }
    const item = `${tid('thread-item')}[data-thread-id="${direct.thread.id}"]`;
    await waitUntil(async () => (await a.getAttribute(item, 'data-unread')) === String(total), `${total} unread from Carol`);
    assert.equal(await a.textContent(`${item} ${tid('unread-count')}`), '99+');
    await a.click(`${item} a`);
    const expected = Array.from({ length: total }, (_, i) => `history ${i + 1}`);
    await expectMessages(a, expected.slice(-50), 'alice, newest page');
    for (let round = 0; round < 5; round++) {
      const n = (await messageState(a)).length;
      if (n === total) break;
      await a.$eval(tid('message-list'), (el) => { el.scrollTop = 0; });
      await waitUntil(async () => (await messageState(a)).length > n, 'an older page');
    }
    await expectMessages(a, expected, 'alice, whole history');
    await waitUntil(async () => (await a.getAttribute(tid('history-status'), 'data-state')) === 'start', 'the start of the conversation');
    assert.match(await a.textContent(tid('history-status')), /beginning of the conversation/);
    // Scrolled up, the newest message is out of view: reading it needs a scroll back down.
    await a.$eval(tid('message-list'), (el) => { el.scrollTop = el.scrollHeight; });
    await waitUntil(async () => (await a.$(`${item} ${tid('unread-count')}`)) === null, 'the unread count to clear');
  });

  await t.test('narrow window: one pane at a time with a back button', async () => {
    await a.setViewportSize({ width: 380, height: 760 });
    await a.goto(`${BASE}/#/`);
    await a.waitForSelector(`${tid('sidebar')}:visible`);
    await waitOnline(a, 'alice');
    assert.equal(await a.isVisible(tid('conversation')), false);
    const directItem = `${tid('thread-item')}[data-thread-id="${threadId}"]`;
    await a.waitForSelector(directItem);
    const width = await a.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 380, `no horizontal overflow (scrollWidth ${width})`);
    await shot(a, '05-narrow-list.png');

    await a.click(`${directItem} a`);
    await a.waitForSelector(`${tid('conversation')}:visible`);
    assert.equal(await a.isVisible(tid('sidebar')), false);
    assert.equal(await a.isVisible(tid('back-button')), true);
    await expectMessages(a, sent, 'alice (narrow)');
    await a.waitForSelector(`${tid('message-list')} ${tid('attachment-image')}`);
    await shot(a, '06-narrow-conversation.png');

    await a.click(tid('back-button'));
    await a.waitForSelector(`${tid('sidebar')}:visible`);
    assert.equal(await a.isVisible(tid('conversation')), false);
  });

  await t.test('log out', async () => {
    await a.click(tid('logout-button'));
    await a.waitForSelector(tid('login-form'));
    assert.equal(await a.evaluate(() => localStorage.getItem('chat.token')), null);
    await a.reload();
    await a.waitForSelector(tid('login-form'));
  });

  assert.deepEqual(pageErrors, [], 'no script errors in the pages');
  await ctxA.close();
  await ctxB.close();
});
