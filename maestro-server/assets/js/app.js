// Entry point: login check, hash router (#/board, #/task/ID, #/session/ID, #/activity?…,
// #/sessions?…, #/webhooks), live feed.

import { h } from './dom.js';
import { Api } from './api.js';
import { state, on, loadAll } from './store.js';
import { feed } from './ws.js';
import { mountLogin } from './login.js';
import { mountBoard } from './board.js';
import { mountSession } from './session-view.js';
import { mountTask } from './task-view.js';
import { mountActivity } from './activity.js';
import { mountSessions } from './sessions-list.js';
import { mountWebhooks } from './webhooks.js';
import { initToasts } from './toasts.js';
import { initApprovals } from './approvals.js';
import { initNotifications } from './notify.js';

// Uncaught errors are kept for the browser tests (and are visible in the console).
window.__maestroErrors = [];
window.addEventListener('error', (e) => window.__maestroErrors.push(String(e.message)));
window.addEventListener('unhandledrejection', (e) => window.__maestroErrors.push(String((e.reason && e.reason.message) || e.reason)));

const main = document.getElementById('main');
const topbar = document.getElementById('topbar');
let unmount = null;
let started = false;

function route() {
  if (!started) return;
  if (unmount) unmount();
  unmount = null;
  main.replaceChildren();
  // A view's filters follow `?` (deep links, see links.js).
  const hash = (location.hash || '#/board').split('?')[0];
  const m = hash.match(/^#\/(board|task|session|activity|sessions|webhooks)(?:\/(.+))?$/);
  const view = m ? m[1] : 'board';
  const id = m && m[2] ? decodeURIComponent(m[2]) : null;
  for (const v of ['board', 'activity', 'sessions', 'webhooks']) {
    const link = document.getElementById(`nav-${v}`);
    link.classList.toggle('active', view === v);
    if (view === v) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const page = h('div', { class: ['page', `page-${view}`] });
  main.append(page);
  if (view === 'session' && id) {
    document.title = 'Session · Maestro';
    unmount = mountSession(page, id);
  } else if (view === 'task' && id) {
    document.title = 'Task · Maestro';
    unmount = mountTask(page, id);
  } else if (view === 'activity') {
    document.title = 'Activity · Maestro';
    unmount = mountActivity(page);
  } else if (view === 'webhooks') {
    document.title = 'Webhooks · Maestro';
    unmount = mountWebhooks(page);
  } else if (view === 'sessions') {
    document.title = 'Sessions · Maestro';
    unmount = mountSessions(page);
  } else {
    document.title = 'Board · Maestro';
    unmount = mountBoard(page);
  }
  document.body.dataset.view = view;
  // A new page starts at its top, not at the previous page's scroll position.
  window.scrollTo(0, 0);
  if (state.approvals.size) document.title = `(${state.approvals.size}) ${document.title}`;
}

function renderConn(c) {
  const el = document.getElementById('conn');
  el.dataset.status = c.status;
  const label = { live: 'Live', connecting: 'Connecting…', reconnecting: 'Reconnecting…', offline: 'Offline' }[c.status] || c.status;
  el.querySelector('.conn-label').textContent = c.detail ? `${label} · ${c.detail}` : label;
  el.title = c.status === 'live' ? 'Connected: updates arrive live' : 'Not connected: updates resume from where they stopped';
}

/** "Logged in as NAME" in the top bar (named operators; the server's own token is "operator"). */
async function showWho() {
  const el = document.getElementById('whoami');
  try {
    const me = await Api.me();
    if (me && typeof me.hold_timeout_ms === 'number') state.holdTimeoutMs = me.hold_timeout_ms;
    el.textContent = me && me.name ? me.name : '';
    el.title = me && me.name ? `Logged in as ${me.name}` : '';
  } catch {
    el.textContent = '';
  }
}

async function start() {
  started = true;
  topbar.hidden = false;
  document.body.classList.remove('logged-out');
  showWho();
  main.replaceChildren(h('p', { class: 'muted pad loading', text: 'Loading…' }));
  let since = null;
  try {
    since = await Api.latestSeq();
  } catch {
    since = null;
  }
  try {
    await loadAll();
  } catch (e) {
    if (e.status === 401) {
      showLogin();
      return;
    }
  }
  feed.start(since);
  route();
}

function showLogin() {
  started = false;
  feed.stop();
  if (unmount) unmount();
  unmount = null;
  topbar.hidden = true;
  document.body.classList.add('logged-out');
  mountLogin(main, () => start());
}

async function boot() {
  initToasts();
  initApprovals();
  initNotifications();
  on('conn', renderConn);
  renderConn(state.conn);
  window.addEventListener('hashchange', route);
  window.addEventListener('maestro:unauthorized', () => {
    if (started) showLogin();
  });
  document.getElementById('logout-btn').addEventListener('click', async () => {
    try { await Api.logout(); } catch { /* ignore */ }
    showLogin();
  });
  try {
    await Api.me();
    await start();
  } catch {
    showLogin();
  }
}

boot();
