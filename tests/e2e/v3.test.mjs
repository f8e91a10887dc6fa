// Browser end-to-end test of the polish of the second edition: messages grouped by sender,
// opening at the first unread, a "New messages" divider for what came while the tab was hidden,
// desktop notifications and per-chat mute, the tab's badge, "last seen", profile edits (name,
// picture) and group rename seen by the others, compact chat rows. Its own server; Alice's
// browser captures `Notification` and can pretend the tab is hidden (both are the browser's
// API, not our component).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import {
  TIMEOUT, LAUNCH_ARGS, makePng, waitUntil, tid, shot, waitOnline, spawnServer, apiRegister, api, watch, a11yAudit,
} from './lib.mjs';

let server;
let browser;
const pageErrors = [];

before(async () => {
  server = await spawnServer({});
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: LAUNCH_ARGS });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Runs in Alice's pages before any script: records notifications, lets the test hide the tab. */
function browserHooks() {
  window.__notes = [];
  const Real = window.Notification;
  function Capture(title, options = {}) {
    const note = { title, body: options.body, tag: options.tag, closed: false };
    window.__notes.push(note);
    let n;
    try {
      n = new Real(title, options);
    } catch {
      n = {};
    }
    const close = typeof n.close === 'function' ? n.close.bind(n) : () => {};
    n.close = () => {
      note.closed = true;
      close();
    };
    return n;
  }
  Capture.requestPermission = (...args) => Real.requestPermission(...args);
  Object.defineProperty(Capture, 'permission', { get: () => Real.permission });
  window.Notification = Capture;
  let visibility = 'visible';
  Object.defineProperty(Document.prototype, 'visibilityState', { configurable: true, get: () => visibility });
  Object.defineProperty(Document.prototype, 'hidden', { configurable: true, get: () => visibility === 'hidden' });
  window.__setVisibility = (v) => {
    visibility = v;
    document.dispatchEvent(new Event('visibilitychange'));
  };
}

async function signIn(ctx, session, hash = '#/') {
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

const msgSel = (text) => `${tid('message')}:has(${tid('message-text')}:text-is("${text}"))`;
const itemSel = (name) => `${tid('thread-item')}:has(${tid('thread-name')}:text-is("${name}"))`;
const say = (base, who, threadId, text) => api(base, who.accessToken, 'POST', `/threads/${threadId}/messages`, { text });

/** Whether an element's top and bottom are inside the message list's visible box. */
async function inView(page, selector) {
  const el = page.locator(selector).first();
  if (!(await el.count())) return false;
  return el.evaluate((node) => {
    const list = document.querySelector('[data-testid="message-list"]');
    const r = node.getBoundingClientRect();
    const v = list.getBoundingClientRect();
    return r.top >= v.top - 1 && r.bottom <= v.bottom + 1;
  });
}

test('the polish of the second edition', { timeout: 180000 }, async (t) => {
  const base = server.base;
  const password = 'Sup3rSecret';
  const alice = await apiRegister(base, 'Alice Lane', 'alice_v3', password);
  const bob = await apiRegister(base, 'Bob Reed', 'bob_v3', password);
  const carol = await apiRegister(base, 'Carol Diaz', 'carol_v3', password);
  const direct = (await api(base, alice.accessToken, 'POST', '/threads', { userId: bob.user.id })).thread;
  const group = (await api(base, alice.accessToken, 'POST', '/threads', { name: 'Book club', memberIds: [bob.user.id, carol.user.id] })).thread;
  const withCarol = (await api(base, carol.accessToken, 'POST', '/threads', { userId: alice.user.id })).thread;
  // runs: Bob ×3, Alice ×2, Bob ×1 — three headers
  for (const text of ['g1 hello', 'g2 are you there', 'g3 ping']) await say(base, bob, direct.id, text);
  for (const text of ['g4 yes', 'g5 here']) await say(base, alice, direct.id, text);
  await say(base, bob, direct.id, 'g6 great');
  await say(base, alice, group.id, 'Welcome to the book club');
  // Carol writes more than one page while Alice has never opened that chat
  for (let i = 1; i <= 80; i++) await say(base, carol, withCarol.id, `unread ${i}`);

  const ctxA = await browser.newContext({ viewport: { width: 1440, height: 900 }, permissions: ['notifications'] });
  await ctxA.addInitScript(browserHooks);
  const ctxB = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  ctxA.setDefaultTimeout(TIMEOUT);
  ctxB.setDefaultTimeout(TIMEOUT);
  const a = await signIn(ctxA, alice, `#/t/${direct.id}`);
  const b = await signIn(ctxB, bob, `#/t/${direct.id}`);
  watch(a, 'alice', pageErrors);
  watch(b, 'bob', pageErrors);
  await a.waitForSelector(msgSel('g6 great'));
  await b.waitForSelector(msgSel('g6 great'));

  await t.test('messages grouped by sender: one header per run, the time of the others on hover', async () => {
    for (const page of [a, b]) {
      const heads = await page.$$eval(tid('message'), (els) => els.map((el) => [
        el.querySelector('[data-testid="message-text"]')?.textContent,
        el.querySelector('[data-testid="message-header"] [data-testid="message-sender"]')?.textContent || null,
      ]));
      assert.deepEqual(heads, [
        ['g1 hello', 'Bob Reed'], ['g2 are you there', null], ['g3 ping', null],
        ['g4 yes', 'Alice Lane'], ['g5 here', null], ['g6 great', 'Bob Reed'],
      ]);
      assert.equal(await page.$$eval(`${tid('message-list')} ${tid('message-header')}`, (els) => els.length), 3);
      assert.equal(await page.$$eval(`${tid('message-list')} ${tid('message')} .msg-gutter .avatar`, (els) => els.length), 3, 'an avatar per run');
    }
    const timeOf = (text) => a.$eval(`${msgSel(text)} ${tid('message-time')}`, (el) => getComputedStyle(el).visibility);
    await a.mouse.move(5, 5);
    assert.equal(await timeOf('g2 are you there'), 'hidden');
    await a.hover(msgSel('g2 are you there'));
    assert.equal(await timeOf('g2 are you there'), 'visible');
    assert.equal(await timeOf('g1 hello'), 'visible', 'the header shows its time');
    await shot(a, '30-grouped-messages.png');
  });

  await t.test('a group renamed by its owner: the other member sees it live; the system line breaks a run', async () => {
    await b.click(`${itemSel('Book club')} a`);
    await b.waitForSelector(msgSel('Welcome to the book club'));
    await a.click(`${itemSel('Book club')} a`);
    await a.waitForSelector(msgSel('Welcome to the book club'));
    await say(base, bob, group.id, 'before the rename');
    await say(base, bob, group.id, 'still before');
    await b.waitForSelector(msgSel('still before'));
    await a.click(tid('thread-info-button'));
    await a.waitForSelector(tid('group-info-dialog'));
    await a.fill(tid('group-rename-input'), 'Readers of Tuesday');
    await a.click(tid('group-rename-save'));
    await waitUntil(async () => (await a.textContent(tid('conversation-title'))) === 'Readers of Tuesday', 'alice to see the new name');
    await a.keyboard.press('Escape');
    await waitUntil(async () => (await b.textContent(tid('conversation-title'))) === 'Readers of Tuesday', 'bob to see the new name');
    await b.waitForSelector(itemSel('Readers of Tuesday'));
    await waitUntil(async () => (await b.$$eval(tid('system-line'), (els) => els.map((e) => e.textContent)))
      .includes('Alice Lane renamed the group to “Readers of Tuesday”'), 'bob to see who renamed it');
    await say(base, bob, group.id, 'after the rename');
    await b.waitForSelector(msgSel('after the rename'));
    // same sender within minutes, but the system line between starts a new run
    assert.ok(await b.$(`${msgSel('after the rename')} ${tid('message-header')}`), 'a header after the system line');
    assert.ok(await b.$(`${msgSel('before the rename')} ${tid('message-header')}`), 'Bob\'s first message starts a run');
    assert.equal(await b.$(`${msgSel('still before')} ${tid('message-header')}`), null, 'Bob\'s second message continues it');
  });

  await t.test('opening a chat at the first unread, and jumping back to it', async () => {
    const carolItem = itemSel('Carol Diaz');
    await a.waitForSelector(`${carolItem}[data-unread="80"]`);
    await a.click(`${carolItem} a`);
    await a.waitForSelector(msgSel('unread 1'));
    await a.waitForSelector(tid('unread-divider'));
    assert.ok(await inView(a, msgSel('unread 1')), 'the first unread message is in view');
    assert.equal(await a.$(msgSel('unread 80')), null, 'the newest page is not where it opened');
    assert.equal(await a.isVisible(tid('jump-to-unread')), false, 'no jump button while the first unread is in view');
    await shot(a, '31-opened-at-first-unread.png');
    await a.click(tid('jump-to-present'));
    await a.waitForSelector(msgSel('unread 80'));
    await a.waitForSelector(`${tid('jump-to-unread')}:visible`);
    assert.equal(await a.textContent(tid('jump-to-unread')), '80 new messages');
    await a.click(tid('jump-to-unread'));
    await a.waitForSelector(msgSel('unread 1'));
    await waitUntil(() => inView(a, tid('unread-divider')), 'the divider to be in view again');
    // scrolled up in the history: a button to the newest message
    await a.click(tid('jump-to-present'));
    await a.waitForSelector(msgSel('unread 80'));
    await a.$eval(tid('message-list'), (el) => { el.scrollTop = 0; });
    await a.waitForSelector(`${tid('jump-to-bottom')}:visible`);
    await a.click(tid('jump-to-bottom'));
    await waitUntil(() => inView(a, msgSel('unread 80')), 'the newest message in view');
    await a.waitForSelector(tid('jump-to-bottom'), { state: 'hidden' });
    await a.waitForSelector(`${carolItem}[data-unread="0"]`); // all read once the newest is in view

    // a few unread (fewer than a page): the divider sits right above the first of them
    await a.click(`${itemSel('Bob Reed')} a`);
    await a.waitForSelector(msgSel('g6 great'));
    await a.click(`${itemSel('Readers of Tuesday')} a`);
    await a.waitForSelector(msgSel('after the rename'));
    for (const text of ['news 1', 'news 2', 'news 3']) await say(base, bob, direct.id, text);
    await a.waitForSelector(`${itemSel('Bob Reed')}[data-unread="3"]`);
    await a.click(`${itemSel('Bob Reed')} a`);
    await a.waitForSelector(msgSel('news 3'));
    const order = await a.$$eval(`${tid('message-list')} [data-testid="message"], ${tid('message-list')} [data-testid="unread-divider"]`,
      (els) => els.map((el) => (el.dataset.testid === 'unread-divider' ? '---' : el.querySelector('[data-testid="message-text"]')?.textContent)));
    assert.deepEqual(order.slice(-4), ['---', 'news 1', 'news 2', 'news 3']);
  });

  await t.test('desktop notifications while the tab is hidden; a muted chat neither notifies nor counts', async () => {
    await a.click(tid('account-button'));
    await a.waitForSelector(tid('account-dialog'));
    assert.equal(await a.isChecked(tid('notifications-toggle')), false, 'off until the person turns it on');
    await a.check(tid('notifications-toggle'));
    await waitUntil(() => a.isChecked(tid('notifications-toggle')), 'the toggle to stay on (permission granted)');
    const problems = await a11yAudit(a);
    assert.deepEqual(problems, [], problems.join('\n'));
    await shot(a, '32-account-notifications.png');
    await a.keyboard.press('Escape');

    await a.evaluate(() => window.__setVisibility('hidden'));
    await say(base, bob, direct.id, 'are you coming tonight?');
    await waitUntil(() => a.evaluate(() => window.__notes.some((n) => n.body === 'are you coming tonight?')), 'a notification');
    const note = (await a.evaluate(() => window.__notes)).find((n) => n.body === 'are you coming tonight?');
    assert.equal(note.title, 'Bob Reed');
    assert.equal(note.tag, `thread-${direct.id}`);
    await say(base, bob, group.id, 'chapter 3 for Tuesday');
    await waitUntil(() => a.evaluate(() => window.__notes.some((n) => n.body === 'chapter 3 for Tuesday')), 'the group notification');
    assert.equal((await a.evaluate(() => window.__notes)).find((n) => n.body === 'chapter 3 for Tuesday').title, 'Bob Reed in Readers of Tuesday');

    // mute the direct chat (from its header), then hide the tab again
    await a.evaluate(() => window.__setVisibility('visible'));
    await waitUntil(() => a.evaluate(() => window.__notes.every((n) => n.closed)), 'the notifications to close once the tab shows');
    await a.waitForSelector(`${itemSel('Bob Reed')}[data-unread="0"]`); // read once the tab shows again
    await a.click(tid('mute-button'));
    assert.equal(await a.getAttribute(tid('mute-button'), 'aria-pressed'), 'true');
    await a.waitForSelector(`${itemSel('Bob Reed')}[data-muted="true"] ${tid('muted-icon')}`);
    await a.click(`${itemSel('Carol Diaz')} a`);
    await a.evaluate(() => window.__setVisibility('hidden'));
    await say(base, bob, direct.id, 'muted ping');
    await say(base, bob, group.id, 'loud ping');
    await waitUntil(() => a.evaluate(() => window.__notes.some((n) => n.body === 'loud ping')), 'the notification of the chat not muted');
    const bodies = await a.evaluate(() => window.__notes.map((n) => n.body));
    assert.ok(!bodies.includes('muted ping'), `no notification from the muted chat (got ${JSON.stringify(bodies)})`);
    // the badge counts the chats that are not muted only
    await a.waitForSelector(`${itemSel('Bob Reed')}[data-unread="1"]`);
    const groupUnread = Number(await a.getAttribute(itemSel('Readers of Tuesday'), 'data-unread'));
    assert.ok(groupUnread >= 2, `the group has unread messages (${groupUnread})`);
    await waitUntil(async () => (await a.getAttribute('link[rel="icon"]', 'data-count')) === String(groupUnread), 'the favicon badge').catch(async (e) => {
      throw new Error(`${e.message}: ${JSON.stringify({ count: await a.getAttribute('link[rel="icon"]', 'data-count'), groupUnread, title: await a.title(), rows: await a.$$eval('[data-testid="thread-item"]', (els) => els.map((el) => [el.textContent, el.dataset.unread, el.dataset.muted])) })}`);
    });
    assert.equal(await a.title(), `(${groupUnread}) Chat`);
    assert.match(await a.getAttribute('link[rel="icon"]', 'href'), /^data:image\/svg\+xml,/);
    await shot(a, '36-muted-chat.png');
    await a.evaluate(() => window.__setVisibility('visible'));

    // the mute is kept on this device
    await a.reload();
    await a.waitForSelector(`${itemSel('Bob Reed')}[data-muted="true"] ${tid('muted-icon')}`);
    await waitOnline(a, 'alice after the reload');
    await a.click(`${itemSel('Bob Reed')} a`);
    await a.waitForSelector(msgSel('muted ping'));
    assert.equal(await a.getAttribute(tid('mute-button'), 'aria-pressed'), 'true');
    await a.click(tid('mute-button'));
    await a.waitForSelector(`${itemSel('Bob Reed')}[data-muted="false"]`);
    assert.equal(await a.$(`${itemSel('Bob Reed')} ${tid('muted-icon')}`), null);
  });

  await t.test('a chat left open in a hidden tab: on return a "New messages" divider marks where you left', async () => {
    const carolItem = itemSel('Carol Diaz');
    await a.click(`${carolItem} a`);
    await a.waitForSelector(msgSel('unread 80'));
    await waitUntil(() => inView(a, msgSel('unread 80')), 'the newest message in view');
    await a.waitForSelector(`${carolItem}[data-unread="0"]`);
    const order = () => a.$$eval(`${tid('message-list')} [data-testid="message"], ${tid('message-list')} [data-testid="unread-divider"]`,
      (els) => els.map((el) => (el.dataset.testid === 'unread-divider' ? '---' : el.querySelector('[data-testid="message-text"]')?.textContent)));
    // nothing new: no divider
    assert.ok(!(await order()).includes('---'), 'no divider in a chat read to the end');
    await a.evaluate(() => window.__setVisibility('hidden'));
    for (const text of ['away 1', 'away 2']) await say(base, carol, withCarol.id, text);
    await a.waitForSelector(msgSel('away 2'));
    await a.waitForSelector(`${carolItem}[data-unread="2"]`); // not read while the tab is hidden
    await a.evaluate(() => window.__setVisibility('visible'));
    await waitUntil(async () => JSON.stringify((await order()).slice(-4)) === JSON.stringify(['unread 80', '---', 'away 1', 'away 2']),
      'the divider between what was seen and what came while away').catch(async (e) => { throw new Error(`${e.message}: ${JSON.stringify((await order()).slice(-5))}`); });
    await a.waitForSelector(`${carolItem}[data-unread="0"]`); // read once the tab shows
    assert.ok(await inView(a, tid('unread-divider')));

    // away again, longer: the divider moves to the new place, and the view starts there
    await a.evaluate(() => window.__setVisibility('hidden'));
    for (let i = 1; i <= 60; i++) await say(base, carol, withCarol.id, `later ${i}`);
    await a.waitForSelector(msgSel('later 60'));
    await a.evaluate(() => window.__setVisibility('visible'));
    await waitUntil(async () => {
      const o = await order();
      return o.filter((x) => x === '---').length === 1 && o[o.indexOf('---') - 1] === 'away 2' && o[o.indexOf('---') + 1] === 'later 1';
    }, 'one divider, above "later 1"');
    await waitUntil(() => inView(a, tid('unread-divider')), 'the view to start at the divider');
    assert.equal(await inView(a, msgSel('later 60')), false, 'more came than the view holds: it starts at the first of them');
    // a way down to the newest: the "New messages" pill, or the jump button
    const down = `${tid('jump-to-bottom')}:visible, ${tid('new-messages-pill')}:visible`;
    await a.waitForSelector(down).catch(async (e) => {
      throw new Error(`${e.message}: ${JSON.stringify(await a.evaluate(() => ['jump-to-bottom', 'new-messages-pill', 'jump-to-unread', 'jump-to-present']
        .map((id) => [id, document.querySelector(`[data-testid="${id}"]`)?.hidden])))}`);
    });
    await shot(a, '37-divider-after-hidden-tab.png');
    await a.click(down);
    await a.waitForSelector(`${carolItem}[data-unread="0"]`);
  });

  await t.test('a new name and picture: the other person sees both', async () => {
    await b.click(`${itemSel('Alice Lane')} a`);
    await b.waitForSelector(msgSel('muted ping'));
    await b.click(tid('account-button'));
    await b.waitForSelector(tid('account-dialog'));
    const meImg = `${tid('me-avatar')} img`;
    assert.equal(await b.$(meImg), null, 'initials before');
    await b.setInputFiles(tid('profile-avatar-input'), { name: 'new.png', mimeType: 'image/png', buffer: makePng(64, 64, [16, 185, 129]) });
    await waitUntil(async () => /^\/uploads\/avatars\//.test(await b.$eval(meImg, (el) => el.getAttribute('src')).catch(() => '')), 'bob\'s new picture');
    const bobNow = (await api(base, bob.accessToken, 'GET', `/users/${bob.user.id}`)).user;
    const his = [bobNow.avatarUrl, bobNow.avatarThumbUrl].filter(Boolean);
    assert.ok(bobNow.avatarUrl, 'the server stored his picture');
    assert.ok(await b.$(`${tid('profile-avatar')} img`), 'the dialog shows it too');
    await b.fill(tid('profile-nickname'), 'Robert Reed');
    await b.click(tid('profile-save'));
    await waitUntil(async () => (await b.textContent(tid('me-name'))) === 'Robert Reed', 'bob\'s new name in his header');
    await b.keyboard.press('Escape');
    await b.waitForSelector(`${msgSel('g6 great')} ${tid('message-sender')}:text-is("Robert Reed")`);

    // the contract has no profile event: Alice learns it from his next message
    await b.fill(tid('composer-input'), 'I have a new name');
    await b.press(tid('composer-input'), 'Enter');
    await a.waitForSelector(itemSel('Robert Reed'));
    await a.click(`${itemSel('Robert Reed')} a`);
    await waitUntil(async () => (await a.textContent(tid('conversation-title'))) === 'Robert Reed', 'alice to see the new name in the header');
    // his earlier messages too, with the new picture
    await a.waitForSelector(`${msgSel('g1 hello')} ${tid('message-sender')}:text-is("Robert Reed")`);
    const srcOf = (sel) => a.$eval(sel, (el) => el.getAttribute('src')).catch(() => null);
    await waitUntil(async () => his.includes(await srcOf(`${msgSel('g1 hello')} .msg-gutter img`)), 'his new picture on his old messages');
    assert.ok(his.includes(await srcOf(`${itemSel('Robert Reed')} img`)), 'and in the chat list');
  });

  await t.test('"last seen" once a contact goes offline', async () => {
    assert.match(await a.textContent(tid('conversation-subtitle')), /^online/);
    await b.close();
    await waitUntil(async () => /^last seen just now · @bob_v3$/.test(await a.textContent(tid('conversation-subtitle'))),
      'alice to see "last seen just now"');
    assert.ok(await a.getAttribute(tid('conversation-subtitle'), 'data-last-seen'));
    // and in a group's member list
    await a.click(`${itemSel('Readers of Tuesday')} a`);
    await a.click(tid('thread-info-button'));
    const bobRow = `${tid('group-info-dialog')} ${tid('member-item')}[data-user-id="${bob.user.id}"] ${tid('member-presence')}`;
    await waitUntil(async () => (await a.textContent(bobRow)) === '@bob_v3 · last seen just now', 'the member list to say it');
    await a.keyboard.press('Escape');
    await a.click(`${itemSel('Robert Reed')} a`);
  });

  await t.test('compact chat rows that are still big enough to tap; phone screenshots', async () => {
    const heights = await a.$$eval(`${tid('thread-item')} a.thread-link`, (els) => els.map((el) => el.getBoundingClientRect().height));
    assert.equal(heights.length, 3);
    for (const hgt of heights) assert.ok(hgt >= 44 && hgt <= 60, `a row is ${hgt}px high`);
    await shot(a, '33-compact-list-desktop.png');
    await a.setViewportSize({ width: 390, height: 844 });
    await a.click(tid('back-button'));
    await a.waitForSelector(`${tid('thread-list')}:visible`);
    await shot(a, '34-compact-list-phone.png');
    await a.click(`${itemSel('Robert Reed')} a`);
    await a.waitForSelector(`${msgSel('I have a new name')}:visible`);
    await shot(a, '35-grouped-phone.png');
  });

  assert.deepEqual(pageErrors, [], 'no script errors in the pages');
  await ctxA.close();
  await ctxB.close();
});
