// The connection as the person sees it: a pill under their name, and a banner (with a
// countdown and "Retry now") once a lost connection lasts longer than a blip.

import { h } from '../dom.js';
import * as chat from '../chat.js';

const { state } = chat;

export function connStatusView() {
  const pill = h('span.conn-pill', { testid: 'connection-status', dataset: { state: 'connecting' }, role: 'status' },
    h('span.conn-dot'), h('span.conn-text', 'Connecting…'));
  const bannerText = h('span.banner-text');
  const bannerRetry = h('button.btn.small.light', { type: 'button', testid: 'reconnect-now', onclick: () => chat.retryConnection() }, 'Retry now');
  const banner = h('div.conn-banner', { testid: 'connection-banner', hidden: true, role: 'status' }, bannerText, bannerRetry);

  let bannerTimer = null;
  let countdownTimer = null;
  function render() {
    const s = state.conn;
    const map = { online: 'Online', connecting: 'Connecting…', offline: 'Offline', stopped: 'Offline' };
    pill.dataset.state = s.state;
    pill.dataset.attempt = String(s.attempt || 0);
    if (s.delay !== null && s.delay !== undefined) pill.dataset.retryDelay = String(s.delay);
    pill.querySelector('.conn-text').textContent = map[s.state] || s.state;
    clearInterval(countdownTimer);
    if (s.state === 'online') {
      clearTimeout(bannerTimer);
      bannerTimer = null;
      banner.hidden = true;
      return;
    }
    const update = () => {
      if (state.conn.state === 'connecting') {
        bannerText.textContent = 'Connecting to the server…';
        bannerRetry.hidden = true;
      } else {
        const secs = state.conn.retryAt ? Math.max(0, Math.ceil((state.conn.retryAt - Date.now()) / 1000)) : 0;
        bannerText.textContent = `Connection lost. Reconnecting${secs ? ` in ${secs} s` : '…'} — messages you write are kept and sent when we are back.`;
        bannerRetry.hidden = false;
      }
    };
    update();
    countdownTimer = setInterval(update, 1000);
    // a blip that heals within a second does not deserve a banner
    if (banner.hidden && !bannerTimer) {
      bannerTimer = setTimeout(() => {
        bannerTimer = null;
        if (state.conn.state !== 'online') banner.hidden = false;
      }, s.attempt > 1 || s.state === 'offline' ? 300 : 1200);
    }
  }

  return {
    pill,
    banner,
    render,
    destroy() {
      clearInterval(countdownTimer);
      clearTimeout(bannerTimer);
    },
  };
}
