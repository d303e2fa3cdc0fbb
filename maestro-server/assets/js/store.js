// Client state: tasks, sessions, pending approvals and the card activity feeds, kept up to
// date from REST snapshots and WebSocket messages. Views subscribe to topics.

import { Api } from './api.js';

export const FEED_LINES = 5;

export const state = {
  /** How long a held request waits for a decision (from /api/me), ms. */
  holdTimeoutMs: null,
  tasks: new Map(),
  sessions: new Map(),
  approvals: new Map(), // pending only
  feeds: new Map(), // task id -> last FEED_LINES timeline items, chronological
  taskCosts: new Map(), // task id -> cost totals (GET /api/cost/tasks)
  conn: { status: 'connecting', detail: '' },
  loaded: false,
};

const listeners = new Map();

/** Subscribes to a topic; returns the unsubscribe function. */
export function on(topic, fn) {
  if (!listeners.has(topic)) listeners.set(topic, new Set());
  listeners.get(topic).add(fn);
  return () => listeners.get(topic).delete(fn);
}

export function emit(topic, payload) {
  const set = listeners.get(topic);
  if (!set) return;
  for (const fn of [...set]) {
    try {
      fn(payload);
    } catch (e) {
      console.error(`listener for ${topic} failed`, e);
    }
  }
}

const TS = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(.*)$/;

/** A sortable key for an RFC 3339 UTC time: the fraction padded to 9 digits. */
export function timeKey(at) {
  const m = TS.exec(at || '');
  if (!m) return at || '';
  return `${m[1]}.${(m[2] || '').padEnd(9, '0')}${m[3]}`;
}

function keyOf(x) {
  if (x._k === undefined || x._kat !== x.at) {
    Object.defineProperty(x, '_k', { value: timeKey(x.at), writable: true, configurable: true, enumerable: false });
    Object.defineProperty(x, '_kat', { value: x.at, writable: true, configurable: true, enumerable: false });
  }
  return x._k;
}

/** Chronological order of timeline items (capture time, then id). */
export function byTime(a, b) {
  const ka = keyOf(a);
  const kb = keyOf(b);
  if (ka < kb) return -1;
  if (ka > kb) return 1;
  return a.id - b.id;
}

function upsertFeed(taskId, item) {
  const list = state.feeds.get(taskId) || [];
  const i = list.findIndex((x) => x.id === item.id);
  if (i >= 0) list[i] = item;
  else list.push(item);
  list.sort(byTime);
  while (list.length > FEED_LINES) list.shift();
  state.feeds.set(taskId, list);
}

/** (Re)loads a task card's activity feed from the server. */
export async function loadFeed(taskId) {
  try {
    const items = await Api.taskTimeline(taskId);
    state.feeds.set(taskId, items.slice(-FEED_LINES));
    emit('feeds', taskId);
  } catch (e) {
    if (e.status !== 404) console.warn('feed load failed', e);
  }
}

/** Loads tasks, sessions and pending approvals (and the card feeds unless `light`). */
export async function loadAll({ light = false } = {}) {
  const [tasks, sessions, approvals] = await Promise.all([
    Api.tasks(),
    Api.sessions('?limit=10000'),
    Api.pendingApprovals().catch(() => []),
  ]);
  state.tasks = new Map(tasks.map((t) => [t.id, t]));
  state.sessions = new Map(sessions.map((s) => [s.id, s]));
  state.approvals = new Map(approvals.filter((a) => a.status === 'pending').map((a) => [a.id, a]));
  state.loaded = true;
  emit('tasks');
  emit('sessions');
  emit('approvals', {});
  if (!light) {
    await Promise.all(tasks.map((t) => loadFeed(t.id)));
  }
}

/**
 * After a session moved between tasks, both cards' feeds are reloaded: its lines now belong to
 * the new task. Called for the session:updated message and for the PATCH answer, whichever
 * arrives first (the other then sees no change).
 */
export function reloadMovedFeeds(old, updated) {
  if (!old || old.task_id === updated.task_id) return;
  if (updated.task_id) loadFeed(updated.task_id);
  if (old.task_id) loadFeed(old.task_id);
}

/** Applies one WebSocket feed message (already deduplicated by seq). */
export function applyMessage(msg) {
  const d = msg.data;
  switch (msg.type) {
    case 'task:updated':
      if (d && d.id) {
        state.tasks.set(d.id, d);
        emit('tasks', d);
      }
      break;
    case 'task:deleted':
      if (d && d.id) {
        state.tasks.delete(d.id);
        state.feeds.delete(d.id);
        emit('tasks', { id: d.id, deleted: true });
      }
      break;
    case 'session:updated':
      if (d && d.id) {
        const old = state.sessions.get(d.id);
        state.sessions.set(d.id, d);
        emit('sessions', d);
        reloadMovedFeeds(old, d);
      }
      break;
    case 'timeline:item': {
      const taskId = (d && d.task_id) || msg.task_id;
      if (taskId) {
        upsertFeed(taskId, d);
        emit('feeds', taskId);
      }
      emit('timeline', d);
      break;
    }
    case 'approval:pending':
      if (d && d.id) {
        state.approvals.set(d.id, d);
        emit('approvals', { pending: d });
      }
      break;
    case 'cost:updated':
      emit('cost', msg);
      break;
    case 'tool:telemetry':
      emit('tooltelemetry', msg);
      break;
    case 'approval:resolved':
      if (d && d.id) {
        state.approvals.delete(d.id);
        emit('approvals', { resolved: d });
      }
      break;
    default:
      // Live counts: every hook event carries its session's event count.
      if (msg.type.startsWith('hook:') && d && typeof d.session_event_count === 'number' && msg.session_id) {
        const s = state.sessions.get(msg.session_id);
        if (s && d.session_event_count > s.event_count) {
          const next = { ...s, event_count: d.session_event_count };
          // ... and its capture time is the session's last activity (Sessions view's sort).
          if (msg.at && timeKey(msg.at) > timeKey(s.last_event_at)) next.last_event_at = msg.at;
          state.sessions.set(s.id, next);
          emit('sessions', next);
        }
      }
      break;
  }
  emit('message', msg);
}

/** How long cost messages are gathered before the board's totals are fetched again (ms). */
export const TASK_COSTS_DELAY_MS = 1000;
let costsTimer = null;
let costsInFlight = false;
let costsAgain = false;

async function fetchTaskCosts() {
  costsTimer = null;
  if (costsInFlight) {
    costsAgain = true;
    return;
  }
  costsInFlight = true;
  try {
    const list = await Api.taskCosts();
    state.taskCosts = new Map(list.map((c) => [c.task_id, c]));
    emit('taskcosts');
  } catch (e) {
    console.warn('task costs load failed', e);
  } finally {
    costsInFlight = false;
    if (costsAgain) {
      costsAgain = false;
      loadTaskCosts();
    }
  }
}

/**
 * (Re)loads every task's cost totals in one request. Calls within TASK_COSTS_DELAY_MS of each
 * other share one request (a storm of `cost:updated` messages costs one fetch a second, however
 * many tasks the board has); `now` fetches without waiting (first render).
 */
export function loadTaskCosts(now = false) {
  if (now) {
    clearTimeout(costsTimer);
    fetchTaskCosts();
  } else if (!costsTimer) {
    costsTimer = setTimeout(fetchTaskCosts, TASK_COSTS_DELAY_MS);
  }
}

/** Sum of the board's task totals (USD). */
export function boardCost() {
  let sum = 0;
  for (const id of state.tasks.keys()) {
    const c = state.taskCosts.get(id);
    if (c) sum += c.cost_usd;
  }
  return sum;
}

export function setConn(status, detail = '') {
  state.conn = { status, detail };
  emit('conn', state.conn);
}

export function sessionsOfTask(taskId) {
  return [...state.sessions.values()].filter((s) => s.task_id === taskId);
}

const HEALTH_RANK = { active: 0, idle: 1, stale: 2, ended: 3 };

/** The task's health: the liveliest of its running sessions; `ended` / `none` otherwise. */
export function taskHealth(taskId) {
  const ss = sessionsOfTask(taskId);
  if (!ss.length) return 'none';
  let best = 'ended';
  for (const s of ss) {
    if ((HEALTH_RANK[s.health] ?? 3) < HEALTH_RANK[best]) best = s.health;
  }
  return best;
}

/** Pending approvals of a task, oldest first. */
export function approvalsOfTask(taskId) {
  return [...state.approvals.values()]
    .filter((a) => a.task_id === taskId)
    .sort((a, b) => (a.created_at < b.created_at ? -1 : 1));
}

/** What a blocked task is waiting for: `{text, approval?, session?}` or null. */
export function blockedInfo(taskId) {
  const pending = approvalsOfTask(taskId);
  if (pending.length) {
    const a = pending[0];
    const more = pending.length > 1 ? ` (+${pending.length - 1} more)` : '';
    return { text: `${a.summary}${more}`, approval: a };
  }
  const blocked = sessionsOfTask(taskId).filter((s) => s.state === 'blocked');
  if (blocked.length) {
    return { text: blocked[0].blocked_on || 'Waiting for permission', session: blocked[0] };
  }
  const t = state.tasks.get(taskId);
  if (t && t.blocked_sessions > 0) return { text: 'Waiting for permission' };
  return null;
}

/** Pending approval of a session, if any. */
export function approvalOfSession(sessionId) {
  return [...state.approvals.values()].find((a) => a.session_id === sessionId) || null;
}
