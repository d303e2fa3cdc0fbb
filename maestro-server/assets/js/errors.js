// Error log panel: every failure with its full details (error text, exit code, stderr) and
// a link to the raw event.

import { h, setChildren, setText } from './dom.js';
import { clockTime, detailText, shortId } from './format.js';
import { showRawEvent } from './timeline.js';
import { byTime } from './store.js';

const MAX = 200;

export function createErrorLog({ showSession = false } = {}) {
  let items = [];
  const list = h('ol', { class: 'error-log', 'aria-live': 'polite', 'aria-label': 'Errors' });
  const count = h('span', { class: 'badge-count' });
  function render() {
    setText(count, String(items.length));
    count.classList.toggle('has-errors', items.length > 0);
    if (!items.length) {
      setChildren(list, h('li', { class: 'muted pad', text: 'No failures.' }));
      return;
    }
    const shown = items.slice(-MAX).reverse(); // newest first
    setChildren(list, shown.map((it) => h('li', { class: 'error-item', dataset: { itemId: String(it.id) } },
      h('div', { class: 'error-head' },
        h('time', { datetime: it.at, text: clockTime(it.at) }),
        it.tool_name ? h('span', { class: 'chip', text: it.tool_name }) : null,
        showSession ? h('a', { class: 'chip chip-session', href: `#/session/${encodeURIComponent(it.session_id)}`, text: shortId(it.session_id) }) : null,
        it.event_id ? h('button', { type: 'button', class: 'icon-btn raw-btn', title: 'Raw event', 'aria-label': 'Raw event', text: '{ }', onclick: () => showRawEvent(it.event_id) }) : null),
      h('p', { class: 'error-summary', text: it.summary }),
      it.detail ? h('pre', { class: 'raw error-detail', text: detailText(it.detail) }) : null)));
  }
  return {
    el: list,
    count,
    setItems(xs) {
      items = [...xs].sort(byTime);
      render();
    },
    upsert(it) {
      if (it.status !== 'error') {
        const before = items.length;
        items = items.filter((x) => x.id !== it.id);
        if (items.length !== before) render();
        return;
      }
      items = items.filter((x) => x.id !== it.id);
      items.push(it);
      items.sort(byTime);
      render();
    },
  };
}
