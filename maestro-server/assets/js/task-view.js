// Task view: the task, its sessions, "Start session", and the timeline (with each tool call's
// telemetry), cost-over-time chart, tool chart and error log aggregated over all its sessions.

import { h, setChildren, setText, debounce, rafThrottle } from './dom.js';
import { Api } from './api.js';
import { state, on, emit, sessionsOfTask, taskHealth, blockedInfo } from './store.js';
import { createTimeline } from './timeline.js';
import { createToolChart } from './chart.js';
import { createCostPanel } from './cost.js';
import { createErrorLog } from './errors.js';
import { openTaskForm, deleteTask } from './board.js';
import { openBlocked } from './approvals.js';
import { kv, panel } from './session-view.js';
import { HEALTH_LABELS, STATUS_LABELS, duration, plural, relative, shortId, stateLabel } from './format.js';

export function mountTask(root, id) {
  const timeline = createTimeline({ showSession: true, label: 'Task timeline' });
  const chart = createToolChart();
  const cost = createCostPanel({ showSession: true });
  const errors = createErrorLog({ showSession: true });
  const title = h('h1');
  const status = h('span', { class: 'status-pill' });
  const healthDot = h('span', { class: 'health-dot', role: 'img' });
  const healthText = h('span');
  const desc = h('p', { class: 'task-desc' });
  const wd = h('span', { class: 'mono small' });
  const count = h('span');
  const blocked = h('button', { type: 'button', class: 'blocked-badge', hidden: true },
    h('span', { class: 'blocked-label', text: '⚠ Blocked' }), h('span', { class: 'blocked-text' }));
  blocked.addEventListener('click', () => openBlocked(blockedInfo(id)));
  const sessionsList = h('ul', { class: 'session-list' });

  const prompt = h('textarea', { class: 'input', id: 'spawn-prompt', rows: '3', placeholder: 'What should Claude do? e.g. “Fix the failing login test”' });
  const spawnErr = h('p', { class: 'form-error', id: 'spawn-error', role: 'alert', hidden: true });
  const spawnBtn = h('button', { type: 'submit', class: 'btn btn-primary', id: 'spawn-btn', text: 'Start session' });
  const spawnDir = h('input', { class: 'input mono', id: 'spawn-dir', placeholder: 'Working directory (default: the task’s)' });
  const spawnMode = h('select', { class: 'input', id: 'spawn-mode' },
    h('option', { value: '', text: 'Default mode' }),
    ['acceptEdits', 'auto', 'plan', 'dontAsk', 'bypassPermissions'].map((m) => h('option', { value: m, text: m })));
  const spawnForm = h('form', { class: 'spawn-form', id: 'spawn-form' },
    h('label', { class: 'field-label', for: 'spawn-prompt', text: 'Start a Claude Code session' }), prompt,
    h('div', { class: 'form-row' },
      h('div', {}, h('label', { class: 'sr-only', for: 'spawn-dir', text: 'Working directory' }), spawnDir),
      h('div', {}, h('label', { class: 'sr-only', for: 'spawn-mode', text: 'Permission mode' }), spawnMode)),
    h('p', { class: 'muted small spawn-note', id: 'spawn-mode-note',
      text: 'Default mode: whenever Claude Code asks for permission, the request waits for you here in Maestro '
        + '(Claude Code 2.1.268+ asks through its PermissionRequest hook, older versions through the SDK '
        + 'permission prompt, which Maestro answers the same way). A request nobody answers in time is refused, '
        + 'and the session\'s Result shows the refusal.' }),
    spawnErr,
    h('div', { class: 'form-actions' }, spawnBtn));
  spawnForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    spawnErr.hidden = true;
    const text = prompt.value.trim();
    if (!text) {
      spawnErr.textContent = 'Write a prompt for the new session first.';
      spawnErr.hidden = false;
      prompt.focus();
      return;
    }
    spawnBtn.disabled = true;
    setText(spawnBtn, 'Starting…');
    try {
      const body = { prompt: text };
      if (spawnDir.value.trim()) body.working_dir = spawnDir.value.trim();
      if (spawnMode.value) body.permission_mode = spawnMode.value;
      const s = await Api.startSession(id, body);
      state.sessions.set(s.id, s);
      emit('sessions', s);
      prompt.value = '';
      location.hash = `#/session/${encodeURIComponent(s.id)}`;
    } catch (err) {
      spawnErr.textContent = `Could not start a session: ${err.message}${err.code && err.code !== 'network' ? ` (${err.code})` : ''}`;
      spawnErr.hidden = false;
    } finally {
      spawnBtn.disabled = false;
      setText(spawnBtn, 'Start session');
    }
  });

  const editBtn = h('button', { type: 'button', class: 'btn btn-sm', text: 'Edit' });
  const delBtn = h('button', { type: 'button', class: 'btn btn-sm btn-danger', text: 'Delete' });
  editBtn.addEventListener('click', () => state.tasks.get(id) && openTaskForm(state.tasks.get(id)));
  delBtn.addEventListener('click', () => state.tasks.get(id) && deleteTask(state.tasks.get(id), () => { location.hash = '#/board'; }));

  root.append(
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/board', text: 'Board' }), ' / ', h('span', { text: 'Task' })),
    h('div', { class: 'page-head' }, h('div', { class: 'head-title' }, title, blocked), h('div', { class: 'head-actions' }, editBtn, delBtn)),
    desc,
    h('dl', { class: 'stats' }, kv('Status', status), kv('Health', h('span', { class: 'inline' }, healthDot, healthText)), kv('Sessions', count), kv('Working directory', wd)),
    h('div', { class: 'detail-grid' },
      h('div', { class: 'detail-main' }, panel('Timeline (all sessions)', timeline.el, timeline.countEl)),
      h('div', { class: 'detail-side' },
        panel('Sessions', h('div', {}, sessionsList, spawnForm)),
        panel('Cost', cost.el),
        panel('Tool usage', chart.el),
        panel('Error log', errors.el, errors.count))),
  );

  let sessKey = '';
  function renderHead() {
    const t = state.tasks.get(id);
    if (!t) return;
    setText(title, t.title);
    status.className = `status-pill status-${t.status}`;
    setText(status, STATUS_LABELS[t.status] || t.status);
    const hl = taskHealth(id);
    healthDot.className = `health-dot health-${hl}`;
    healthDot.setAttribute('aria-label', `Health: ${hl}`);
    setText(healthText, HEALTH_LABELS[hl] || hl);
    setText(desc, t.description || '');
    desc.hidden = !t.description;
    setText(wd, t.working_dir || '—');
    if (!spawnDir.value && document.activeElement !== spawnDir && t.working_dir) spawnDir.value = t.working_dir;
    const info = blockedInfo(id);
    blocked.hidden = !info;
    if (info) setText(blocked.lastChild, info.text);
    const ss = sessionsOfTask(id).sort((a, b) => (a.started_at < b.started_at ? 1 : -1));
    setText(count, String(Math.max(ss.length, t.session_count)));
    const k = ss.map((s) => `${s.id}:${s.state}:${s.health}:${s.event_count}`).join('|');
    if (k !== sessKey) {
      sessKey = k;
      setChildren(sessionsList, ss.length ? ss.map((s) => h('li', { class: 'session-item' },
        h('span', { class: `health-dot health-${s.health}`, role: 'img', 'aria-label': `Health: ${s.health}` }),
        h('a', { href: `#/session/${encodeURIComponent(s.id)}`, class: 'mono', text: shortId(s.id) }),
        h('span', { class: `state-badge state-${s.state}`, text: stateLabel(s) }),
        h('span', { class: 'muted small', text: `${plural(s.event_count, 'event')} · ${duration(s.duration_ms)} · ${relative(s.last_event_at || s.started_at)}` }))) :
        h('li', { class: 'muted', text: 'No sessions yet. Start one below, or attach an unassigned session from the board.' }));
    }
  }

  const refreshMetrics = debounce(async () => {
    try { chart.update(await Api.taskMetrics(id)); } catch { /* keep */ }
  }, 250);
  const refreshAll = debounce(() => load(), 300);
  const refreshCost = debounce(async () => {
    try { cost.update(await Api.taskCost(id)); } catch { /* keep */ }
  }, 300);
  const refreshTelemetry = debounce(async () => {
    try { timeline.setTelemetry(await Api.taskToolTelemetry(id)); } catch { /* keep */ }
  }, 300);
  // A cost or telemetry message of this task (or of one of its sessions, or of a Claude
  // session not joined yet: it may be one of ours).
  const ours = (msg) => msg.task_id === id || (msg.session_id ? mine.has(msg.session_id) : true);

  async function load() {
    try {
      const [t, items, m, errs, c, tel] = await Promise.all([Api.task(id), Api.taskTimeline(id), Api.taskMetrics(id),
        Api.taskErrors(id), Api.taskCost(id), Api.taskToolTelemetry(id)]);
      state.tasks.set(t.id, t);
      renderHead();
      timeline.setItems(items);
      timeline.setTelemetry(tel);
      chart.update(m);
      errors.setItems(errs);
      cost.update(c);
    } catch (e) {
      setChildren(root, h('div', { class: 'empty-state' },
        h('h1', { text: 'Task not found' }), h('p', { class: 'muted', text: e.message }), h('a', { href: '#/board', class: 'btn', text: 'Back to the board' })));
    }
  }
  const mine = new Set(sessionsOfTask(id).map((s) => s.id));
  const head = rafThrottle(renderHead);
  const offs = [
    on('timeline', (it) => {
      if (!it || (it.task_id !== id && !mine.has(it.session_id))) return;
      timeline.upsert(it);
      errors.upsert(it);
      if (it.tool_name) refreshMetrics();
    }),
    on('sessions', (s) => {
      if (s && s.task_id === id && !mine.has(s.id)) {
        mine.add(s.id);
        refreshAll(); // an attached session brings its history
      } else if (s && s.task_id !== id && mine.has(s.id)) {
        mine.delete(s.id);
        refreshAll();
      }
      head();
    }),
    on('tasks', (t) => {
      if (t && t.deleted && t.id === id) {
        location.hash = '#/board';
        return;
      }
      head();
    }),
    on('approvals', head),
    on('cost', (msg) => { if (ours(msg)) refreshCost(); }),
    on('tooltelemetry', (msg) => { if (ours(msg)) refreshTelemetry(); }),
  ];
  renderHead();
  load();
  return () => offs.forEach((f) => f());
}
