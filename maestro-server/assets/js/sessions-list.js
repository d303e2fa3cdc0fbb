// Sessions view (#/sessions?sort=&state=&project=&host=&task=): every session, sortable and
// filterable, each row saying what the session was asked (its first prompt), how long it ran,
// its tool calls and failures (`GET /api/activity/sessions`), live from the feed.

import { h, setChildren, setText, debounce } from './dom.js';
import { api } from './api.js';
import { state, on } from './store.js';
import { STATE_LABELS, duration, relative, dateTime, reveal, shortId, plural, parseTime, stateLabel } from './format.js';
import { hashParams, viewHash, replaceHash } from './links.js';

const SORTS = {
  last: ['Last activity', (s) => parseTime(s.last_event_at || s.started_at)?.getTime() || 0],
  started: ['Started', (s) => parseTime(s.started_at)?.getTime() || 0],
  duration: ['Duration', (s) => runMs(s)],
  events: ['Events', (s) => s.event_count || 0],
};
const SHOWN = 100;
const UNASSIGNED = '-';

function runMs(s) {
  if (typeof s.duration_ms === 'number') return s.duration_ms;
  const start = parseTime(s.started_at);
  if (!start) return 0;
  const end = parseTime(s.ended_at) || (s.last_event_at && ['completed', 'failed', 'lost'].includes(s.state) ? parseTime(s.last_event_at) : new Date());
  return Math.max(0, end.getTime() - start.getTime());
}

function option(v, text, cur) {
  return h('option', { value: v, text, selected: v === cur });
}

export function mountSessions(root) {
  const params = hashParams();
  const f = {
    sort: SORTS[params.sort] ? params.sort : 'last',
    state: params.state || '',
    project: params.project || '',
    host: params.host || '',
    task: params.task || '',
  };
  let shown = SHOWN;
  const summaries = new Map(); // session id -> {first_prompt, tool_calls, failures, at}
  const filtersEl = h('div', { class: 'filters', id: 'sessions-filters' });
  const countEl = h('span', { class: 'muted small', id: 'sessions-count', 'aria-live': 'polite' });
  const tbody = h('tbody', { id: 'sessions-rows' });
  const more = h('button', { type: 'button', class: 'btn btn-sm show-earlier', id: 'sessions-more', hidden: true, text: 'Show more' });
  root.append(
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', { text: 'Sessions' }),
        h('p', { class: 'muted small board-summary', text: 'Every Claude Code session Maestro has seen.' })),
      countEl),
    filtersEl,
    h('section', { class: 'panel sessions-panel', 'aria-label': 'Sessions' },
      h('div', { class: 'table-scroll' },
        h('table', { class: 'sessions-table' },
          h('thead', {}, h('tr', {},
            ['Session', 'State', 'Task', 'Where', 'Last activity', 'Duration', 'Tool calls', 'Failures']
              .map((c) => h('th', { scope: 'col', text: c })))),
          tbody)),
      more));

  let filtersKey = '';
  function renderFilters() {
    const all = [...state.sessions.values()];
    const uniq = (xs) => [...new Set(xs.filter(Boolean))].sort();
    const tasks = [...state.tasks.values()].sort((a, b) => a.title.localeCompare(b.title));
    const key = JSON.stringify([uniq(all.map((s) => s.project_dir)), uniq(all.map((s) => s.host)), tasks.map((t) => [t.id, t.title]), f]);
    if (key === filtersKey) return;
    filtersKey = key;
    const sel = (id, label, opts) => h('label', { class: 'filter' }, h('span', { class: 'filter-label', text: label }),
      h('select', { class: 'input input-sm', id, name: id }, opts));
    setChildren(filtersEl,
      sel('s-sort', 'Sort by', Object.entries(SORTS).map(([k, [label]]) => option(k, label, f.sort))),
      sel('s-state', 'State', [option('', 'Any', f.state), ...Object.entries(STATE_LABELS).map(([k, v]) => option(k, v, f.state))]),
      sel('s-project', 'Project', [option('', 'Any', f.project), ...uniq([...all.map((s) => s.project_dir), f.project]).map((p) => option(p, p, f.project))]),
      sel('s-host', 'Host', [option('', 'Any', f.host), ...uniq([...all.map((s) => s.host), f.host]).map((x) => option(x, x, f.host))]),
      sel('s-task', 'Task', [option('', 'Any', f.task), option(UNASSIGNED, 'No task', f.task), ...tasks.map((t) => option(t.id, t.title, f.task))]));
  }

  function matching() {
    const [, key] = SORTS[f.sort];
    return [...state.sessions.values()]
      .filter((s) => (!f.state || s.state === f.state)
        && (!f.project || s.project_dir === f.project)
        && (!f.host || s.host === f.host)
        && (!f.task || (f.task === UNASSIGNED ? !s.task_id : s.task_id === f.task)))
      .sort((a, b) => key(b) - key(a) || (a.id < b.id ? 1 : -1));
  }

  function row(s) {
    const sum = summaries.get(s.id);
    const t = s.task_id && state.tasks.get(s.task_id);
    const prompt = sum ? (sum.first_prompt ? reveal(sum.first_prompt.split('\n')[0]) : 'No prompt yet') : '…';
    const failures = sum ? sum.failures : null;
    const where = [s.project_dir || s.cwd, s.host].filter(Boolean).join(' · ');
    return h('tr', { class: 'session-row', dataset: { sessionId: s.id } },
      h('td', { class: 'sr-prompt' },
        h('a', { href: `#/session/${encodeURIComponent(s.id)}`, class: 'sr-link' },
          h('span', { class: ['sr-first-prompt', sum && !sum.first_prompt ? 'muted' : null], text: prompt })),
        h('span', { class: 'mono muted small', text: shortId(s.id) })),
      h('td', { 'data-label': 'State' }, h('span', { class: ['state-badge', `state-${s.state}`], text: stateLabel(s) })),
      h('td', { 'data-label': 'Task' }, t ? h('a', { href: `#/task/${encodeURIComponent(t.id)}`, text: t.title }) : h('span', { class: 'muted', text: '—' })),
      h('td', { class: 'sr-where small', 'data-label': 'Where', text: where || '—', title: where }),
      h('td', { class: 'small', 'data-label': 'Last activity', title: dateTime(s.last_event_at || s.started_at), text: relative(s.last_event_at || s.started_at) }),
      h('td', { class: 'sr-duration small', 'data-label': 'Duration', text: duration(runMs(s)) }),
      h('td', { class: 'sr-tools num', 'data-label': 'Tool calls', text: sum ? String(sum.tool_calls) : '…' }),
      h('td', { class: ['sr-failures', 'num', failures ? 'has-failures' : null], 'data-label': 'Failures' },
        failures
          ? h('a', { href: viewHash('activity', { session: s.id, status: 'error' }), text: String(failures), title: 'Show the failures in Activity' })
          : (sum ? '0' : '…')));
  }

  let fetching = false;
  async function fetchSummaries(rows) {
    const want = rows.filter((s) => {
      const have = summaries.get(s.id);
      return !have || have.event_count !== s.event_count;
    }).slice(0, 200);
    if (!want.length || fetching) return;
    fetching = true;
    try {
      const got = await api('GET', `/api/activity/sessions?ids=${encodeURIComponent(want.map((s) => s.id).join(','))}`);
      const byId = new Map(got.map((x) => [x.session_id, x]));
      for (const s of want) {
        const x = byId.get(s.id) || { session_id: s.id, first_prompt: null, tool_calls: 0, failures: 0 };
        summaries.set(s.id, { ...x, event_count: s.event_count });
      }
    } catch {
      return;
    } finally {
      fetching = false;
    }
    render();
  }

  function render() {
    const rows = matching();
    const visible = rows.slice(0, shown);
    setChildren(tbody, visible.map(row));
    if (!rows.length) tbody.append(h('tr', {}, h('td', { colspan: '8', class: 'muted pad', text: 'No session matches.' })));
    more.hidden = rows.length <= shown;
    setText(countEl, rows.length === state.sessions.size ? plural(rows.length, 'session') : `${rows.length} of ${plural(state.sessions.size, 'session')}`);
    fetchSummaries(visible);
  }

  function apply() {
    for (const k of Object.keys(f)) {
      const el = document.getElementById(`s-${k}`);
      if (el) f[k] = el.value;
    }
    replaceHash(viewHash('sessions', { ...f, sort: f.sort === 'last' ? '' : f.sort }));
    shown = SHOWN;
    renderFilters();
    render();
  }

  filtersEl.addEventListener('change', apply);
  more.addEventListener('click', () => { shown += SHOWN; render(); });
  const soon = debounce(() => { renderFilters(); render(); }, 300);
  const offs = [on('sessions', soon), on('tasks', soon)];
  const tick = setInterval(render, 30000);
  renderFilters();
  render();
  return () => {
    clearInterval(tick);
    offs.forEach((off) => off());
  };
}
