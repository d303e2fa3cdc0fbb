// The board: tasks as cards in status columns, create / edit / move / delete, drag and drop,
// and the unassigned sessions panel.

import { h, setText, rafThrottle } from './dom.js';
import { Api } from './api.js';
import { state, on, emit, loadTaskCosts, boardCost } from './store.js';
import { usd } from './cost.js';
import { createCard } from './card.js';
import { openDialog, confirmDialog } from './modal.js';
import { toast } from './toasts.js';
import { STATUS_LABELS, STATUS_ORDER } from './format.js';
import { createUnassigned } from './unassigned.js';

/** Done tasks shown before "Show all". */
const DONE_SHOWN = 5;
/** From this many tasks on, cards are compact. */
const COMPACT_AT = 30;

/** The create / edit task form in a dialog. */
export function openTaskForm(task, onSaved) {
  const title = h('input', { class: 'input', id: 'task-title', required: true, autofocus: true, maxlength: '300', value: task ? task.title : '' });
  const desc = h('textarea', { class: 'input', id: 'task-desc', rows: '4' });
  desc.value = task ? task.description || '' : '';
  const wd = h('input', { class: 'input mono', id: 'task-wd', placeholder: '/path/to/project', value: task ? task.working_dir || '' : '' });
  const status = h('select', { class: 'input', id: 'task-status' },
    STATUS_ORDER.map((s) => h('option', { value: s, text: STATUS_LABELS[s], selected: task ? task.status === s : s === 'todo' })));
  const budget = h('input', { class: 'input', id: 'task-budget', type: 'number', min: '0.01', step: '0.01', placeholder: 'no limit of its own',
    value: task && typeof task.budget_usd === 'number' ? String(task.budget_usd) : '' });
  const form = h('form', { class: 'form', id: 'task-form' },
    h('label', { class: 'field-label', for: 'task-title', text: 'Title' }), title,
    h('label', { class: 'field-label', for: 'task-desc', text: 'Description' }), desc,
    h('div', { class: 'form-row' },
      h('div', {}, h('label', { class: 'field-label', for: 'task-wd', text: 'Working directory' }), wd),
      h('div', {}, h('label', { class: 'field-label', for: 'task-status', text: 'Status' }), status)),
    h('label', { class: 'field-label', for: 'task-budget', text: 'Spend limit (USD)' }), budget,
    h('p', { class: 'muted small', text: 'At the limit the task\'s next tool call waits for an operator, who can raise it. Empty: the server\'s default, if any.' }),
  );
  const save = async () => {
    const input = {
      title: title.value.trim(),
      description: desc.value,
      status: status.value,
      working_dir: wd.value.trim() || null,
    };
    if (!input.title) throw new Error('A title is required.');
    const limit = budget.value.trim();
    if (limit) {
      const v = Number(limit);
      if (!(v > 0)) throw new Error('The spend limit is a number of USD above 0, or empty.');
      input.budget_usd = v;
    } else if (task && typeof task.budget_usd === 'number') {
      input.budget_usd = null;
    }
    const saved = task ? await Api.updateTask(task.id, input) : await Api.createTask(input);
    state.tasks.set(saved.id, saved);
    emit('tasks', saved);
    if (onSaved) onSaved(saved);
    return true;
  };
  const dlg = openDialog({
    title: task ? 'Edit task' : 'New task',
    content: form,
    actions: [
      { label: 'Cancel', kind: 'ghost' },
      { label: task ? 'Save' : 'Create task', kind: 'primary', id: 'task-save', onClick: save },
    ],
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    dlg.el.querySelector('#task-save').click();
  });
}

export async function moveTask(task, status) {
  if (task.status === status) return;
  try {
    const saved = await Api.updateTask(task.id, { status });
    state.tasks.set(saved.id, saved);
    emit('tasks', saved);
  } catch (e) {
    toast({ kind: 'error', title: 'Could not move the task', message: e.message });
  }
}

export async function deleteTask(task, after) {
  const ok = await confirmDialog('Delete task', `Delete “${task.title}”? Its sessions stay and become unassigned.`, 'Delete');
  if (!ok) return;
  try {
    await Api.deleteTask(task.id);
    state.tasks.delete(task.id);
    emit('tasks', { id: task.id, deleted: true });
    if (after) after();
  } catch (e) {
    toast({ kind: 'error', title: 'Could not delete the task', message: e.message });
  }
}

/** Mounts the board into `root`; returns the unmount function. */
export function mountBoard(root) {
  const cards = new Map();
  const actions = {
    move: moveTask,
    edit: (t) => openTaskForm(t),
    remove: (t) => deleteTask(t),
  };
  const columns = new Map();
  const colEls = STATUS_ORDER.map((status) => {
    const list = h('div', { class: 'col-list', dataset: { status } });
    const count = h('span', { class: 'col-count' });
    const col = h('section', { class: ['column', `col-${status}`], 'aria-label': STATUS_LABELS[status], dataset: { status } },
      h('header', { class: 'col-head' }, h('span', { class: `col-marker status-${status}`, 'aria-hidden': 'true' }),
        h('h2', { text: STATUS_LABELS[status] }), count),
      list);
    col.addEventListener('dragover', (e) => {
      if ([...e.dataTransfer.types].includes('text/x-maestro-task')) {
        e.preventDefault();
        col.classList.add('drop-target');
      }
    });
    col.addEventListener('dragleave', (e) => {
      if (!col.contains(e.relatedTarget)) col.classList.remove('drop-target');
    });
    col.addEventListener('drop', (e) => {
      e.preventDefault();
      col.classList.remove('drop-target');
      const id = e.dataTransfer.getData('text/x-maestro-task');
      const t = state.tasks.get(id);
      if (t) moveTask(t, status);
    });
    columns.set(status, { list, count });
    return col;
  });
  const quickTitle = h('input', { class: 'input', id: 'new-task-title', placeholder: 'New task title…', 'aria-label': 'New task title', maxlength: '300' });
  const quick = h('form', { class: 'quick-add', id: 'new-task-form' },
    quickTitle,
    h('button', { type: 'submit', class: 'btn btn-primary', id: 'new-task-btn', text: 'Add task' }),
    h('button', { type: 'button', class: 'btn btn-ghost', text: 'More…', onclick: () => openTaskForm(null) }));
  quick.addEventListener('submit', async (e) => {
    e.preventDefault();
    const title = quickTitle.value.trim();
    if (!title) {
      openTaskForm(null);
      return;
    }
    try {
      const t = await Api.createTask({ title });
      state.tasks.set(t.id, t);
      emit('tasks', t);
      quickTitle.value = '';
    } catch (err) {
      toast({ kind: 'error', title: 'Could not create the task', message: err.message });
    }
  });
  const summary = h('p', { class: 'board-summary muted' });
  const costLine = h('p', { class: 'board-cost muted', id: 'board-cost' });
  const unassigned = createUnassigned();
  const board = h('div', { class: 'board', id: 'board' }, colEls);
  root.append(
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', { text: 'Task board' }), summary, costLine),
      quick),
    board,
    unassigned.el,
  );

  // Done tasks are collapsed to the most recently updated few unless asked for all.
  let showAllDone = false;
  const doneToggle = h('button', { type: 'button', class: 'btn btn-ghost btn-sm done-toggle', id: 'done-toggle', 'aria-expanded': 'false' });
  doneToggle.addEventListener('click', () => {
    showAllDone = !showAllDone;
    doneToggle.setAttribute('aria-expanded', String(showAllDone));
    render();
    doneToggle.focus();
  });

  const render = () => {
    // Moving a card re-inserts it, which drops the focus: put it back afterwards.
    const active = document.activeElement;
    const seen = new Set();
    const byStatus = new Map(STATUS_ORDER.map((s) => [s, []]));
    const tasks = [...state.tasks.values()].sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0));
    for (const t of tasks) {
      seen.add(t.id);
      let c = cards.get(t.id);
      if (!c) {
        c = createCard(t.id, actions);
        cards.set(t.id, c);
      } else c.update();
      (byStatus.get(t.status) || byStatus.get('todo')).push(c.el);
    }
    for (const [id, c] of cards) {
      if (!seen.has(id)) {
        c.el.remove();
        cards.delete(id);
      }
    }
    const doneAll = byStatus.get('done') || [];
    const doneTotal = doneAll.length;
    if (doneTotal > DONE_SHOWN && !showAllDone) {
      const recent = (el) => (state.tasks.get(el.dataset.taskId) || {}).updated_at || '';
      const keep = new Set([...doneAll].sort((a, b) => (recent(a) < recent(b) ? 1 : -1)).slice(0, DONE_SHOWN));
      byStatus.set('done', doneAll.filter((el) => keep.has(el)));
    }
    board.classList.toggle('compact', tasks.length > COMPACT_AT);
    for (const [status, els] of byStatus) {
      const { list, count } = columns.get(status);
      if (status === 'done' && doneTotal > DONE_SHOWN) els.push(doneToggle);
      const now = [...list.children];
      const same = els.length ? els.length === now.length && els.every((el, i) => now[i] === el)
        : now.length === 1 && now[0].classList.contains('col-empty');
      if (!same) {
        list.replaceChildren(...els);
        if (!els.length) list.append(h('p', { class: 'col-empty', text: status === 'todo' ? 'Add a task above' : 'Nothing here' }));
      }
      setText(count, String(status === 'done' ? doneTotal : els.length));
    }
    setText(doneToggle, showAllDone ? 'Show fewer' : `Show all ${doneTotal} done tasks`);
    if (active && active !== document.activeElement && active.isConnected) {
      const card = active.closest('.card');
      const target = active.disabled && card ? (card.querySelector('.card-moves button:not(:disabled)') || card.querySelector('.card-title')) : active;
      if (target) target.focus({ preventScroll: true });
    }
    const running = [...state.sessions.values()].filter((s) => !['completed', 'failed', 'lost'].includes(s.state)).length;
    setText(summary, `${tasks.length} task${tasks.length === 1 ? '' : 's'} · ${running} running session${running === 1 ? '' : 's'} · ${state.approvals.size} pending approval${state.approvals.size === 1 ? '' : 's'}`);
    const spent = boardCost();
    costLine.dataset.costUsd = String(spent);
    setText(costLine, `${usd(spent)} spent on these tasks (Claude Code's own cost figures)`);
    unassigned.update();
  };
  const schedule = rafThrottle(render);
  const offs = ['tasks', 'sessions', 'approvals', 'feeds', 'taskcosts'].map((t) => on(t, schedule));
  // Cost messages are gathered: one request for every task's totals, at most once a second.
  offs.push(on('cost', () => loadTaskCosts()));
  // A full reload (reconnect, resync) reloads the totals too.
  offs.push(on('tasks', (t) => { if (!t) loadTaskCosts(); }));
  loadTaskCosts(true);
  const tick = setInterval(schedule, 15000);
  render();
  return () => {
    offs.forEach((f) => f());
    clearInterval(tick);
  };
}
