// A task card: title, status, health dot, live activity feed, session count, cost and the
// "⚠ Blocked" badge. Built once, then updated in place.

import { h, setText, setChildren, icon } from './dom.js';
import { state, sessionsOfTask, taskHealth, blockedInfo } from './store.js';
import { HEALTH_LABELS, STATE_LABELS, STATUS_LABELS, STATUS_ORDER, clockTime, reveal, stateLabel } from './format.js';
import { openBlocked } from './approvals.js';
import { usd } from './cost.js';

/** Creates the card component for `taskId`; `actions` = {move(task, status), edit(task), remove(task)}. */
export function createCard(taskId, actions) {
  const dot = h('span', { class: 'health-dot', role: 'img' });
  const title = h('a', { class: 'card-title', href: `#/task/${encodeURIComponent(taskId)}` });
  const status = h('span', { class: 'status-pill' });
  const badge = h('button', { type: 'button', class: 'blocked-badge', hidden: true },
    h('span', { class: 'blocked-label', text: '⚠ Blocked' }),
    h('span', { class: 'blocked-text' }));
  const feed = h('ol', { class: 'card-feed', 'aria-live': 'polite', 'aria-label': 'Live activity' });
  const sessions = h('span', { class: 'card-sessions' });
  const cost = h('span', { class: 'card-cost', hidden: true });
  const latest = h('span', { class: 'state-badge', hidden: true });
  const left = h('button', { type: 'button', class: 'icon-btn move-left', 'aria-label': 'Move to the previous column', title: 'Move to the previous column' }, icon('left'));
  const right = h('button', { type: 'button', class: 'icon-btn move-right', 'aria-label': 'Move to the next column', title: 'Move to the next column' }, icon('right'));
  const edit = h('button', { type: 'button', class: 'icon-btn edit-task', 'aria-label': 'Edit task', title: 'Edit' }, icon('edit'));
  const del = h('button', { type: 'button', class: 'icon-btn icon-danger delete-task', 'aria-label': 'Delete task', title: 'Delete' }, icon('trash'));
  const el = h(
    'article',
    { class: 'card', draggable: 'true', dataset: { taskId } },
    h('header', { class: 'card-head' }, dot, title),
    h('div', { class: 'card-meta' }, status, latest, sessions, cost),
    badge,
    feed,
    h('footer', { class: 'card-foot' }, h('div', { class: 'card-moves' }, left, right), h('div', { class: 'card-tools' }, edit, del)),
  );
  const task = () => state.tasks.get(taskId);
  const move = (delta) => {
    const t = task();
    if (!t) return;
    const i = STATUS_ORDER.indexOf(t.status) + delta;
    if (i >= 0 && i < STATUS_ORDER.length) actions.move(t, STATUS_ORDER[i]);
  };
  left.addEventListener('click', () => move(-1));
  right.addEventListener('click', () => move(1));
  edit.addEventListener('click', () => task() && actions.edit(task()));
  del.addEventListener('click', () => task() && actions.remove(task()));
  badge.addEventListener('click', () => openBlocked(blockedInfo(taskId)));
  el.addEventListener('dragstart', (e) => {
    e.dataTransfer.setData('text/x-maestro-task', taskId);
    e.dataTransfer.effectAllowed = 'move';
    el.classList.add('dragging');
  });
  el.addEventListener('dragend', () => el.classList.remove('dragging'));

  let feedKey = null;
  function update() {
    const t = task();
    if (!t) return;
    const health = taskHealth(taskId);
    dot.className = `health-dot health-${health}`;
    dot.setAttribute('aria-label', `Health: ${HEALTH_LABELS[health] || health}`);
    dot.title = `Health: ${HEALTH_LABELS[health] || health}`;
    setText(title, t.title);
    status.className = `status-pill status-${t.status}`;
    setText(status, STATUS_LABELS[t.status] || t.status);
    const n = Math.max(t.session_count || 0, sessionsOfTask(taskId).length);
    setText(sessions, `${n} session${n === 1 ? '' : 's'}`);
    // Claude Code's own cost figures (OpenTelemetry), summed over the task's sessions.
    const c = state.taskCosts.get(taskId);
    cost.hidden = !c;
    if (c) {
      setText(cost, usd(c.cost_usd));
      cost.dataset.costUsd = String(c.cost_usd);
      cost.title = `Cost: ${usd(c.cost_usd)} over ${c.requests} model request${c.requests === 1 ? '' : 's'}`;
    }
    // The newest session's state: "Active" on SessionStart, "Completed" after SessionEnd.
    const newest = sessionsOfTask(taskId).sort((a, b) => (a.started_at < b.started_at ? 1 : -1))[0];
    // (Not when it repeats the task's status: "Blocked" + "Blocked".)
    latest.hidden = !newest || STATE_LABELS[newest.state] === STATUS_LABELS[t.status];
    if (newest) {
      latest.className = `state-badge state-${newest.state}`;
      setText(latest, stateLabel(newest));
      latest.title = `Latest session: ${stateLabel(newest)}${newest.machine ? ` on ${newest.machine}` : ''}`;
    }
    const info = blockedInfo(taskId);
    badge.hidden = !info;
    el.classList.toggle('is-blocked', !!info);
    if (info) {
      setText(badge.lastChild, reveal(info.text));
      badge.setAttribute('aria-label', `Blocked: ${info.text}. Open the permission request`);
    }
    const i = STATUS_ORDER.indexOf(t.status);
    left.disabled = i <= 0;
    right.disabled = i >= STATUS_ORDER.length - 1;
    const items = state.feeds.get(taskId) || [];
    const key = `${n}#` + items.map((x) => `${x.id}:${x.status}:${x.summary}`).join('|');
    if (key !== feedKey) {
      feedKey = key;
      if (!items.length) {
        setChildren(feed, h('li', { class: 'feed-empty', text: n ? 'No activity yet' : 'No sessions yet' }));
      } else {
        setChildren(
          feed,
          items.map((it) =>
            h('li', { class: ['feed-line', `st-${it.status}`], dataset: { itemId: String(it.id), kind: it.kind } },
              h('time', { datetime: it.at, text: clockTime(it.at) }),
              h('span', { class: 'feed-text', text: reveal(it.summary) }),
            ),
          ),
        );
      }
    }
  }
  update();
  return { el, update };
}
