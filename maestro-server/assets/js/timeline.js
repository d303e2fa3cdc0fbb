// A chronological, live timeline grouped by turn (prompt_id). Keeps every item in memory
// but only a bounded window in the DOM (the newest WINDOW lines, "Show earlier" adds more),
// and renders at most once per frame, so 10,000+ events stay responsive.

import { h, rafThrottle, setText } from './dom.js';
import { Api } from './api.js';
import { textDialog } from './modal.js';
import { toast } from './toasts.js';
import { byTime } from './store.js';
import { clockTime, detailText, ms, reveal, shortId } from './format.js';

const WINDOW = 250;

const STATUS_ICON = { ok: '✓', error: '✕', pending: '…', info: '•', warning: '!' };

/** A byte count: "512 B", "1.2 KB", "3.4 MB". */
function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/**
 * The chips for what Claude Code's own telemetry says about a tool call (`tool_result`,
 * `tool_decision`): its run time, the permission decision and who made it, the result size.
 */
function telemetryChips(t) {
  if (!t) return null;
  const bits = [];
  const title = ['Claude Code telemetry'];
  if (typeof t.duration_ms === 'number') {
    bits.push(h('span', { class: 'chip chip-otel otel-duration', dataset: { ms: String(t.duration_ms) }, text: ms(t.duration_ms) }));
    title.push(`ran ${t.duration_ms} ms`);
  }
  if (t.decision || t.decision_source) {
    const label = [t.decision, t.decision_source].filter(Boolean).join(' · ');
    bits.push(h('span', { class: ['chip', 'chip-otel', 'otel-decision', t.decision === 'reject' ? 'otel-reject' : null], text: label }));
    title.push(`decision ${label}`);
  }
  if (typeof t.result_size_bytes === 'number') {
    bits.push(h('span', { class: 'chip chip-otel otel-size', dataset: { bytes: String(t.result_size_bytes) }, text: bytes(t.result_size_bytes) }));
    title.push(`result ${t.result_size_bytes} bytes`);
  }
  if (t.error_type) {
    bits.push(h('span', { class: 'chip chip-otel otel-error', text: t.error_type }));
    title.push(`error ${t.error_type}`);
  }
  if (!bits.length) return null;
  return h('span', { class: 'tl-otel', title: title.join(', '), dataset: { toolUseId: t.tool_use_id } }, bits);
}

/** Opens the raw stored event of a timeline line. */
export async function showRawEvent(eventId) {
  try {
    const env = await Api.event(eventId);
    textDialog(`Raw event ${eventId}`, JSON.stringify(env, null, 2));
  } catch (e) {
    toast({ kind: 'error', title: 'Could not load the raw event', message: e.message });
  }
}

function lowerBound(arr, item) {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (byTime(arr[mid], item) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Makes `parent`'s children exactly `nodes` (in order) with the fewest DOM operations: when
 * the window slides by k lines, k nodes are removed and k inserted; nothing else moves.
 */
export function reconcile(parent, nodes) {
  const want = new Set(nodes);
  for (let c = parent.firstChild; c;) {
    const next = c.nextSibling;
    if (!want.has(c)) parent.removeChild(c);
    c = next;
  }
  let cur = parent.firstChild;
  for (const n of nodes) {
    if (n === cur) {
      cur = cur.nextSibling;
    } else {
      parent.insertBefore(n, cur);
    }
  }
}

/** Creates a timeline; `showSession` adds the session chip (task view). */
export function createTimeline({ showSession = false, label = 'Timeline' } = {}) {
  let items = [];
  const byId = new Map();
  const rows = new Map(); // id -> { item, el, tel }
  let telemetry = new Map(); // tool_use_id -> tool telemetry
  const turns = new Map(); // key -> el
  let shown = WINDOW;
  let turnNo = new Map(); // prompt_id -> 1-based turn number
  let turnsDirty = true;

  const list = h('ol', { class: 'timeline', 'aria-label': label, 'aria-live': 'polite', 'aria-relevant': 'additions' });
  const earlier = h('button', { type: 'button', class: 'btn btn-sm btn-ghost show-earlier', hidden: true });
  const empty = h('p', { class: 'muted pad timeline-empty', text: 'No events yet.' });
  // The scroller is a column-reverse flex box around one wrapper: the browser keeps it pinned
  // to the newest line (and keeps the view still when earlier lines are added above) without
  // any scroll arithmetic, so rendering never forces a synchronous layout.
  const scroller = h('div', { class: 'timeline-scroll', tabindex: '0', 'aria-label': `${label} (scrollable)` },
    h('div', { class: 'timeline-inner' }, earlier, list, empty));
  const countEl = h('span', { class: 'muted small' });
  earlier.addEventListener('click', () => {
    shown += WINDOW;
    render();
  });

  function rowFor(it) {
    const cached = rows.get(it.id);
    const tel = it.tool_use_id ? telemetry.get(it.tool_use_id) : undefined;
    if (cached && cached.item === it && cached.tel === tel) return cached.el;
    const raw = it.event_id
      ? h('button', { type: 'button', class: 'icon-btn raw-btn', title: 'Raw event', 'aria-label': `Raw event for: ${it.summary}`, text: '{ }',
        onclick: () => showRawEvent(it.event_id) })
      : null;
    const detail = it.detail && it.status === 'error'
      ? h('details', { class: 'tl-detail' }, h('summary', { text: 'Details' }), h('pre', { class: 'raw', text: detailText(it.detail) }))
      : null;
    const el = h('li', { class: ['tl-row', `st-${it.status}`, `kind-${it.kind}`], dataset: { itemId: String(it.id), kind: it.kind, eventId: it.event_id || '' } },
      h('time', { class: 'tl-time', datetime: it.at, title: it.at, text: clockTime(it.at) }),
      h('span', { class: 'tl-icon', 'aria-label': it.status, text: STATUS_ICON[it.status] || '•' }),
      h('div', { class: 'tl-main' },
        h('span', { class: 'tl-summary', text: reveal(it.summary) }),
        h('span', { class: 'tl-chips' },
          it.tool_name ? h('span', { class: 'chip', text: it.tool_name }) : null,
          it.agent_id ? h('span', { class: 'chip chip-agent', title: it.agent_id, text: `subagent ${it.agent_id.slice(0, 6)}` }) : null,
          showSession ? h('a', { class: 'chip chip-session', href: `#/session/${encodeURIComponent(it.session_id)}`, text: shortId(it.session_id) }) : null,
          telemetryChips(tel)),
        detail),
      raw);
    rows.set(it.id, { item: it, el, tel });
    return el;
  }

  function turnKey(it) {
    return `${it.prompt_id}:${it.id}:${turnNo.get(it.prompt_id)}`;
  }

  function turnFor(it) {
    const key = turnKey(it);
    let el = turns.get(key);
    if (!el) {
      el = h('li', { class: 'tl-turn', dataset: { promptId: it.prompt_id } },
        h('span', { class: 'tl-turn-label', text: `Turn ${turnNo.get(it.prompt_id) || ''}` }),
        showSession ? h('span', { class: 'chip chip-session', text: shortId(it.session_id) }) : null,
        h('span', { class: 'muted small mono', title: `prompt_id ${it.prompt_id}`, text: clockTime(it.at) }));
      turns.set(key, el);
    }
    return el;
  }

  function render() {
    const t0 = performance.now();
    if (turnsDirty) {
      // Turns are numbered per session: in a task's timeline a second session's first
      // prompt is its turn 1, not the task's turn 2.
      turnNo = new Map();
      const perSession = new Map();
      for (const it of items) {
        if (!it.prompt_id || turnNo.has(it.prompt_id)) continue;
        const n = (perSession.get(it.session_id) || 0) + 1;
        perSession.set(it.session_id, n);
        turnNo.set(it.prompt_id, n);
      }
      turnsDirty = false;
    }
    const start = Math.max(0, items.length - shown);
    const nodes = [];
    const keep = new Set();
    const keepTurns = new Set();
    let prevTurn = start > 0 ? items[start - 1].prompt_id : undefined;
    for (let i = start; i < items.length; i++) {
      const it = items[i];
      if (it.prompt_id && it.prompt_id !== prevTurn) {
        const t = turnFor(it);
        keepTurns.add(turnKey(it));
        nodes.push(t);
      }
      if (it.prompt_id) prevTurn = it.prompt_id;
      nodes.push(rowFor(it));
      keep.add(it.id);
    }
    for (const id of rows.keys()) if (!keep.has(id)) rows.delete(id);
    for (const k of turns.keys()) if (!keepTurns.has(k)) turns.delete(k);
    const t1 = performance.now();
    reconcile(list, nodes);
    const t2 = performance.now();
    earlier.hidden = start === 0;
    setText(earlier, `Show earlier (${start} more)`);
    empty.hidden = items.length > 0;
    setText(countEl, `${items.length} line${items.length === 1 ? '' : 's'}${start > 0 ? ` · showing the last ${items.length - start}` : ''}`);
    const t3 = performance.now();
    const prev = window.__maestroTimelineRender;
    const maxMs = Math.max(t3 - t0, prev ? prev.max_ms : 0);
    window.__maestroTimelineRender = { build_ms: t1 - t0, dom_ms: t2 - t1, total_ms: t3 - t0, max_ms: maxMs, rows: nodes.length };
  }
  const schedule = rafThrottle(render);

  return {
    el: scroller,
    countEl,
    /** Replaces all items (a REST snapshot). */
    setItems(list0) {
      items = [...list0].sort(byTime);
      byId.clear();
      for (const it of items) byId.set(it.id, it);
      turnsDirty = true;
      schedule();
    },
    /** Inserts or updates one item (a `timeline:item` message). */
    upsert(it) {
      const old = byId.get(it.id);
      if (old) {
        const i = lowerBound(items, old);
        if (items[i] && items[i].id === it.id) items.splice(i, 1);
        else items = items.filter((x) => x.id !== it.id);
      }
      items.splice(lowerBound(items, it), 0, it);
      byId.set(it.id, it);
      if (it.prompt_id && (!old || old.prompt_id !== it.prompt_id || old.at !== it.at)) turnsDirty = true;
      schedule();
    },
    /** Sets the tool calls' telemetry (`/api/.../tool-telemetry`); changed rows re-render. */
    setTelemetry(list0) {
      telemetry = new Map((list0 || []).map((t) => [t.tool_use_id, t]));
      schedule();
    },
    size: () => items.length,
    renderNow: render,
  };
}
