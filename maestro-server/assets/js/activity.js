// Activity view (#/activity?q=&task=&session=&project=&host=&event=&tool=&status=): every
// stored event across sessions and tasks, newest first, filtered and searched by the server
// (`GET /api/activity`, keyset pages), and kept live from the feed.
//
// Event text is shown only through text nodes (reveal() marks invisible and bidi characters);
// the search's highlight markers (U+0002 / U+0003) become <mark> elements built with the DOM.

import { h, setChildren, setText, debounce } from './dom.js';
import { api } from './api.js';
import { state, on } from './store.js';
import { clockTime, dateTime, reveal, shortId, plural } from './format.js';
import { hashParams, viewHash, replaceHash } from './links.js';

const EVENTS = ['SessionStart', 'UserPromptSubmit', 'PreToolUse', 'PostToolUse', 'PostToolUseFailure',
  'PostToolBatch', 'PermissionRequest', 'Notification', 'SubagentStart', 'SubagentStop', 'Stop',
  'StopFailure', 'PreCompact', 'SessionEnd'];
const TOOLS = ['Bash', 'Read', 'Edit', 'Write', 'Grep', 'Glob', 'Agent', 'WebFetch', 'WebSearch',
  'TaskCreate', 'TaskUpdate', 'NotebookEdit'];
const STATUSES = { ok: 'OK', error: 'Error', denied: 'Denied', held: 'Held', ask: 'Asked', info: 'Info' };
const PAGE = 50;
/** Filter keys in the URL, and the API parameter each maps to. */
const FILTERS = { q: 'q', task: 'task_id', session: 'session_id', project: 'project', host: 'host', event: 'event', tool: 'tool', status: 'status' };

/** `text` with U+0002…U+0003 spans as <mark>, everything revealed and as text nodes. */
export function highlighted(text) {
  const out = [];
  const parts = String(text).split('\u0002');
  out.push(reveal(parts[0]));
  for (const p of parts.slice(1)) {
    const end = p.indexOf('\u0003');
    if (end < 0) {
      out.push(reveal(p));
      continue;
    }
    out.push(h('mark', { text: reveal(p.slice(0, end)) }));
    out.push(reveal(p.slice(end + 1)));
  }
  return out;
}

function sessionLabel(s) {
  const where = s.project_dir || s.cwd || '';
  const tail = where.split('/').filter(Boolean).pop() || '';
  return tail ? `${shortId(s.id)} · ${tail}` : shortId(s.id);
}

function select(id, label, options, value) {
  return h('label', { class: 'filter' },
    h('span', { class: 'filter-label', text: label }),
    h('select', { class: 'input input-sm', id, name: id },
      h('option', { value: '', text: 'Any' }),
      options.map(([v, text]) => h('option', { value: v, text, selected: v === value }))));
}

function distinct(values) {
  return [...new Set(values.filter(Boolean))].sort();
}

export function mountActivity(root) {
  const params = hashParams();
  const f = {};
  for (const k of Object.keys(FILTERS)) f[k] = params[k] || '';

  const qInput = h('input', {
    class: 'input', id: 'activity-q', type: 'search', name: 'q', value: f.q, autocomplete: 'off',
    placeholder: 'Search commands, file paths, prompts, errors…', 'aria-label': 'Search events',
  });
  const filtersEl = h('div', { class: 'filters', id: 'activity-filters' });
  const errorEl = h('p', { class: 'form-error', id: 'activity-error', role: 'alert', hidden: true });
  const countEl = h('span', { class: 'muted small', id: 'activity-count', 'aria-live': 'polite' });
  const list = h('ol', { class: 'activity-list', id: 'activity-list', 'aria-label': 'Events' });
  const empty = h('p', { class: 'col-empty', id: 'activity-empty', hidden: true, text: 'No event matches.' });
  const more = h('button', { type: 'button', class: 'btn btn-sm show-earlier', id: 'activity-more', hidden: true, text: 'Load older events' });
  const clear = h('button', { type: 'button', class: 'btn btn-ghost btn-sm', id: 'activity-clear', text: 'Clear filters' });
  const form = h('form', { class: 'activity-search', role: 'search', onsubmit: (e) => { e.preventDefault(); applyNow(); } },
    qInput, h('button', { type: 'submit', class: 'btn btn-primary btn-sm', text: 'Search' }));

  root.append(
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', { text: 'Activity' }),
        h('p', { class: 'muted small board-summary', text: 'Every event of every session, newest first. Words, "phrases", prefix*, -exclude.' })),
      countEl),
    form, filtersEl, errorEl,
    h('section', { class: 'panel activity-panel', 'aria-label': 'Activity' }, list, empty, more));

  let items = [];
  let nextBefore = null;
  let generation = 0;
  let loading = false;
  let filtersKey = '';

  function renderFilters() {
    const tasks = [...state.tasks.values()].sort((a, b) => a.title.localeCompare(b.title)).map((t) => [t.id, t.title]);
    const sessions = [...state.sessions.values()]
      .sort((a, b) => ((a.last_event_at || a.started_at) < (b.last_event_at || b.started_at) ? 1 : -1))
      .map((s) => [s.id, sessionLabel(s)]);
    if (f.session && !state.sessions.has(f.session)) sessions.unshift([f.session, shortId(f.session)]);
    const all = [...state.sessions.values()];
    const projects = distinct([...all.map((s) => s.project_dir), f.project]).map((p) => [p, p]);
    const hosts = distinct([...all.map((s) => s.host), f.host]).map((x) => [x, x]);
    const tools = distinct([...TOOLS, f.tool]).map((x) => [x, x]);
    const events = distinct([...EVENTS, f.event]).map((x) => [x, x]);
    const key = JSON.stringify([tasks, sessions, projects, hosts, f]);
    if (key === filtersKey) return;
    filtersKey = key;
    const focused = document.activeElement && document.activeElement.id;
    setChildren(filtersEl,
      select('f-task', 'Task', tasks, f.task),
      select('f-session', 'Session', sessions, f.session),
      select('f-project', 'Project', projects, f.project),
      select('f-host', 'Host', hosts, f.host),
      select('f-event', 'Event', events, f.event),
      select('f-tool', 'Tool', tools, f.tool),
      select('f-status', 'Status', Object.entries(STATUSES), f.status),
      clear);
    if (focused && focused.startsWith('f-')) document.getElementById(focused)?.focus();
  }

  function query(before) {
    const p = new URLSearchParams();
    for (const [k, apiKey] of Object.entries(FILTERS)) if (f[k]) p.set(apiKey, f[k]);
    if (before) p.set('before', String(before));
    p.set('limit', String(PAGE));
    return `/api/activity?${p}`;
  }

  function row(it) {
    const s = it.session_id && state.sessions.get(it.session_id);
    const t = it.task_id && state.tasks.get(it.task_id);
    const body = it.snippet ? highlighted(it.snippet) : reveal(it.text || '');
    return h('li', { class: ['act-row', `st-${it.status}`], dataset: { seq: String(it.seq), eventId: it.event_id } },
      h('time', { datetime: it.at, title: dateTime(it.at), text: clockTime(it.at) }),
      h('div', { class: 'act-main' },
        h('div', { class: 'act-meta' },
          h('span', { class: 'act-event', text: it.event }),
          it.tool_name ? h('span', { class: 'act-tool mono', text: it.tool_name }) : null,
          h('span', { class: ['act-status', `act-status-${it.status}`], text: STATUSES[it.status] || it.status }),
          it.session_id ? h('a', { class: 'act-session mono', href: `#/session/${encodeURIComponent(it.session_id)}`, text: s ? sessionLabel(s) : shortId(it.session_id) }) : null,
          t ? h('a', { class: 'act-task', href: `#/task/${encodeURIComponent(t.id)}`, text: t.title }) : null,
          it.host ? h('span', { class: 'muted small', text: it.host }) : null),
        it.snippet || it.text ? h('div', { class: 'act-text mono' }, body) : null));
  }

  function render() {
    setChildren(list, items.map(row));
    empty.hidden = items.length > 0 || loading;
    more.hidden = nextBefore === null;
    setText(countEl, `${plural(items.length, 'event')} shown${nextBefore !== null ? ' · more below' : ''}`);
  }

  async function load({ append = false } = {}) {
    const gen = ++generation;
    loading = true;
    try {
      const page = await api('GET', query(append ? nextBefore : null));
      if (gen !== generation) return;
      errorEl.hidden = true;
      items = append ? items.concat(page.items) : page.items;
      nextBefore = page.next_before ?? null;
    } catch (e) {
      if (gen !== generation) return;
      errorEl.textContent = e.message;
      errorEl.hidden = false;
      items = [];
      nextBefore = null;
    } finally {
      if (gen === generation) loading = false;
    }
    render();
  }

  /** New events at the top (the older pages already loaded stay). */
  async function refreshTop() {
    if (loading || !errorEl.hidden) return;
    const gen = generation;
    let page;
    try {
      page = await api('GET', query(null));
    } catch {
      return;
    }
    if (gen !== generation) return;
    const top = items.length ? items[0].seq : 0;
    const fresh = page.items.filter((i) => i.seq > top);
    if (!fresh.length) return;
    if (fresh.length === page.items.length && items.length) {
      // More new events than a page: start over from the newest.
      items = page.items;
      nextBefore = page.next_before ?? null;
    } else {
      items = fresh.concat(items);
    }
    render();
  }

  function applyNow() {
    f.q = qInput.value.trim();
    for (const k of Object.keys(FILTERS)) {
      if (k === 'q') continue;
      const el = document.getElementById(`f-${k}`);
      if (el) f[k] = el.value;
    }
    replaceHash(viewHash('activity', f));
    load();
  }

  const applySoon = debounce(applyNow, 250);
  qInput.addEventListener('input', applySoon);
  filtersEl.addEventListener('change', applyNow);
  clear.addEventListener('click', () => {
    for (const k of Object.keys(f)) f[k] = '';
    qInput.value = '';
    renderFilters();
    applyNow();
    qInput.focus();
  });
  more.addEventListener('click', () => load({ append: true }));

  const live = debounce(refreshTop, 300);
  const offs = [
    on('message', (msg) => {
      if (msg.type && msg.type.startsWith('hook:')) live();
    }),
    on('tasks', () => { renderFilters(); render(); }),
    on('sessions', debounce(() => { renderFilters(); }, 300)),
  ];
  renderFilters();
  load();
  return () => {
    generation++;
    offs.forEach((off) => off());
  };
}
