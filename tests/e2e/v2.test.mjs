// Browser end-to-end test of version 2 in the page: replies, reactions, edits, deletes, search,
// catch-up of changes made while away, sessions, and silent token renewal. Its own server runs
// with a 12 s access token, so every step below also lives through several renewals.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import {
  TIMEOUT, LAUNCH_ARGS, makePng, waitUntil, tid, shot, messageState, waitOnline, spawnServer, apiRegister, api, watch, a11yAudit,
} from './lib.mjs';

const TTL = 12;
let server;
let browser;
const pageErrors = [];

before(async () => {
  server = await spawnServer({ JWT_TTL_SECS: String(TTL), MAX_ATTACHMENT_BYTES: String(1024 * 1024) });
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: LAUNCH_ARGS });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A signed-in page for an account made over the API (the page holds both tokens). */
async function signIn(ctx, session, hash) {
  const page = await ctx.newPage();
  await page.goto(`${server.base}/#/login`);
  await page.evaluate((s) => {
    localStorage.setItem('chat.token', s.accessToken);
    localStorage.setItem('chat.refresh', s.refreshToken);
    localStorage.setItem('chat.user', JSON.stringify(s.user));
  }, session);
  await page.goto(`${server.base}/${hash}`);
  await page.reload();
  await page.waitForSelector(tid('sidebar'));
  await waitOnline(page, session.user.userName);
  return page;
}

async function login(userName, password, userAgent) {
  const res = await fetch(`${server.base}/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(userAgent ? { 'User-Agent': userAgent } : {}) },
    body: JSON.stringify({ userName, password }),
  });
  assert.equal(res.status, 200);
  return res.json();
}

const msgSel = (text) => `${tid('message')}:has(${tid('message-text')}:text-is("${text}"))`;

async function hoverAction(page, text, action) {
  const sel = `${msgSel(text)}[data-message-id]`; // a message has actions once it is stored
  await page.waitForSelector(sel);
  await page.hover(sel);
  await page.click(`${sel} ${tid(`action-${action}`)}`);
}

test('version 2 in the page, on short-lived tokens', { timeout: 180000 }, async (t) => {
  const base = server.base;
  const password = 'Sup3rSecret';
  const alice = await apiRegister(base, 'Alice Lane', 'alice_v2', password);
  const bob = await apiRegister(base, 'Bob Reed', 'bob_v2', password);
  const direct = (await api(base, alice.accessToken, 'POST', '/threads', { userId: bob.user.id })).thread;
  const original = (await api(base, alice.accessToken, 'POST', `/threads/${direct.id}/messages`, { text: 'Are we still on for Friday?' })).message;
  // enough after it that the original is not on the first page any more
  for (let i = 1; i <= 55; i++) await api(base, bob.accessToken, 'POST', `/threads/${direct.id}/messages`, { text: `filler ${i}` });

  const ctxA = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const ctxB = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  ctxA.setDefaultTimeout(TIMEOUT);
  ctxB.setDefaultTimeout(TIMEOUT);
  let bobCutOff = false;
  const bobSockets = new Set();
  await ctxB.routeWebSocket(/\/ws(\?|$)/, (ws) => {
    if (bobCutOff) {
      ws.close({ code: 4000, reason: 'cut off by the test' });
      return;
    }
    const upstream = ws.connectToServer();
    bobSockets.add(ws);
    ws.onClose(() => { bobSockets.delete(ws); upstream.close().catch(() => {}); });
    upstream.onClose((code, reason) => { bobSockets.delete(ws); ws.close({ code, reason }).catch(() => {}); });
  });
  const a = await signIn(ctxA, alice, `#/t/${direct.id}`);
  const b = await signIn(ctxB, bob, `#/t/${direct.id}`);
  watch(a, 'alice', pageErrors);
  watch(b, 'bob', pageErrors);
  const refreshes = { a: 0, b: 0 };
  const sockets = { a: 0, b: 0 };
  a.on('request', (r) => { if (r.url().endsWith('/auth/refresh')) refreshes.a += 1; });
  b.on('request', (r) => { if (r.url().endsWith('/auth/refresh')) refreshes.b += 1; });
  a.on('websocket', () => { sockets.a += 1; });
  b.on('websocket', () => { sockets.b += 1; });
  await b.waitForSelector(msgSel('filler 55'));
  // Alice has 55 unread: her chat opens at the first of them; she goes to the newest
  await a.waitForSelector(tid('unread-divider'));
  await a.click(tid('jump-to-present'));
  await a.waitForSelector(msgSel('filler 55'));

  await t.test('reply: a quoted preview; clicking it jumps to the original through `around`', async () => {
    await hoverAction(b, 'filler 55', 'reply');
    await b.waitForSelector(`${tid('reply-bar')}:visible`);
    assert.match(await b.textContent(tid('reply-bar')), /Replying to yourself/);
    await b.click(tid('reply-cancel'));
    await b.waitForSelector(tid('reply-bar'), { state: 'hidden' });

    // Bob answers Alice's first message, found through search (it is not loaded).
    await b.fill(tid('thread-filter'), 'friday');
    await b.waitForSelector(tid('search-result'));
    assert.equal(await b.textContent(`${tid('search-result')} ${tid('search-mark')}`), 'Friday');
    const arounds = [];
    b.on('request', (r) => { if (/around=/.test(r.url())) arounds.push(r.url()); });
    await b.click(tid('search-result'));
    await b.waitForSelector(`${tid('message')}[data-message-id="${original.id}"][data-highlighted="true"]`);
    assert.ok(arounds.length >= 1, 'the page around the hit was asked for');
    await b.fill(tid('thread-filter'), '');
    await hoverAction(b, 'Are we still on for Friday?', 'reply');
    await b.fill(tid('composer-input'), 'Yes! Friday at 7');
    await b.press(tid('composer-input'), 'Enter');
    await b.waitForSelector(`${msgSel('Yes! Friday at 7')} ${tid('reply-quote')}`);

    await a.waitForSelector(`${msgSel('Yes! Friday at 7')} ${tid('reply-quote')}`);
    assert.match(await a.textContent(`${msgSel('Yes! Friday at 7')} ${tid('reply-quote')}`), /You.*Are we still on for Friday\?/);
    assert.equal(await a.$(`${tid('message')}[data-message-id="${original.id}"]`), null, 'the original is not loaded');
    await a.click(`${msgSel('Yes! Friday at 7')} ${tid('reply-quote')}`);
    await a.waitForSelector(`${tid('message')}[data-message-id="${original.id}"][data-highlighted="true"]`);
    // back to the newest: with the button, unless the short window around the original
    // already reached the present by loading newer pages as it showed its bottom
    await waitUntil(async () => (await a.$(msgSel('Yes! Friday at 7')))
      || ((await a.isVisible(tid('jump-to-present'))) && (await a.click(tid('jump-to-present'), { timeout: 1000 }), false)), 'the newest message again');
  });

  await t.test('react: a small picker, counts, who reacted, toggle your own', async () => {
    await hoverAction(a, 'Yes! Friday at 7', 'react');
    await a.waitForSelector(tid('emoji-picker'));
    await a.click(`${tid('emoji-choice')}[data-emoji="👍"]`);
    const chip = `${msgSel('Yes! Friday at 7')} ${tid('reaction')}[data-emoji="👍"]`;
    await a.waitForSelector(`${chip}[data-count="1"][aria-pressed="true"]`);
    await b.waitForSelector(`${chip}[data-count="1"][aria-pressed="false"]`);
    assert.match(await b.getAttribute(chip, 'title'), /Alice Lane/);
    await b.click(chip);
    await a.waitForSelector(`${chip}[data-count="2"]`);
    assert.match(await a.getAttribute(chip, 'title'), /You, Bob Reed|Bob Reed, You|You.*Bob Reed/);
    await a.click(chip); // takes hers back
    await b.waitForSelector(`${chip}[data-count="1"][aria-pressed="true"]`);
    await shot(a, '21-reactions-and-reply.png');
  });

  await t.test('contrast (WCAG AA) and names of controls, light and dark', async () => {
    for (const scheme of ['light', 'dark']) {
      await a.emulateMedia({ colorScheme: scheme });
      await b.emulateMedia({ colorScheme: scheme });
      await a.hover(msgSel('Yes! Friday at 7')); // the actions toolbar is shown too
      const problems = [...await a11yAudit(a), ...await a11yAudit(b)];
      assert.deepEqual(problems, [], `${scheme}: ${problems.join('\n')}`);
      await shot(a, `23-conversation-${scheme}.png`);
    }
    await a.emulateMedia({ colorScheme: 'light' });
    await b.emulateMedia({ colorScheme: 'light' });
  });

  await t.test('edit in place, with an "edited" mark on both sides', async () => {
    await hoverAction(b, 'Yes! Friday at 7', 'edit');
    await b.waitForSelector(tid('edit-input'));
    await b.fill(tid('edit-input'), 'Yes! Friday at 8');
    await b.press(tid('edit-input'), 'Enter');
    await b.waitForSelector(`${msgSel('Yes! Friday at 8')} ${tid('edited-mark')}`);
    await a.waitForSelector(`${msgSel('Yes! Friday at 8')} ${tid('edited-mark')}`);
    assert.equal(await a.$(msgSel('Yes! Friday at 7')), null);
  });

  await t.test('delete with a confirmation, leaving a tombstone', async () => {
    await a.fill(tid('composer-input'), 'Oops, wrong chat');
    await a.press(tid('composer-input'), 'Enter');
    await b.waitForSelector(msgSel('Oops, wrong chat'));
    await hoverAction(a, 'Oops, wrong chat', 'delete');
    await a.waitForSelector(tid('confirm-dialog'));
    await a.click(tid('confirm-cancel'));
    await a.waitForSelector(tid('confirm-dialog'), { state: 'detached' });
    assert.ok(await a.$(msgSel('Oops, wrong chat')), 'cancel keeps it');
    await hoverAction(a, 'Oops, wrong chat', 'delete');
    await a.click(tid('confirm-ok'));
    for (const page of [a, b]) {
      await waitUntil(async () => (await page.$(msgSel('Oops, wrong chat'))) === null, 'the text to go');
      await page.waitForSelector(`${tid('message')}[data-deleted="true"] ${tid('message-deleted')}`);
    }
    assert.match(await b.textContent(`${tid('message')}[data-deleted="true"]`), /Message deleted/);
  });

  await t.test('the tokens renewed silently: same socket, still signed in', async () => {
    await b.fill(tid('composer-input'), 'a draft that must survive');
    // wait through at least two expiries of the first token
    await waitUntil(async () => refreshes.a >= 2 && refreshes.b >= 2, 'two renewals on each side', (TTL * 3) * 1000);
    assert.equal(sockets.a, 0, 'alice\'s socket was never replaced'); // counted from after sign-in
    assert.equal(sockets.b, 0, 'bob\'s socket was never replaced');
    await waitOnline(a, 'alice');
    assert.equal(await b.inputValue(tid('composer-input')), 'a draft that must survive');
    await a.fill(tid('composer-input'), 'Still here after the renewals');
    await a.press(tid('composer-input'), 'Enter');
    await b.waitForSelector(msgSel('Still here after the renewals'));
  });

  await t.test('edits and reactions made while away appear after the reconnect (sync since)', async () => {
    bobCutOff = true;
    for (const ws of [...bobSockets]) await ws.close({ code: 4000, reason: 'cut off by the test' });
    await waitUntil(async () => (await b.getAttribute(tid('connection-status'), 'data-state')) !== 'online', 'bob to be cut off');
    await hoverAction(a, 'Still here after the renewals', 'edit');
    await a.fill(tid('edit-input'), 'Edited while Bob was away');
    await a.press(tid('edit-input'), 'Enter');
    await a.waitForSelector(msgSel('Edited while Bob was away'));
    await hoverAction(a, 'Yes! Friday at 8', 'react');
    await a.click(`${tid('emoji-choice')}[data-emoji="🎉"]`);
    await a.waitForSelector(`${msgSel('Yes! Friday at 8')} ${tid('reaction')}[data-emoji="🎉"]`);
    assert.ok(await b.$(msgSel('Still here after the renewals')), 'bob has not seen the edit yet');
    bobCutOff = false;
    await b.evaluate(() => document.querySelector('[data-testid="reconnect-now"]')?.click());
    await waitOnline(b, 'bob');
    await b.waitForSelector(`${msgSel('Edited while Bob was away')} ${tid('edited-mark')}`);
    await b.waitForSelector(`${msgSel('Yes! Friday at 8')} ${tid('reaction')}[data-emoji="🎉"][data-count="1"]`);
  });

  await t.test('images: the size is reserved before the picture loads; a viewer on click', async () => {
    await a.setInputFiles(tid('file-input'), [{ name: 'wide.png', mimeType: 'image/png', buffer: makePng(640, 480, [16, 185, 129]) }]);
    await a.click(tid('send-button'));
    const reader = (await login('bob_v2', password)).accessToken;
    const stored = await waitUntil(async () => {
      const newest = (await api(base, reader, 'GET', `/threads/${direct.id}/messages?limit=1`)).messages[0];
      return newest.attachments[0]?.name === 'wide.png' ? newest.attachments[0] : null;
    }, 'the upload to be stored');
    const img = `${tid('attachment-image')}[src="${stored.thumbUrl || stored.url}"]`;
    await b.waitForSelector(img);
    if (stored.width) {
      // the box comes from the message, not from the loaded picture
      assert.equal(await b.getAttribute(img, 'width'), '280');
      assert.equal(await b.getAttribute(img, 'height'), '210');
      if (stored.thumbUrl) assert.equal(await b.getAttribute(img, 'src'), stored.thumbUrl);
    }
    await waitUntil(() => b.$eval(img, (el) => el.complete && el.naturalWidth > 0), 'the image to load');
    await b.click(img);
    await b.waitForSelector(`${tid('image-viewer')} ${tid('image-viewer-image')}`);
    assert.equal(await b.getAttribute(tid('image-viewer-image'), 'src'), stored.url);
    await b.keyboard.press('Escape');
    await b.waitForSelector(tid('image-viewer'), { state: 'detached' });
  });

  await t.test('a file over this server\'s limit (1 MB) is refused at once, without Retry', async () => {
    await a.setInputFiles(tid('file-input'), [{ name: 'big.zip', mimeType: 'application/zip', buffer: Buffer.alloc(1536 * 1024, 7) }]);
    await a.waitForSelector(`${tid('composer-error')}:visible`);
    assert.match(await a.textContent(tid('composer-error')), /“big\.zip” is 1\.5 MB: files can be at most 1 MB\./);
    assert.equal((await a.$$(tid('draft-file'))).length, 0);
  });

  await t.test('basic Markdown, rendered safely', async () => {
    const text = '**bold** and *soft* and `x < y` <b>not html</b>';
    await a.fill(tid('composer-input'), text);
    await a.press(tid('composer-input'), 'Enter');
    const sel = `${tid('message-text')}:has(strong)`;
    await b.waitForSelector(sel);
    assert.equal(await b.textContent(`${sel} strong`), 'bold');
    assert.equal(await b.textContent(`${sel} em`), 'soft');
    assert.equal(await b.textContent(`${sel} code`), 'x < y');
    assert.equal(await b.$$eval(`${sel} b`, (els) => els.length), 0, 'HTML from a message is text');
    assert.equal(await b.textContent(sel), 'bold and soft and x < y <b>not html</b>');
  });

  await t.test('sessions: the device list, log out the others, change the password', async () => {
    // Alice on a second device
    const other = await login('alice_v2', password, 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1');
    await a.click(tid('account-button'));
    await a.waitForSelector(tid('account-dialog'));
    await waitUntil(async () => (await a.$$(tid('session-item'))).length >= 2, 'two devices listed');
    assert.equal(await a.$$eval(`${tid('session-item')}[data-current="true"]`, (els) => els.length), 1);
    await shot(a, '22-account.png');
    await a.click(tid('logout-others'));
    await waitUntil(async () => (await a.$$(tid('session-item'))).length === 1, 'only this device left');
    const refused = await fetch(`${base}/auth`, { headers: { Authorization: `Bearer ${other.accessToken}` } });
    assert.equal(refused.status, 401, 'the other device is logged out');

    await a.fill(tid('password-current'), 'Wrong1234');
    await a.fill(tid('password-new'), 'N3wPassword');
    await a.fill(tid('password-confirm'), 'N3wPassword');
    await a.click(tid('password-save'));
    await a.waitForSelector(`${tid('password-error')}:visible`);
    assert.match(await a.textContent(tid('password-error')), /current password is not right/);
    await a.fill(tid('password-current'), password);
    await a.click(tid('password-save'));
    await waitUntil(async () => (await a.inputValue(tid('password-current'))) === '', 'the password to change');
    await a.keyboard.press('Escape');
    await waitOnline(a, 'alice, still signed in after her own password change');
  });

  await t.test('a session ended elsewhere: log in again, back in the same chat with the draft', async () => {
    await b.fill(tid('composer-input'), 'half-written answer');
    const elsewhere = await login('bob_v2', password);
    await api(base, elsewhere.accessToken, 'DELETE', '/auth/sessions');
    await b.waitForSelector(tid('login-form'));
    assert.equal(await b.inputValue(tid('login-username')), 'bob_v2', 'the name is filled in');
    assert.match(await b.textContent(tid('login-error')), /logged out/);
    await b.fill(tid('login-password'), password);
    await b.click(tid('login-submit'));
    await b.waitForSelector(`${tid('conversation')}:visible`);
    assert.equal(await b.evaluate(() => location.hash), `#/t/${direct.id}`);
    assert.equal(await b.inputValue(tid('composer-input')), 'half-written answer');
  });

  assert.deepEqual(pageErrors, [], 'no script errors in the pages');
  assert.ok((await messageState(a)).length > 0);
  await ctxA.close();
  await ctxB.close();
});
