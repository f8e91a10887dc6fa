// The WebSocket connection: request/reply by id, heartbeat, reconnection with a short capped
// backoff (with jitter, so that clients dropped together do not come back together).

export class ConnectionLost extends Error {
  constructor(message = 'The connection to the server was lost.') {
    super(message);
    this.name = 'ConnectionLost';
  }
}

export class ServerError extends Error {
  constructor(frame) {
    super(frame.message || `Server error ${frame.code || ''}`.trim());
    this.name = 'ServerError';
    this.code = frame.code;
  }
}

const BASE_DELAY = 400;
// A server that restarts is back within seconds: waiting longer than this only leaves people offline.
export const MAX_DELAY = 4000;
const HEARTBEAT_EVERY = 20000;
const HEARTBEAT_TIMEOUT = 10000;

/**
 * new Connection({ url, onReady, onFrame, onStatus, onClosedBeforeReady, onAuthExpired })
 * - url(): the ws URL (with the current token)
 * - onReady(readyFrame): after the server's `ready`
 * - onFrame(frame): server events (message, typing, read, presence, thread, removed, error without a pending request)
 * - onStatus({state, attempt, retryAt, lastClose}): state is 'connecting' | 'online' | 'offline' | 'stopped'
 * - onClosedBeforeReady(): async check run when a connection never became ready (e.g. to detect a revoked token);
 *   returning false stops reconnecting
 * - onAuthExpired(): close code 4001; resolves true to reconnect (with a renewed token), false to stop
 * - onSessionEnded(): close code 4003 (logged out elsewhere, password changed): stop
 */
export class Connection {
  constructor(options) {
    this.options = options;
    this.ws = null;
    this.state = 'stopped';
    this.attempt = 0;
    this.retryTimer = null;
    this.retryAt = null;
    this.pending = new Map();
    this.nextId = 1;
    this.heartbeatTimer = null;
    this.lastClose = null;
    this.lastDelay = null;
    this.lastTick = Date.now();
    this.wakeTimer = null;
    this.onOnline = () => this.retryNow();
    this.onVisible = () => {
      if (document.visibilityState !== 'visible') return;
      if (this.state === 'online') this.checkAlive();
      else this.retryNow();
    };
  }

  start() {
    if (this.state !== 'stopped') return;
    window.addEventListener('online', this.onOnline);
    document.addEventListener('visibilitychange', this.onVisible);
    // A laptop that slept: timers stop, so a big jump between ticks means we were away.
    this.lastTick = Date.now();
    this.wakeTimer = setInterval(() => {
      const now = Date.now();
      if (now - this.lastTick > 15000) {
        if (this.state === 'online') this.checkAlive();
        else this.retryNow();
      }
      this.lastTick = now;
    }, 5000);
    this.connect();
  }

  stop() {
    this.setState('stopped');
    clearTimeout(this.retryTimer);
    clearInterval(this.heartbeatTimer);
    clearInterval(this.wakeTimer);
    window.removeEventListener('online', this.onOnline);
    document.removeEventListener('visibilitychange', this.onVisible);
    if (this.ws) {
      this.detach(this.ws);
      try { this.ws.close(1000, 'logout'); } catch { /* ignore */ }
      this.ws = null;
    }
    this.failPending(new ConnectionLost('Logged out.'));
  }

  get isOpen() {
    return this.state === 'online';
  }

  setState(state) {
    this.state = state;
    this.options.onStatus?.({ state, attempt: this.attempt, retryAt: this.retryAt, delay: this.lastDelay, lastClose: this.lastClose });
  }

  connect() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.retryAt = null;
    if (this.ws) {
      this.detach(this.ws);
      try { this.ws.close(); } catch { /* ignore */ }
    }
    this.setState('connecting');
    let ws;
    try {
      ws = new WebSocket(this.options.url(), this.options.protocols?.());
    } catch (e) {
      this.lastClose = { code: 0, reason: String(e.message || e) };
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.__ready = false;
    ws.onmessage = (ev) => this.handleMessage(ws, ev);
    ws.onclose = (ev) => this.handleClose(ws, ev.code, ev.reason);
    ws.onerror = () => { /* the close event follows and says more */ };
  }

  detach(ws) {
    ws.onmessage = null;
    ws.onclose = null;
    ws.onerror = null;
  }

  handleMessage(ws, ev) {
    if (typeof ev.data !== 'string') return;
    let frame;
    try {
      frame = JSON.parse(ev.data);
    } catch {
      this.options.onFrame?.({ type: 'error', code: 'BAD_JSON', message: 'The server sent a frame that is not JSON.' });
      return;
    }
    if (frame.type === 'ready') {
      ws.__ready = true;
      this.lastClose = null;
      this.setState('online');
      clearInterval(this.heartbeatTimer);
      this.heartbeatTimer = setInterval(() => this.checkAlive(), HEARTBEAT_EVERY);
      this.options.onReady?.(frame);
      return;
    }
    if ((frame.type === 'ack' || frame.type === 'error' || frame.type === 'pong') && frame.id !== undefined && frame.id !== null) {
      const waiter = this.pending.get(String(frame.id));
      if (waiter) {
        this.pending.delete(String(frame.id));
        clearTimeout(waiter.timer);
        if (frame.type === 'error') waiter.reject(new ServerError(frame));
        else waiter.resolve(frame);
        return;
      }
    }
    this.options.onFrame?.(frame);
  }

  handleClose(ws, code, reason) {
    if (ws !== this.ws) return;
    this.detach(ws);
    this.ws = null;
    clearInterval(this.heartbeatTimer);
    this.lastClose = { code, reason };
    this.failPending(new ConnectionLost());
    if (this.state === 'stopped') return;
    if (code === 4003) {
      this.setState('stopped');
      this.options.onSessionEnded?.(reason || 'session ended');
      return;
    }
    if (code === 4001) {
      this.setState('offline');
      Promise.resolve(this.options.onAuthExpired?.())
        .then((again) => {
          if (this.state === 'stopped') return;
          if (again) this.connect();
          else this.stop();
        })
        .catch(() => this.scheduleRetry());
      return;
    }
    if (!ws.__ready && this.options.onClosedBeforeReady) {
      // Maybe the token is no longer valid (the upgrade answered 401, which a browser cannot see).
      this.setState('offline');
      Promise.resolve(this.options.onClosedBeforeReady())
        .then((keepTrying) => {
          if (keepTrying !== false && this.state !== 'stopped') this.scheduleRetry();
        })
        .catch(() => this.scheduleRetry());
      return;
    }
    this.scheduleRetry(code === 1013 ? 0 : undefined);
  }

  scheduleRetry(delayOverride) {
    if (this.state === 'stopped') return;
    const exp = Math.min(MAX_DELAY, BASE_DELAY * 2 ** this.attempt);
    const delay = delayOverride ?? Math.round(exp * (0.5 + Math.random() * 0.5));
    this.attempt += 1;
    this.lastDelay = delay;
    clearTimeout(this.retryTimer);
    this.retryAt = Date.now() + delay;
    this.retryTimer = setTimeout(() => this.connect(), delay);
    this.setState('offline');
  }

  /** The client caught up on this connection: the next failure starts the backoff from the beginning. */
  healthy() {
    this.attempt = 0;
  }

  /** Closes the current connection and reconnects with backoff. */
  drop(reason = 'client reset') {
    const ws = this.ws;
    if (!ws) return;
    try { ws.close(4000, reason); } catch { /* ignore */ }
    this.handleClose(ws, 4000, reason);
  }

  /** Try now instead of waiting for the backoff timer (network back, tab visible, button). */
  retryNow() {
    if (this.state === 'offline' && this.retryTimer) this.connect();
  }

  /** Hands the open connection a renewed access token, so it is not closed when the old one expires. */
  authenticate(token) {
    if (this.state !== 'online') return Promise.resolve(false);
    return this.request({ type: 'auth', token }).then(() => true, () => false);
  }

  /** Sends a ping and drops the connection if no pong comes back in time. */
  checkAlive() {
    if (this.state !== 'online') return;
    const ws = this.ws;
    this.request({ type: 'ping' }, HEARTBEAT_TIMEOUT).catch((e) => {
      if (ws && ws === this.ws && !(e instanceof ConnectionLost && this.ws !== ws)) {
        try { ws.close(4000, 'heartbeat timeout'); } catch { /* ignore */ }
        this.handleClose(ws, 4000, 'heartbeat timeout');
      }
    });
  }

  failPending(error) {
    for (const waiter of this.pending.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    this.pending.clear();
  }

  /** Fire and forget. Returns false when not connected. */
  send(frame) {
    if (this.state !== 'online' || !this.ws) return false;
    try {
      this.ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  /** Sends a request with an id and resolves with the server's ack (or pong). */
  request(frame, timeoutMs = 15000) {
    if (this.state !== 'online' || !this.ws) return Promise.reject(new ConnectionLost('Not connected to the server.'));
    const id = `r${this.nextId++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ConnectionLost('The server did not answer in time.'));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      try {
        this.ws.send(JSON.stringify({ ...frame, id }));
      } catch (e) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new ConnectionLost(String(e.message || e)));
      }
    });
  }
}
