// Sessions that belong to no task (seen through hooks, not spawned by Maestro), each with a
// task picker to attach it.

import { h, setChildren, setText } from './dom.js';
import { Api } from './api.js';
import { state, emit, reloadMovedFeeds } from './store.js';
import { toast } from './toasts.js';
import { HEALTH_LABELS, plural, relative, shortId, stateLabel } from './format.js';

/** A task <select> (with a placeholder) for attaching sessions. */
export function taskPicker(id, current) {
  const tasks = [...state.tasks.values()].sort((a, b) => a.title.localeCompare(b.title));
  return h('select', { class: 'input input-sm', id, 'aria-label': 'Task' },
    h('option', { value: '', text: current ? '— Detach from task —' : 'Choose a task…' }),
    tasks.map((t) => h('option', { value: t.id, text: t.title, selected: t.id === current })));
}

export async function attach(sessionId, taskId) {
  try {
    const s = await Api.attachSession(sessionId, taskId || null);
    reloadMovedFeeds(state.sessions.get(s.id), s);
    state.sessions.set(s.id, s);
    emit('sessions', s);
    const t = taskId && state.tasks.get(taskId);
    toast({ kind: 'success', title: taskId ? 'Session attached' : 'Session detached', message: t ? `${shortId(s.id)} → ${t.title}` : shortId(s.id) });
    return s;
  } catch (e) {
    toast({ kind: 'error', title: 'Could not attach the session', message: e.message });
    throw e;
  }
}

export function createUnassigned() {
  const list = h('ul', { class: 'unassigned-list' });
  const count = h('span', { class: 'col-count' });
  const el = h('section', { class: 'panel unassigned', 'aria-label': 'Unassigned sessions', id: 'unassigned' },
    h('header', { class: 'panel-head' }, h('h2', { text: 'Unassigned sessions' }), count),
    h('p', { class: 'muted small', text: 'Sessions Maestro did not start. Attach one to a task to see it on the board.' }),
    list);
  let key = '';
  function update() {
    const sessions = [...state.sessions.values()].filter((s) => !s.task_id)
      .sort((a, b) => ((a.last_event_at || a.started_at) < (b.last_event_at || b.started_at) ? 1 : -1));
    setText(count, String(sessions.length));
    el.hidden = sessions.length === 0;
    const k = sessions.map((s) => `${s.id}:${s.state}:${s.health}:${s.event_count}`).join('|') + `#${state.tasks.size}`;
    if (k === key) return;
    key = k;
    setChildren(list, sessions.slice(0, 50).map((s) => {
      const picker = taskPicker(`attach-${s.id}`, null);
      const btn = h('button', { type: 'button', class: 'btn btn-sm', text: 'Attach' });
      btn.addEventListener('click', async () => {
        if (!picker.value) {
          picker.focus();
          return;
        }
        btn.disabled = true;
        try {
          await attach(s.id, picker.value);
        } catch {
          btn.disabled = false;
        }
      });
      return h('li', { class: 'unassigned-item', dataset: { sessionId: s.id } },
        h('span', { class: `health-dot health-${s.health}`, role: 'img', 'aria-label': `Health: ${HEALTH_LABELS[s.health] || s.health}` }),
        h('div', { class: 'unassigned-main' },
          h('a', { href: `#/session/${encodeURIComponent(s.id)}`, class: 'mono', text: shortId(s.id) }),
          h('span', { class: 'muted small', text: `${s.machine ? `${s.machine} · ` : ''}${s.project_dir || s.cwd || 'unknown dir'} · ${stateLabel(s)} · ${plural(s.event_count, 'event')} · ${relative(s.last_event_at || s.started_at)}` })),
        h('div', { class: 'unassigned-attach' }, picker, btn));
    }));
  }
  return { el, update };
}
