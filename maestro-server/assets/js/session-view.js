// Session view: state and health, start / end / duration, the live timeline grouped by
// turn (with Claude Code's own telemetry on each tool call), the cost-over-time chart with
// tokens per model and turn, the tool-usage chart with p50 / p95, the error log and the raw
// event of any line.

import { h, setChildren, setText, debounce, rafThrottle } from './dom.js';
import { Api } from './api.js';
import { state, on, approvalOfSession } from './store.js';
import { createTimeline } from './timeline.js';
import { createToolChart } from './chart.js';
import { createCostPanel } from './cost.js';
import { createErrorLog } from './errors.js';
import { taskPicker, attach } from './unassigned.js';
import { openApproval, openBlockedInfo } from './approvals.js';
import { openDialog } from './modal.js';
import { toast } from './toasts.js';
import { HEALTH_LABELS, shortDateTime, duration, parseTime, reveal, shortId, stateLabel } from './format.js';

export function kv(label, valueEl) {
  return h('div', { class: 'stat' }, h('dt', { text: label }), h('dd', {}, valueEl));
}

export function panel(title, body, extra) {
  return h('section', { class: 'panel' }, h('header', { class: 'panel-head' }, h('h2', { text: title }), extra || null), body);
}

function liveDuration(s) {
  if (!s) return null;
  const start = parseTime(s.started_at);
  if (!start) return s.duration_ms;
  const end = parseTime(s.ended_at);
  if (end) return end - start;
  if (['completed', 'failed', 'lost'].includes(s.state)) return s.duration_ms;
  return Date.now() - start;
}

export function mountSession(root, id) {
  const timeline = createTimeline({ label: 'Session timeline' });
  const chart = createToolChart();
  const cost = createCostPanel();
  const errors = createErrorLog();
  const title = h('h1');
  const crumbs = h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' });
  const stateBadge = h('span', { class: 'state-badge', id: 'session-state' });
  const healthDot = h('span', { class: 'health-dot', role: 'img' });
  const healthText = h('span');
  const started = h('span');
  const ended = h('span');
  const dur = h('span', { id: 'session-duration' });
  const events = h('span', { id: 'session-events' });
  const toolCalls = h('span', { id: 'session-tool-calls', text: '—' });
  const dir = h('span', { class: 'mono small' });
  const machine = h('span', { id: 'session-machine' });
  const endReason = h('span');
  const resultText = h('pre', { class: 'raw result-text' });
  const resultMeta = h('p', { class: 'muted small pad' });
  const resultPanel = panel('Result', h('div', {}, resultMeta, h('div', { class: 'pad-x' }, resultText)));
  resultPanel.hidden = true;
  const blocked = h('button', { type: 'button', class: 'blocked-badge', hidden: true },
    h('span', { class: 'blocked-label', text: '⚠ Blocked' }), h('span', { class: 'blocked-text' }));
  const actions = h('div', { class: 'head-actions' });
  const stats = h('dl', { class: 'stats' },
    kv('State', stateBadge),
    kv('Health', h('span', { class: 'inline' }, healthDot, healthText)),
    kv('Started', started), kv('Ended', ended), kv('Duration', dur), kv('Events', events), kv('Tool calls', toolCalls),
    kv('Project', dir), kv('Machine', machine), kv('End reason', endReason));
  const layout = h('div', { class: 'detail-grid' },
    h('div', { class: 'detail-main' }, panel('Timeline', timeline.el, timeline.countEl)),
    h('div', { class: 'detail-side' },
      resultPanel,
      panel('Cost', cost.el),
      panel('Tool usage', chart.el),
      panel('Error log', errors.el, errors.count)));
  root.append(crumbs, h('div', { class: 'page-head' }, h('div', { class: 'head-title' }, title, blocked), actions), stats, layout);

  let session = state.sessions.get(id) || null;
  let actionsKey = '';

  function renderHead() {
    const s = session;
    if (!s) return;
    const task = s.task_id ? state.tasks.get(s.task_id) : null;
    setChildren(crumbs, h('a', { href: '#/board', text: 'Board' }), ' / ',
      task ? h('a', { href: `#/task/${encodeURIComponent(task.id)}`, text: task.title }) : h('span', { class: 'muted', text: 'Unassigned' }),
      ' / ', h('span', { text: `Session ${shortId(s.id)}` }));
    setText(title, `Session ${shortId(s.id)}`);
    title.title = s.id;
    stateBadge.className = `state-badge state-${s.state}`;
    setText(stateBadge, stateLabel(s));
    healthDot.className = `health-dot health-${s.health}`;
    healthDot.setAttribute('aria-label', `Health: ${s.health}`);
    setText(healthText, HEALTH_LABELS[s.health] || s.health);
    setText(started, shortDateTime(s.started_at));
    started.title = s.started_at;
    setText(ended, s.ended_at ? shortDateTime(s.ended_at) : '—');
    setText(dur, duration(liveDuration(s)));
    setText(events, String(s.event_count));
    setText(dir, s.project_dir || s.cwd || '—');
    // The machine the server verified (its credential); else the host the hook reported.
    setText(machine, s.machine ? `${s.machine}${s.host ? ` (${s.host})` : ''}` : (s.host || '—'));
    setText(endReason, s.end_reason ? `${s.end_reason}${s.exit_code !== null && s.exit_code !== undefined ? ` (exit ${s.exit_code})` : ''}` : '—');
    // Spawned headless sessions end with a stream-json `result` record.
    const r = s.result && typeof s.result === 'object' ? s.result : null;
    resultPanel.hidden = !r;
    if (r) {
      const bits = [];
      // `is_error: true` comes with `subtype: "success"` (an API error): say "error", with the
      // HTTP status when there is one, and name calls refused without asking.
      if (r.is_error === true) {
        bits.push(typeof r.api_error_status === 'number' ? `error (API error ${r.api_error_status})` : 'error');
      } else if (r.subtype) bits.push(String(r.subtype));
      const denials = Array.isArray(r.permission_denials) ? r.permission_denials : [];
      if (denials.length) {
        const tools = [...new Set(denials.map((d) => (d && d.tool_name) || 'a tool'))];
        bits.push(`${denials.length} permission denial${denials.length === 1 ? '' : 's'} (${tools.join(', ')})`);
      }
      resultMeta.classList.toggle('result-error', r.is_error === true);
      resultMeta.classList.toggle('result-warning', r.is_error !== true && denials.length > 0);
      if (typeof r.total_cost_usd === 'number') bits.push(`$${r.total_cost_usd.toFixed(4)}`);
      if (typeof r.num_turns === 'number') bits.push(`${r.num_turns} turn${r.num_turns === 1 ? '' : 's'}`);
      if (typeof r.duration_ms === 'number') bits.push(duration(r.duration_ms));
      setText(resultMeta, bits.join(' · '));
      setText(resultText, typeof r.result === 'string' ? r.result : JSON.stringify(r, null, 2));
    }
    const appr = approvalOfSession(s.id);
    const blockedText = appr ? appr.summary : s.state === 'blocked' ? s.blocked_on || 'Waiting for permission' : null;
    blocked.hidden = !blockedText;
    if (blockedText) setText(blocked.lastChild, reveal(blockedText));
    const key = `${s.task_id}:${s.state}:${s.spawned}:${state.tasks.size}`;
    if (key !== actionsKey) {
      actionsKey = key;
      const picker = taskPicker('session-attach', s.task_id);
      const attachBtn = h('button', { type: 'button', class: 'btn btn-sm', text: s.task_id ? 'Move' : 'Attach' });
      attachBtn.addEventListener('click', async () => {
        if (!picker.value && !s.task_id) { picker.focus(); return; }
        attachBtn.disabled = true;
        try { session = await attach(s.id, picker.value || null); renderHead(); } catch { /* toasted */ } finally { attachBtn.disabled = false; }
      });
      const running = !['completed', 'failed', 'lost'].includes(s.state);
      const stop = running && s.spawned ? h('button', { type: 'button', class: 'btn btn-danger btn-sm', id: 'session-stop', text: 'Stop session' }) : null;
      if (stop) {
        // Stopping kills the agent's process: ask first.
        stop.addEventListener('click', () => {
          openDialog({
            title: 'Stop this session?',
            label: 'Stop the session',
            content: h('p', { text: 'Claude Code is terminated (SIGTERM, then SIGKILL after a grace period). Work it has not saved is lost; the session is marked stopped by the operator.' }),
            actions: [
              { label: 'Cancel', kind: 'ghost', id: 'session-stop-cancel' },
              {
                label: 'Stop session',
                kind: 'danger',
                id: 'session-stop-confirm',
                onClick: async () => {
                  session = await Api.stopSession(s.id);
                  renderHead();
                  return true;
                },
              },
            ],
          });
        });
      }
      setChildren(actions, h('label', { class: 'sr-only', for: 'session-attach', text: 'Task' }), picker, attachBtn, stop);
    }
  }
  blocked.addEventListener('click', () => {
    const a = approvalOfSession(id);
    if (a) openApproval(a);
    else openBlockedInfo(session, session && session.blocked_on);
  });

  const showMetrics = (m) => {
    chart.update(m);
    if (m && typeof m.total_calls === 'number') setText(toolCalls, String(m.total_calls));
  };
  const refreshMetrics = debounce(async () => {
    try { showMetrics(await Api.sessionMetrics(id)); } catch { /* keep the last */ }
  }, 250);

  // Cost and tool telemetry arrive through Claude Code's exporter, seconds after the hooks:
  // their messages name the Claude session (the Maestro one is null before the first hook).
  const ours = (msg) => msg.session_id === id
    || (session && session.claude_session_id && msg.data && msg.data.claude_session_id === session.claude_session_id);
  const refreshCost = debounce(async () => {
    try { cost.update(await Api.sessionCost(id)); } catch { /* keep the last */ }
  }, 300);
  const refreshTelemetry = debounce(async () => {
    try { timeline.setTelemetry(await Api.sessionToolTelemetry(id)); } catch { /* keep the last */ }
  }, 300);

  async function load() {
    try {
      const [s, items, m, errs, c, tel] = await Promise.all([
        Api.session(id), Api.sessionTimeline(id), Api.sessionMetrics(id), Api.sessionErrors(id),
        Api.sessionCost(id), Api.sessionToolTelemetry(id),
      ]);
      session = s;
      renderHead();
      timeline.setItems(items);
      timeline.setTelemetry(tel);
      showMetrics(m);
      errors.setItems(errs);
      cost.update(c);
    } catch (e) {
      setChildren(root, h('div', { class: 'empty-state' },
        h('h1', { text: 'Session not found' }), h('p', { class: 'muted', text: e.message }), h('a', { href: '#/board', class: 'btn', text: 'Back to the board' })));
    }
  }

  const head = rafThrottle(renderHead);
  const offs = [
    on('timeline', (it) => {
      if (!it || it.session_id !== id) return;
      timeline.upsert(it);
      errors.upsert(it);
      if (it.tool_name) refreshMetrics();
    }),
    on('sessions', (s) => {
      if (s && s.id === id) session = s;
      else if (!s) session = state.sessions.get(id) || session;
      else return;
      head();
    }),
    on('approvals', head),
    on('tasks', head),
    on('cost', (msg) => { if (ours(msg)) refreshCost(); }),
    on('tooltelemetry', (msg) => { if (ours(msg)) refreshTelemetry(); }),
  ];
  const ticker = setInterval(() => session && setText(dur, duration(liveDuration(session))), 1000);
  renderHead();
  load();
  return () => {
    offs.forEach((f) => f());
    clearInterval(ticker);
  };
}
