// Cost and tokens from Claude Code's own OpenTelemetry export: the cost-over-time chart
// (cumulative USD, one point per model request, plain SVG), the totals, and the tokens and
// cost per model and per turn. Fed with a cost report (`/api/sessions/{id}/cost` or
// `/api/tasks/{id}/cost`); the views refresh it on `cost:updated`.

import { h, s, setChildren, setText } from './dom.js';
import { clockTime, parseTime, shortId } from './format.js';

const WIDTH = 560;
const HEIGHT = 180;
const PAD_L = 58;
const PAD_R = 10;
const PAD_T = 10;
const PAD_B = 22;

/** US dollars: four decimals under $100 (a request costs fractions of a cent), two above. */
export function usd(v) {
  const n = typeof v === 'number' && Number.isFinite(v) ? v : 0;
  return `$${n.toFixed(n >= 100 ? 2 : 4)}`;
}

/** A token count with thousands separators. */
export function tokens(n) {
  return (typeof n === 'number' ? n : 0).toLocaleString('en-US');
}

const COLUMNS = ['Requests', 'Input', 'Output', 'Cache read', 'Cache write', 'Cost'];

function figures(t) {
  return [String(t.requests), tokens(t.input_tokens), tokens(t.output_tokens), tokens(t.cache_read_tokens),
    tokens(t.cache_creation_tokens), usd(t.cost_usd)];
}

function table(cls, caption, head, rows) {
  return h('table', { class: ['cost-table', cls] },
    h('caption', { class: 'sr-only', text: caption }),
    h('thead', {}, h('tr', {}, [...head, ...COLUMNS].map((c) => h('th', { scope: 'col', text: c })))),
    h('tbody', {}, rows.map(([label, t, data]) => h('tr', { dataset: data },
      label.map((l) => h('th', { scope: 'row', class: 'mono', text: l })),
      figures(t).map((f, i) => h('td', { class: i === COLUMNS.length - 1 ? 'cost-usd' : null, text: f }))))));
}

/** The cumulative-cost chart of `points` (the report's `series`). */
function chart(points) {
  const times = points.map((p) => (parseTime(p.at) || new Date(0)).getTime());
  const t0 = times[0];
  const t1 = times[times.length - 1];
  const span = Math.max(t1 - t0, 1);
  const max = Math.max(points[points.length - 1].cumulative_usd, 1e-9);
  const x = (t) => PAD_L + ((t - t0) / span) * (WIDTH - PAD_L - PAD_R);
  const y = (v) => PAD_T + (1 - v / max) * (HEIGHT - PAD_T - PAD_B);
  // A step line: the total holds until the next request adds its cost.
  let d = `M${x(t0).toFixed(1)},${y(0).toFixed(1)}`;
  points.forEach((p, i) => {
    const px = x(times[i]).toFixed(1);
    d += ` H${px} V${y(p.cumulative_usd).toFixed(1)}`;
  });
  const last = points[points.length - 1];
  const svg = s('svg', {
    class: 'chart-svg cost-svg',
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    width: '100%',
    role: 'img',
    'aria-label': `Cumulative cost over time: ${usd(last.cumulative_usd)} after ${points.length} model request${points.length === 1 ? '' : 's'}`,
  },
  s('line', { x1: String(PAD_L), x2: String(WIDTH - PAD_R), y1: String(y(0)), y2: String(y(0)), class: 'cost-axis' }),
  s('line', { x1: String(PAD_L), x2: String(WIDTH - PAD_R), y1: String(y(max)), y2: String(y(max)), class: 'cost-grid' }),
  s('text', { x: String(PAD_L - 6), y: String(y(max) + 4), 'text-anchor': 'end', class: 'chart-pct cost-max' }, usd(max)),
  s('text', { x: String(PAD_L - 6), y: String(y(0) + 4), 'text-anchor': 'end', class: 'chart-pct' }, usd(0)),
  s('text', { x: String(PAD_L), y: String(HEIGHT - 4), class: 'chart-pct' }, clockTime(points[0].at)),
  s('text', { x: String(WIDTH - PAD_R), y: String(HEIGHT - 4), 'text-anchor': 'end', class: 'chart-pct' }, clockTime(last.at)),
  s('path', { d, class: 'cost-line', fill: 'none' }),
  points.map((p, i) => s('circle', {
    cx: x(times[i]).toFixed(1), cy: y(p.cumulative_usd).toFixed(1), r: '3.5', class: 'cost-point',
    dataset: { cumulative: String(p.cumulative_usd), cost: String(p.cost_usd) },
  }, s('title', {}, `${clockTime(p.at)} · ${p.model} · ${usd(p.cost_usd)} (total ${usd(p.cumulative_usd)}) · `
    + `${tokens(p.input_tokens)} in, ${tokens(p.output_tokens)} out, ${tokens(p.cache_read_tokens)} cache read, `
    + `${tokens(p.cache_creation_tokens)} cache write`))));
  return svg;
}

/**
 * The cost panel: `update(report)` redraws it. `showSession` labels turns with their session
 * (task view).
 */
export function createCostPanel({ showSession = false } = {}) {
  const total = h('p', { class: 'cost-total' });
  const tokenLine = h('p', { class: 'muted small cost-tokens' });
  const holder = h('div', { class: 'chart-holder cost-chart' });
  const models = h('div', { class: 'cost-models' });
  const turns = h('div', { class: 'cost-turns' });
  const el = h('figure', { class: 'cost-panel' }, total, tokenLine, holder,
    h('h3', { class: 'cost-sub', text: 'Per model' }), models,
    h('h3', { class: 'cost-sub', text: 'Per turn' }), turns);
  function update(r) {
    const t = (r && r.total) || { requests: 0, cost_usd: 0, input_tokens: 0, output_tokens: 0, cache_read_tokens: 0, cache_creation_tokens: 0 };
    el.dataset.costUsd = String(t.cost_usd);
    el.dataset.requests = String(t.requests);
    setText(total, `${usd(t.cost_usd)} · ${t.requests} model request${t.requests === 1 ? '' : 's'}`);
    setText(tokenLine, `Tokens: ${tokens(t.input_tokens)} input · ${tokens(t.output_tokens)} output · `
      + `${tokens(t.cache_read_tokens)} cache read · ${tokens(t.cache_creation_tokens)} cache write`);
    const series = (r && r.series) || [];
    if (!series.length) {
      setChildren(holder, h('p', { class: 'muted pad', text: 'No cost reported yet (Claude Code exports it through OpenTelemetry).' }));
      setChildren(models);
      setChildren(turns);
      return;
    }
    setChildren(holder, chart(series));
    setChildren(models, table('cost-by-model', 'Tokens and cost per model', ['Model'],
      r.by_model.map((m) => [[m.model], m, { model: m.model }])));
    const numbers = new Map();
    const perSession = new Map();
    for (const tc of r.by_turn) {
      const n = (perSession.get(tc.session_id) || 0) + 1;
      perSession.set(tc.session_id, n);
      numbers.set(tc, n);
    }
    setChildren(turns, table('cost-by-turn', 'Tokens and cost per turn', showSession ? ['Turn', 'Session'] : ['Turn'],
      r.by_turn.map((tc) => {
        const label = [tc.prompt_id ? `Turn ${numbers.get(tc)}` : 'Outside a turn'];
        if (showSession) label.push(tc.session_id ? shortId(tc.session_id) : '—');
        return [label, tc, { promptId: tc.prompt_id || '' }];
      })));
  }
  update(null);
  return { el, update };
}
