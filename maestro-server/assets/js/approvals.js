// Permission approvals: the modal (approve / deny with an optional reason) and the global
// pending list in the top bar. A decision made anywhere closes the modal everywhere
// (on `approval:resolved`).

import { h, setChildren } from './dom.js';
import { openDialog } from './modal.js';
import { api } from './api.js';
import { on, state, emit } from './store.js';
import { toast } from './toasts.js';
import { clockTime, relative, reveal, shortId, toolSubject } from './format.js';

let openModal = null; // { id, dialog }

function row(label, value, opts) {
  return h(
    'div',
    { class: 'kv-row' },
    h('dt', { text: label }),
    h('dd', { class: opts && opts.mono ? 'mono' : null }, value),
  );
}

function subjectLabel(input) {
  if (input && typeof input === 'object') {
    if (input.command) return 'Command';
    if (input.file_path || input.path || input.notebook_path) return 'Path';
    if (input.url) return 'URL';
    if (input.pattern) return 'Pattern';
  }
  return 'Input';
}

/**
 * One toast per decision: the deciding page's HTTP answer and the feed's approval:resolved
 * arrive in either order; whichever comes second says nothing.
 */
const decidedToasts = new Set();
function decisionToast(approvalId, t) {
  if (decidedToasts.has(approvalId)) return;
  decidedToasts.add(approvalId);
  if (decidedToasts.size > 500) decidedToasts.delete(decidedToasts.values().next().value);
  toast(t);
}

function dropToasts(approvalId) {
  for (const t of document.querySelectorAll('.toast[data-approval-id]')) {
    if (t.dataset.approvalId === approvalId) t.remove();
  }
}

/** Opens the permission modal for a pending approval. */
export function openApproval(approval) {
  const a = approval;
  dropToasts(a.id);
  const task = a.task_id ? state.tasks.get(a.task_id) : null;
  const session = state.sessions.get(a.session_id);
  const reason = h('textarea', {
    id: 'approval-reason',
    autofocus: true,
    class: 'input',
    rows: '2',
    placeholder: 'Optional: told to Claude on deny, kept in the audit log',
  });
  const subject = reveal(toolSubject(a.tool_input));
  const budget = isBudgetHold(a);
  const limit = h('input', {
    id: 'approval-budget',
    class: 'input input-sm budget-input',
    type: 'number',
    min: '0.01',
    step: '0.01',
    value: String(suggestedLimit(a)),
    'aria-label': 'New spend limit in USD',
  });
  const content = h(
    'div',
    { class: 'approval' },
    h(
      'p',
      { class: 'approval-lead' },
      budget
        ? 'This task reached its spend limit: its next tool call waits until you raise the limit or decide this call.'
        : 'A session wants to run a tool that the policy holds for a human decision.',
    ),
    h(
      'dl',
      { class: 'kv' },
      row('Tool', h('span', { class: 'tool-chip', text: a.tool_name || a.event })),
      row(subjectLabel(a.tool_input), h('code', { class: 'approval-subject', text: subject }), { mono: true }),
      row('Rule', h('code', { text: a.rule_id || '—' })),
      row('Reason', reveal(a.reason) || '—'),
      row(
        'Session',
        h('span', {},
          h('a', { href: `#/session/${encodeURIComponent(a.session_id)}`, class: 'mono', text: shortId(a.session_id) }),
          session && session.project_dir ? h('span', { class: 'muted small', text: ` · ${session.project_dir}` }) : null),
      ),
      row(
        'Task',
        task
          ? h('a', { href: `#/task/${encodeURIComponent(task.id)}`, text: task.title })
          : h('span', { class: 'muted', text: 'Unassigned' }),
      ),
      row('Asked', `${clockTime(a.created_at)} (${relative(a.created_at)})`),
      countdownRow(a),
    ),
    contentPreview(a.tool_input),
    h('details', { class: 'approval-input' }, h('summary', { text: 'Full tool input' }),
      h('pre', { class: 'raw', text: reveal(JSON.stringify(a.tool_input, null, 2)) })),
    budget ? h('div', { class: 'budget-raise' },
      h('label', { class: 'field-label', for: 'approval-budget', text: 'Raise the task\'s limit to (USD)' }),
      limit,
      h('p', { class: 'muted small', text: 'Raising the limit approves this call and lets the task\'s other held calls go on.' })) : null,
    h('label', { class: 'field-label', for: 'approval-reason', text: 'Reason (optional)' }),
    reason,
  );
  const decide = (decision, raise) => async () => {
    const r = reason.value.trim();
    const body = { decision };
    if (r) body.reason = r;
    if (raise) {
      const v = Number(limit.value);
      if (!(v > 0)) throw new Error('Enter the new limit in USD (a number above 0).');
      body.budget_usd = v;
    }
    await api('POST', `/api/approvals/${encodeURIComponent(a.id)}`, body);
    state.approvals.delete(a.id);
    emit('approvals', {});
    decisionToast(a.id, {
      kind: decision === 'approve' ? 'success' : 'info',
      title: raise ? 'Limit raised, approved' : decision === 'approve' ? 'Approved' : 'Denied',
      message: reveal(a.summary),
    });
    return true;
  };
  const dialog = openDialog({
    title: budget ? '⚠ Budget reached' : '⚠ Permission requested',
    className: 'dialog-approval',
    content,
    actions: budget ? [
      { label: 'Deny', kind: 'danger', id: 'approval-deny', onClick: decide('deny') },
      { label: 'Approve once', id: 'approval-approve', onClick: decide('approve') },
      { label: 'Raise limit and approve', kind: 'primary', id: 'approval-raise', onClick: decide('approve', true) },
    ] : [
      { label: 'Deny', kind: 'danger', id: 'approval-deny', onClick: decide('deny') },
      { label: 'Approve', kind: 'primary', id: 'approval-approve', onClick: decide('approve') },
    ],
    onClose: () => {
      if (openModal && openModal.id === a.id) openModal = null;
    },
  });
  dialog.el.dataset.approvalId = a.id;
  openModal = { id: a.id, dialog };
  return dialog;
}

/** A call held at its task's spend limit (`decide::BUDGET_RULE` / `BUDGET_ASK_RULE`). */
function isBudgetHold(a) {
  return a.rule_id === 'hold.budget' || a.rule_id === 'hold.budget.ask';
}

/** A starting point the operator edits: twice the limit, and above what was spent (both read
 * from the hold's reason, "budget reached: $X of $Y"). */
function suggestedLimit(a) {
  const m = /budget reached: \$([\d.]+) of \$([\d.]+)/.exec(a.reason || '');
  if (!m) return 10;
  const [spent, limit] = [Number(m[1]), Number(m[2])];
  const next = Math.max(limit * 2, spent * 1.5);
  return next >= 1 ? Math.ceil(next) : Math.ceil(next * 10000) / 10000;
}

/** Longest text shown inline in the modal (the rest stays in "Full tool input"). */
const PREVIEW_CHARS = 4000;

function clip(text) {
  const t = String(text);
  return t.length > PREVIEW_CHARS
    ? `${t.slice(0, PREVIEW_CHARS)}\n… ${t.length - PREVIEW_CHARS} more characters in Full tool input`
    : t;
}

/** What a Write / Edit / MultiEdit / NotebookEdit would put in the file, shown as text. */
function contentPreview(input) {
  if (!input || typeof input !== 'object') return null;
  const blocks = [];
  const block = (label, text) => {
    if (typeof text !== 'string') return;
    blocks.push(h('div', { class: 'approval-content' },
      h('div', { class: 'field-label', text: label }),
      h('pre', { class: 'raw', text: reveal(clip(text)) })));
  };
  block('Writes', input.content);
  block('Replaces', input.old_string);
  block('With', input.new_string);
  block('New cell source', input.new_source);
  if (Array.isArray(input.edits)) {
    input.edits.slice(0, 5).forEach((e, i) => {
      if (!e || typeof e !== 'object') return;
      block(`Edit ${i + 1}: replaces`, e.old_string);
      block(`Edit ${i + 1}: with`, e.new_string);
    });
  }
  return blocks.length ? h('div', { class: 'approval-contents' }, ...blocks) : null;
}

/** "Held until 10:42:07 (1:23 left)": the hold timeout counted down, then what happens. */
function countdownRow(a) {
  const ms = state.holdTimeoutMs;
  const created = Date.parse(a.created_at);
  if (typeof ms !== 'number' || Number.isNaN(created)) return null;
  const until = created + ms;
  const value = h('span', { id: 'approval-countdown' });
  const tick = () => {
    if (!value.isConnected && value.dataset.started) {
      clearInterval(timer);
      return;
    }
    value.dataset.started = '1';
    const left = Math.max(0, Math.round((until - Date.now()) / 1000));
    value.textContent = left > 0
      ? `${clockTime(new Date(until).toISOString())} (${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')} left)`
      : isBudgetHold(a)
        ? 'timed out: the call was denied (the limit was not raised)'
        : 'timed out: answer it in the terminal where the session runs';
  };
  const timer = setInterval(tick, 1000);
  tick();
  return row('Held until', value);
}

/** Shows what a blocked session waits for when there is no held approval to decide here. */
export function openBlockedInfo(session, text) {
  const task = session && session.task_id ? state.tasks.get(session.task_id) : null;
  openDialog({
    title: '⚠ Waiting for permission',
    content: h(
      'div',
      { class: 'approval' },
      h('p', { class: 'approval-lead' },
        'Claude Code is asking for permission in its own prompt (the policy did not hold this request for Maestro). Answer it where the session runs.'),
      h('dl', { class: 'kv' },
        row('Asked', h('code', { class: 'approval-subject', text: text || 'Waiting for permission' })),
        session ? row('Session', h('a', { href: `#/session/${encodeURIComponent(session.id)}`, class: 'mono', text: shortId(session.id) })) : null,
        row('Task', task ? h('a', { href: `#/task/${encodeURIComponent(task.id)}`, text: task.title }) : h('span', { class: 'muted', text: 'Unassigned' })),
      ),
    ),
    actions: [{ label: 'Close', kind: 'primary' }],
  });
}

/** Opens the right modal for a blocked-info object from the store. */
export function openBlocked(info) {
  if (!info) return;
  if (info.approval) openApproval(info.approval);
  else openBlockedInfo(info.session, info.text);
}

function renderPendingPanel(panel, label, btn) {
  const list = [...state.approvals.values()].sort((a, b) => (a.created_at < b.created_at ? -1 : 1));
  const n = list.length;
  label.textContent = n ? `${n} pending approval${n > 1 ? 's' : ''}` : 'No pending approvals';
  btn.classList.toggle('has-pending', n > 0);
  if (!n) {
    setChildren(panel, h('p', { class: 'muted pad', text: 'Nothing is waiting for a decision.' }));
    return;
  }
  setChildren(
    panel,
    h('ul', { class: 'pending-list' }, list.map((a) => {
      const task = a.task_id ? state.tasks.get(a.task_id) : null;
      return h('li', {},
        h('button', {
          type: 'button',
          class: 'pending-item',
          dataset: { approvalId: a.id },
          onclick: () => {
            panel.hidden = true;
            btn.setAttribute('aria-expanded', 'false');
            openApproval(a);
          },
        },
        h('span', { class: 'pending-summary', text: reveal(a.summary) }),
        h('span', { class: 'pending-meta', text: `${task ? task.title : 'Unassigned'} · ${relative(a.created_at)}` })));
    })),
  );
}

/** Wires the top-bar pending list and closes the modal when its approval is resolved. */
export function initApprovals() {
  const btn = document.getElementById('pending-btn');
  const panel = document.getElementById('pending-panel');
  const label = document.getElementById('pending-label');
  const render = () => renderPendingPanel(panel, label, btn);
  btn.addEventListener('click', () => {
    panel.hidden = !panel.hidden;
    btn.setAttribute('aria-expanded', String(!panel.hidden));
    if (!panel.hidden) render();
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !panel.hidden) {
      panel.hidden = true;
      btn.setAttribute('aria-expanded', 'false');
      btn.focus();
    }
  });
  document.addEventListener('click', (e) => {
    if (!panel.hidden && !panel.contains(e.target) && !btn.contains(e.target)) {
      panel.hidden = true;
      btn.setAttribute('aria-expanded', 'false');
    }
  });
  on('approvals', (ev) => {
    render();
    const pending = ev && ev.pending;
    if (pending && !(openModal && openModal.id === pending.id)) {
      const task = pending.task_id ? state.tasks.get(pending.task_id) : null;
      const el = toast({
        kind: 'warning',
        title: `Permission requested${task ? ` · ${task.title}` : ''}`,
        message: reveal(pending.summary),
        action: { label: 'Review', onClick: () => { const a = state.approvals.get(pending.id); if (a) openApproval(a); } },
      });
      if (el) el.dataset.approvalId = pending.id;
    }
    const n = state.approvals.size;
    document.title = document.title.replace(/^\(\d+\) /, '');
    if (n) document.title = `(${n}) ${document.title}`;
    const resolved = ev && ev.resolved;
    if (resolved) dropToasts(resolved.id);
    if (resolved && openModal && openModal.id === resolved.id) {
      const dlg = openModal.dialog;
      openModal = null;
      dlg.close();
      const verb = {
        approved: 'approved', denied: 'denied', cancelled: 'cancelled',
        timed_out: 'not decided in time: left to the terminal',
        terminal_allowed: 'answered in the terminal (allowed)',
        terminal_denied: 'answered in the terminal (denied or dismissed)',
      }[resolved.status] || resolved.status;
      decisionToast(resolved.id, { kind: 'info', title: `Request ${verb}`, message: `${reveal(resolved.summary)}${resolved.decided_by ? ` (by ${resolved.decided_by})` : ''}` });
    }
  });
  on('tasks', render);
  render();
}
