// Browser end-to-end test of the chat client: two people in two browser contexts.
// Run through run.sh, which starts the server and sets the E2E_* variables.


import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import {
  BASE, TIMEOUT, LAUNCH_ARGS, makePng, waitUntil, tid, shot, messageState, expectMessages,
  connectionState, waitOnline, register, killServer, restartServer, apiPost, watch as watchPage,
} from './lib.mjs';

let browser;
const pageErrors = [];

before(async () => {
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: LAUNCH_ARGS });
});

after(async () => {
  await browser?.close();
});

const watch = (page, who) => watchPage(page, who, pageErrors);

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
    // Everything wrong at once: every problem shows at once, in plain words, before any request.
    const registerCalls = [];
    a.on('request', (req) => { if (req.url().endsWith('/auth/register')) registerCalls.push(req.url()); });
    await a.fill(tid('register-username'), 'al'); // too short
    await a.fill(tid('register-password'), 'short');
    await a.fill(tid('register-confirm'), 'other');
    await a.click(tid('register-submit'));
    for (const name of ['nickName', 'userName', 'password', 'confirmPassword']) {
      await a.waitForSelector(`${tid(`error-${name}`)}:visible`);
    }
    assert.match(await a.textContent(tid('error-nickName')), /^Enter the name others will see/);
    assert.match(await a.textContent(tid('error-userName')), /^Use 6 to 30 characters/);
    assert.match(await a.textContent(tid('error-password')), /^Use at least 8 characters/);
    assert.match(await a.textContent(tid('error-confirmPassword')), /^The two passwords are not the same/);
    for (const name of ['nickName', 'userName', 'password', 'confirmPassword']) {
      assert.doesNotMatch(await a.textContent(tid(`error-${name}`)), /userName|nickName|confirmPassword|bytes/, 'no API wording');
    }
    assert.deepEqual(registerCalls, [], 'nothing was sent');

    // Inline: correcting a field clears its error as soon as it is right.
    await a.fill(tid('register-nickname'), 'Alice Martin');
    await a.fill(tid('register-username'), 'alice_e2e');
    await a.fill(tid('register-password'), password);
    await waitUntil(async () => !(await a.isVisible(tid('error-userName'))), 'the userName error to clear as it is fixed');
    await a.fill(tid('register-confirm'), 'Different1');
    await a.click(tid('register-submit'));
    await a.waitForSelector(`${tid('error-confirmPassword')}:visible`);
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
      const img = `${tid('message-list')} ${tid('message')}:has(${tid('message-text')}:text-is("Pictures from the trip")) ${tid('attachment-image')}`;
      await page.waitForSelector(img);
      await waitUntil(() => page.$eval(img, (el) => el.complete && el.naturalWidth === 200 && el.naturalHeight === 120), `${who}: the image to load`);
      assert.match(await page.getAttribute(img, 'src'), /^\/uploads\/attachments\/.+\.png$/);
      const file = `${tid('message-list')} ${tid('message')}:has(${tid('message-text')}:text-is("Pictures from the trip")) ${tid('attachment-file')}`;
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

  await t.test('downloads keep their name; toasts stay off the composer', async () => {
    const href = await b.getAttribute(`${tid('message-list')} ${tid('attachment-file')}`, 'href');
    const token = await b.evaluate(() => localStorage.getItem('chat.token'));
    const res = await fetch(`${BASE}${href}`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-disposition') || '', /filename\*?=(UTF-8'')?"?notes\.txt/);

    // A toast (any message to the person) never covers the send button or the composer.
    await b.evaluate(() => import('/js/toast.js').then((m) => m.toast('A notice long enough to be wide, to see where it goes on the screen', 'error')));
    await b.waitForSelector(tid('toast'));
    const overlap = await b.evaluate(() => {
      const t = document.querySelector('[data-testid="toast"]').getBoundingClientRect();
      const c = document.querySelector('[data-testid="composer"]').getBoundingClientRect();
      return !(t.right <= c.left || t.left >= c.right || t.bottom <= c.top || t.top >= c.bottom);
    });
    assert.equal(overlap, false, 'the toast covers the composer');
  });

  await t.test('a file over the limit is refused before any upload, in plain words', async () => {
    const posts = [];
    const onRequest = (req) => { if (req.method() === 'POST' && /\/messages$/.test(req.url())) posts.push(req.url()); };
    b.on('request', onRequest);
    const big = Buffer.alloc(10 * 1024 * 1024 + 1, 1);
    await b.setInputFiles(tid('file-input'), [{ name: 'huge.bin', mimeType: 'application/octet-stream', buffer: big }]);
    await b.waitForSelector(`${tid('composer-error')}:visible`);
    assert.match(await b.textContent(tid('composer-error')), /“huge\.bin” is 10\.0 MB: files can be at most 10 MB\./);
    assert.equal((await b.$$(tid('draft-file'))).length, 0, 'not attached');
    assert.equal(await b.isDisabled(tid('send-button')), true);
    await b.fill(tid('composer-input'), 'x');
    await b.waitForSelector(tid('composer-error'), { state: 'hidden' });
    await b.fill(tid('composer-input'), '');
    b.off('request', onRequest);
    assert.deepEqual(posts, [], 'nothing was uploaded');
    const preview = await b.textContent(`${tid('thread-item')} ${tid('thread-preview')}`);
    assert.doesNotMatch(preview, /huge\.bin/, 'the chat list does not show it as sent');
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

    // Cut off, Bob writes a text and then sends a file: they must arrive in that order.
    await b.fill(tid('composer-input'), 'Text written before the file');
    await b.press(tid('composer-input'), 'Enter');
    await b.setInputFiles(tid('file-input'), [{ name: 'after.txt', mimeType: 'text/plain', buffer: Buffer.from('second\n') }]);
    await b.fill(tid('composer-input'), 'The file after the text');
    await b.click(tid('send-button'));
    await waitUntil(async () => (await b.$$(`${tid('message')}[data-pending="true"]`)).length === 2, 'both waiting');

    // The backoff while cut off stays short (capped at 4 s, with jitter), so the reconnect
    // after an outage is quick.
    const delays = new Set();
    await waitUntil(async () => {
      const d = await b.getAttribute(tid('connection-status'), 'data-retry-delay');
      if (d) delays.add(Number(d));
      return Number(await b.getAttribute(tid('connection-status'), 'data-attempt')) >= 5;
    }, 'five reconnect attempts', 30000);
    assert.ok(Math.max(...delays) <= 4000, `a reconnect waited ${Math.max(...delays)} ms`);

    await b.waitForSelector(`${tid('connection-banner')}:visible`);
    assert.match(await b.textContent(tid('connection-banner')), /Reconnecting/);
    bobCutOff = false;
    // "Retry now" instead of waiting for the backoff (an automatic retry may beat the click: fine)
    await b.evaluate(() => document.querySelector('[data-testid="reconnect-now"]')?.click());
    await waitOnline(b, 'bob');
    sent.push('Text written before the file', 'The file after the text');
    await expectMessages(b, sent, 'bob after catching up');
    await expectMessages(a, sent, 'alice: the text before the file');
    await waitUntil(async () => (await a.getAttribute(tid('seen-marker'), 'data-message-id')) === (await messageState(a)).at(-4).id,
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
    await waitUntil(async () => (await a.textContent(tid('message-list'))).includes('You added Carol Diaz'), 'alice\'s system line');

    // Bob, already in the group, sees the new member count and who added whom.
    await b.click(`${groupItem} a`);
    await waitUntil(async () => /^3 members/.test(await b.textContent(tid('conversation-subtitle'))), 'bob to see 3 members');
    await waitUntil(async () => (await b.$$eval(tid('system-line'), (els) => els.map((e) => e.textContent))).includes('Alice Martin added Carol Diaz'),
      'bob to see "Alice Martin added Carol Diaz"');
    // Carol leaves: both see it, without reloading.
    await fetch(`${BASE}/threads/${await a.getAttribute(tid('conversation'), 'data-thread-id')}/members/${carol.user.id}`, {
      method: 'DELETE', headers: { Authorization: `Bearer ${carol.accessToken}` },
    });
    await waitUntil(async () => /^2 members/.test(await b.textContent(tid('conversation-subtitle'))), 'bob to see 2 members');
    await waitUntil(async () => (await b.$$eval(tid('system-line'), (els) => els.map((e) => e.textContent))).includes('Carol Diaz left the group'),
      'bob to see that Carol left');
    await shot(b, '07-group-system-lines.png');
  });

  await t.test('long history: the newest page first, older pages on scroll up', async () => {
    const aliceId = Number(await a.evaluate(() => JSON.parse(localStorage.getItem('chat.user')).id));
    const direct = await apiPost(carol.accessToken, '/threads', { userId: aliceId });
    const total = 150;
    for (let i = 1; i <= total; i++) {
      await apiPost(carol.accessToken, `/threads/${direct.thread.id}/messages`, { text: `history ${i}` });
    }
    const item = `${tid('thread-item')}[data-thread-id="${direct.thread.id}"]`;
    await waitUntil(async () => (await a.getAttribute(item, 'data-unread')) === String(total), `${total} unread from Carol`);
    assert.equal(await a.textContent(`${item} ${tid('unread-count')}`), '99+');
    await a.click(`${item} a`);
    const expected = Array.from({ length: total }, (_, i) => `history ${i + 1}`);
    // it opens at the first unread message; "Jump to the newest" brings the newest page
    await expectMessages(a, expected.slice(0, 50), 'alice, from the first unread');
    await a.waitForSelector(`${tid('unread-divider')}`);
    assert.ok(await a.$(`${item} ${tid('unread-count')}`), 'what is not in view yet stays unread');
    await a.click(tid('jump-to-present'));
    await expectMessages(a, expected.slice(-50), 'alice, newest page');
    // One scroll to the top brings one older page, and the view stays on the message that was first.
    const pages = [];
    const onRequest = (req) => { if (/\/messages\?.*before=/.test(req.url())) pages.push(req.url()); };
    a.on('request', onRequest);
    await a.$eval(tid('message-list'), (el) => { el.scrollTop = 0; });
    await waitUntil(async () => (await messageState(a)).length > 50, 'an older page');
    await waitUntil(async () => (await a.getAttribute(tid('history-status'), 'data-state')) !== 'loading-older', 'the page to settle');
    assert.equal((await messageState(a)).length, 100, 'exactly one older page');
    assert.equal(pages.length, 1, 'one request for it');
    a.off('request', onRequest);
    const inView = await a.evaluate(() => {
      const list = document.querySelector('[data-testid="message-list"]').getBoundingClientRect();
      const el = [...document.querySelectorAll('[data-testid="message"]')].find((m) => m.textContent.includes('history 101'));
      const r = el.getBoundingClientRect();
      return r.bottom > list.top && r.top < list.bottom;
    });
    assert.equal(inView, true, 'the message that was at the top is still in view');
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

  await t.test('phone: Enter makes a new line, the composer never hides the newest message', async () => {
    const res = await fetch(`${BASE}/auth/login`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ userName: 'bob_e2e', password }),
    });
    const login = await res.json();
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    phone.setDefaultTimeout(TIMEOUT);
    const p = await phone.newPage();
    watch(p, 'bob on the phone');
    await p.goto(`${BASE}/#/login`);
    await p.evaluate((l) => {
      localStorage.setItem('chat.token', l.accessToken);
      localStorage.setItem('chat.refresh', l.refreshToken);
      localStorage.setItem('chat.user', JSON.stringify(l.user));
    }, login);
    await p.goto(`${BASE}/#/t/${threadId}`);
    await p.reload();
    await p.waitForSelector(`${tid('conversation')}:visible`);
    await waitOnline(p, 'bob on the phone');
    await expectMessages(p, sent, 'bob on the phone');
    await p.tap(tid('composer-input'));
    await p.keyboard.type('first line');
    await p.keyboard.press('Enter');
    await p.keyboard.type('second line');
    assert.equal(await p.inputValue(tid('composer-input')), 'first line\nsecond line', 'Enter made a new line');
    assert.equal((await messageState(p)).length, sent.length, 'nothing sent by Enter');
    for (let i = 0; i < 6; i++) await p.keyboard.press('Enter');
    await p.keyboard.type('last line');
    const hidden = await p.evaluate(() => {
      const list = document.querySelector('[data-testid="message-list"]').getBoundingClientRect();
      const msgs = document.querySelectorAll('[data-testid="message"]');
      const last = msgs[msgs.length - 1].getBoundingClientRect();
      return last.bottom > list.bottom + 1;
    });
    assert.equal(hidden, false, 'the grown composer hides the newest message');
    await shot(p, '08-phone-composer.png');
    await p.tap(tid('send-button'));
    sent.push(`first line\nsecond line${'\n'.repeat(6)}last line`);
    await expectMessages(p, sent, 'bob on the phone');
    await phone.close();
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
