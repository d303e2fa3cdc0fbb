// Toasts: error notifications for tool failures and API errors (StopFailure), plus UI
// messages. The region is aria-live; error toasts are role=alert.

import { h } from './dom.js';
import { on, state } from './store.js';
import { toolSubject, shortId } from './format.js';

/** Toasts on screen at most (the oldest go first). */
const MAX = 4;
/** Open toasts by group key: a burst of the same kind of news updates one toast. */
const groups = new Map();
/** The group of the toast that collects what did not fit. */
const MORE = '__more';
const LIFETIME = 10000;

function region() {
  return document.getElementById('toasts');
}

/**
 * Shows a toast: kind = 'error' | 'info' | 'success' | 'warning'. Toasts with the same `group`
 * (e.g. the failures of one session) are one toast that counts them and shows the latest.
 */
export function toast({ kind = 'info', title, message, href, linkText, action, group }) {
  const root = region();
  if (!root) return null;
  const open = group && groups.get(group);
  if (open && open.el.isConnected) {
    open.count += 1;
    open.el.querySelector('.toast-title').textContent = `${title} (${open.count})`;
    const msg = open.el.querySelector('.toast-msg');
    if (msg) msg.textContent = message || '';
    open.el.dataset.count = String(open.count);
    open.arm();
    return open.el;
  }
  if (group && group !== MORE && root.children.length >= MAX - 1) {
    // Full: a new group joins the one "more" toast instead of pushing older news out.
    return toast({ kind, title: 'More notifications', message: [title, message].filter(Boolean).join(' — '),
      href: '#/activity?status=error', linkText: 'Show the failures in Activity', group: MORE });
  }
  const close = h('button', { type: 'button', class: 'icon-btn toast-close', 'aria-label': 'Dismiss', text: '×' });
  const el = h(
    'div',
    { class: ['toast', `toast-${kind}`], role: kind === 'error' ? 'alert' : 'status' },
    h('div', { class: 'toast-icon', 'aria-hidden': 'true', text: { error: '!', success: '✓', warning: '⚠' }[kind] || 'i' }),
    h(
      'div',
      { class: 'toast-body' },
      h('strong', { class: 'toast-title', text: title }),
      message ? h('p', { class: 'toast-msg', text: message }) : null,
      href ? h('a', { class: 'toast-link', href, text: linkText || 'Open' }) : null,
      action ? h('button', { type: 'button', class: 'btn btn-sm toast-action', text: action.label,
        onclick: () => { remove(); action.onClick(); } }) : null,
    ),
    close,
  );
  let timer = null;
  function remove() {
    clearTimeout(timer);
    el.classList.add('toast-out');
    setTimeout(() => el.remove(), 180);
  }
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(remove, LIFETIME);
  };
  close.addEventListener('click', remove);
  el.addEventListener('mouseenter', () => clearTimeout(timer));
  el.addEventListener('mouseleave', arm);
  el.addEventListener('focusin', () => clearTimeout(timer));
  root.appendChild(el);
  while (root.children.length > MAX) root.firstElementChild.remove();
  arm();
  if (group) {
    groups.set(group, { el, count: 1, arm });
    for (const [k, v] of groups) if (!v.el.isConnected && v.el !== el) groups.delete(k);
  }
  return el;
}

function firstLine(s, max = 160) {
  const line = String(s || '').split('\n').find((l) => l.trim()) || '';
  return line.length > max ? `${line.slice(0, max)}…` : line;
}

function taskLabel(msg) {
  const t = msg.task_id && state.tasks.get(msg.task_id);
  return t ? ` · ${t.title}` : '';
}

/** Wires the feed: failures become error toasts linking to their session. */
export function initToasts() {
  on('message', (msg) => {
    const p = (msg.data && msg.data.payload) || {};
    const href = msg.session_id ? `#/session/${encodeURIComponent(msg.session_id)}` : null;
    const link = msg.session_id ? `Open session ${shortId(msg.session_id)}` : null;
    if (msg.type === 'hook:tool_failure') {
      const tool = (msg.data && msg.data.tool_name) || p.tool_name || 'Tool';
      const subject = toolSubject(p.tool_input);
      toast({
        kind: 'error',
        title: `${tool} failed${taskLabel(msg)}`,
        message: [firstLine(subject, 100), firstLine(p.error)].filter(Boolean).join(' — '),
        href,
        linkText: link,
        group: `fail:${msg.session_id || ''}`,
      });
    } else if (msg.type === 'hook:stop_failure') {
      toast({
        kind: 'error',
        title: `API error${taskLabel(msg)}`,
        message: firstLine(p.last_assistant_message || p.error || 'The turn ended with an API error'),
        href,
        linkText: link,
        group: `fail:${msg.session_id || ''}`,
      });
    }
  });
}
