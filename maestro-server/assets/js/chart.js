// Tool-usage chart in plain SVG: one bar per tool (successes and failures), the seed's
// "Read: 45 uses (100% success)" label, and p50 / p95 durations.

import { h, s, setChildren } from './dom.js';
import { ms, pct, plural } from './format.js';

const ROW = 46;
const WIDTH = 560;
const LABEL_Y = 16;
const BAR_Y = 22;
const BAR_H = 12;
const RIGHT = 150;

/** A `<figure>` whose `update(metrics)` redraws it. */
export function createToolChart() {
  const totals = h('p', { class: 'chart-totals muted small' });
  const holder = h('div', { class: 'chart-holder' });
  const table = h('table', { class: 'sr-only' });
  const el = h('figure', { class: 'tool-chart' }, holder, h('figcaption', {}, totals), table);
  function update(m) {
    const tools = (m && m.tools) || [];
    if (!tools.length) {
      setChildren(holder, h('p', { class: 'muted pad', text: 'No tool calls yet.' }));
      totals.textContent = '';
      table.replaceChildren();
      return;
    }
    const max = Math.max(...tools.map((t) => t.calls), 1);
    const barMax = WIDTH - RIGHT - 8;
    const height = tools.length * ROW + 4;
    const svg = s('svg', {
      class: 'chart-svg',
      viewBox: `0 0 ${WIDTH} ${height}`,
      width: '100%',
      role: 'img',
      'aria-label': tools.map((t) => `${t.tool}: ${t.calls} uses (${pct(t.success_rate)} success)`).join('; '),
    });
    tools.forEach((t, i) => {
      const y = i * ROW;
      const okW = (t.successes / max) * barMax;
      const failW = (t.failures / max) * barMax;
      const label = `${t.tool}: ${t.calls} use${t.calls === 1 ? '' : 's'} (${pct(t.success_rate)} success)`;
      svg.append(
        s('g', { class: 'chart-row', dataset: { tool: t.tool } },
          s('text', { x: '0', y: String(y + LABEL_Y), class: 'chart-label' }, label),
          s('rect', { x: '0', y: String(y + BAR_Y), width: String(barMax), height: String(BAR_H), rx: '3', class: 'bar-track' }),
          okW > 0 ? s('rect', { x: '0', y: String(y + BAR_Y), width: String(Math.max(2, okW)), height: String(BAR_H), rx: '3', class: 'bar-ok' }) : null,
          failW > 0 ? s('rect', { x: String(okW), y: String(y + BAR_Y), width: String(Math.max(2, failW)), height: String(BAR_H), rx: '3', class: 'bar-fail' }) : null,
          s('text', { x: String(WIDTH), y: String(y + BAR_Y + BAR_H - 2), class: 'chart-pct', 'text-anchor': 'end' },
            `p50 ${ms(t.p50_ms)} · p95 ${ms(t.p95_ms)}`),
          s('title', {}, `${label}; ${t.failures} failed; p50 ${ms(t.p50_ms)}, p95 ${ms(t.p95_ms)}`)),
      );
    });
    setChildren(holder, svg);
    const rate = m.total_calls ? (m.total_calls - m.total_failures) / m.total_calls : null;
    totals.textContent = `${m.total_calls} tool call${m.total_calls === 1 ? '' : 's'} · ${m.total_failures} failed · ${pct(rate)} success · ${plural(m.events, 'event')}`;
    setChildren(table,
      h('caption', { text: 'Tool usage' }),
      h('tr', {}, ['Tool', 'Calls', 'Successes', 'Failures', 'Success rate', 'p50', 'p95'].map((c) => h('th', { text: c }))),
      tools.map((t) => h('tr', {}, [t.tool, t.calls, t.successes, t.failures, pct(t.success_rate), ms(t.p50_ms), ms(t.p95_ms)].map((c) => h('td', { text: String(c) })))));
  }
  return { el, update };
}
