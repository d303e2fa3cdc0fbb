// Live feed: `/ws?since=<last seq>` with cookie auth. Reconnects with exponential backoff and
// jitter, resumes from the last seq it saw, and never hands the same seq to the app twice.

import { applyMessage, setConn, loadAll } from './store.js';

const MIN_DELAY = 250;

/** Feed counters (also read by the browser tests). */
export const stats = { applied: 0, duplicates: 0, gaps: 0, connects: 0 };
window.__maestroFeed = stats;
const MAX_DELAY = 10000;

export class LiveFeed {
  constructor() {
    this.lastSeq = null;
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = false;
    this.everReady = false;
    this.countdown = null;
  }

  /** Starts from `since` (messages after it are replayed), or live when null. */
  start(since) {
    this.lastSeq = since;
    this.stopped = false;
    this.connect();
    window.addEventListener('online', () => this.retryNow());
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.countdown);
    if (this.ws) this.ws.close();
  }

  retryNow() {
    if (this.stopped || (this.ws && this.ws.readyState <= 1)) return;
    clearTimeout(this.timer);
    clearInterval(this.countdown);
    this.connect();
  }

  url() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const q = this.lastSeq === null ? '' : `?since=${this.lastSeq}`;
    return `${proto}//${location.host}/ws${q}`;
  }

  connect() {
    if (this.stopped) return;
    setConn(this.attempt ? 'reconnecting' : 'connecting', this.attempt ? `attempt ${this.attempt + 1}` : '');
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch (e) {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onmessage = (ev) => this.onMessage(ev);
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.scheduleReconnect();
    };
    ws.onerror = () => {
      // onclose follows.
    };
  }

  onMessage(ev) {
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (!msg || typeof msg.seq !== 'number') return;
    if (msg.seq === 0) {
      this.onControl(msg);
      return;
    }
    if (this.lastSeq !== null && msg.seq <= this.lastSeq) {
      stats.duplicates += 1; // never render a seq twice
      return;
    }
    if (this.lastSeq !== null && msg.seq > this.lastSeq + 1) stats.gaps += 1;
    stats.applied += 1;
    this.lastSeq = msg.seq;
    window.__maestroLastSeq = msg.seq;
    applyMessage(msg);
  }

  onControl(msg) {
    if (msg.type === 'ready') {
      stats.connects += 1;
      const wasReconnect = this.everReady;
      this.attempt = 0;
      this.everReady = true;
      if (this.lastSeq === null && msg.data && typeof msg.data.seq === 'number') {
        this.lastSeq = msg.data.seq;
      }
      window.__maestroLastSeq = this.lastSeq;
      setConn('live', '');
      if (wasReconnect) {
        // Refresh the snapshots (health may have moved while we were away); the timelines
        // were replayed from the feed.
        loadAll({ light: true }).catch(() => {});
      }
    } else if (msg.type === 'resync') {
      // Fell behind: reload the state and continue from where the server says.
      const seq = msg.data && typeof msg.data.seq === 'number' ? msg.data.seq : this.lastSeq;
      loadAll()
        .then(() => {
          this.lastSeq = seq;
          if (this.ws) this.ws.close();
        })
        .catch(() => {});
    }
  }

  scheduleReconnect() {
    if (this.stopped) return;
    if (this.attempt >= 1) {
      // A socket that keeps failing may mean the login expired (the upgrade answers 401).
      fetch('/api/me', { credentials: 'same-origin' })
        .then((r) => {
          if (r.status === 401 && !this.stopped) window.dispatchEvent(new CustomEvent('maestro:unauthorized'));
        })
        .catch(() => {});
    }
    const base = Math.min(MAX_DELAY, MIN_DELAY * 2 ** this.attempt);
    const delay = Math.round(base / 2 + Math.random() * (base / 2));
    this.attempt += 1;
    const until = Date.now() + delay;
    const show = () => {
      const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
      setConn('offline', left > 0 ? `retrying in ${left}s` : 'retrying…');
    };
    show();
    clearInterval(this.countdown);
    this.countdown = setInterval(show, 500);
    this.timer = setTimeout(() => {
      clearInterval(this.countdown);
      this.connect();
    }, delay);
  }
}

export const feed = new LiveFeed();
