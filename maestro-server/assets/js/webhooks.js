// Webhooks view (#/webhooks): the outgoing notification destinations (those of the config
// file read-only, those added here editable), a test message per destination, and the
// delivery log. Everything shown comes from `GET /api/notify/destinations` and
// `GET /api/notifications`; secrets and webhook URL paths are never sent back by the server.

import { h, setChildren, setText } from './dom.js';
import { api } from './api.js';
import { dateTime, relative, plural } from './format.js';
import { toast } from './toasts.js';

const KINDS = [
  ['permission', 'Permission needed'],
  ['session_failed', 'Session failed'],
  ['session_lost', 'Session lost'],
  ['task_done', 'Task done'],
  ['budget', 'Budget reached'],
];
const KIND_LABEL = Object.fromEntries([...KINDS, ['test', 'Test']]);
const REFRESH_MS = 3000;

const list = (text) => text.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);

export function mountWebhooks(root) {
  const destsEl = h('div', { class: 'webhook-list', id: 'webhook-list' });
  const logBody = h('tbody', { id: 'delivery-rows' });
  const logCount = h('span', { class: 'muted small', id: 'delivery-count' });
  const formHost = h('div', { id: 'webhook-form-host' });
  const addBtn = h('button', { type: 'button', class: 'btn btn-primary', id: 'webhook-add', text: 'Add destination' });
  root.append(
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', { text: 'Webhooks' }),
        h('p', { class: 'muted small', text: 'Where Maestro posts when an agent needs a permission, fails, is lost, reaches its budget, or a task is done.' })),
      addBtn),
    formHost,
    h('section', { class: 'panel', 'aria-label': 'Destinations' },
      h('div', { class: 'panel-head' }, h('h2', { text: 'Destinations' })), destsEl),
    h('section', { class: 'panel', 'aria-label': 'Delivery log' },
      h('div', { class: 'panel-head' }, h('h2', { text: 'Delivery log' }), logCount),
      h('div', { class: 'table-scroll' },
        h('table', { class: 'sessions-table delivery-table' },
          h('thead', {}, h('tr', {}, ['Queued', 'Destination', 'What', 'Status', 'Attempts', 'Last error']
            .map((c) => h('th', { scope: 'col', text: c })))),
          logBody))));

  let dests = [];
  let alive = true;

  async function loadDests() {
    try {
      dests = await api('GET', '/api/notify/destinations');
    } catch (e) {
      setChildren(destsEl, h('p', { class: 'form-error', text: `Cannot load the destinations: ${e.message}` }));
      return;
    }
    renderDests();
  }

  function renderDests() {
    if (!dests.length) {
      setChildren(destsEl, h('p', { class: 'muted', id: 'webhook-empty', text: 'No destination yet. Add one to be told when nobody is looking.' }));
      return;
    }
    setChildren(destsEl, dests.map((d) => {
      const result = h('span', { class: 'small webhook-test-result', 'aria-live': 'polite' });
      const test = h('button', { type: 'button', class: 'btn btn-sm', text: 'Send test', dataset: { action: 'test' } });
      test.addEventListener('click', async () => {
        test.disabled = true;
        setText(result, 'Sending…');
        try {
          const r = await api('POST', `/api/notify/destinations/${encodeURIComponent(d.name)}/test`);
          result.className = `small webhook-test-result ${r.delivered ? 'test-ok' : 'test-failed'}`;
          setText(result, r.delivered ? 'Delivered' : `Not delivered: ${r.error}`);
        } catch (e) {
          result.className = 'small webhook-test-result test-failed';
          setText(result, e.message);
        } finally {
          test.disabled = false;
        }
      });
      const actions = [test];
      if (d.source === 'api') {
        const edit = h('button', { type: 'button', class: 'btn btn-sm', text: 'Edit', dataset: { action: 'edit' } });
        edit.addEventListener('click', () => openForm(d));
        const del = h('button', { type: 'button', class: 'btn btn-sm btn-danger', text: 'Remove', dataset: { action: 'remove' } });
        del.addEventListener('click', async () => {
          if (!window.confirm(`Remove the destination "${d.name}"? Deliveries still queued for it are given up.`)) return;
          try {
            await api('DELETE', `/api/notify/destinations/${encodeURIComponent(d.name)}`);
            toast({ kind: 'success', title: 'Destination removed', message: d.name });
            await loadDests();
          } catch (e) {
            toast({ kind: 'error', title: 'Cannot remove the destination', message: e.message });
          }
        });
        actions.push(edit, del);
      }
      const filters = [
        d.on.map((k) => KIND_LABEL[k] || k).join(', '),
        d.tasks.length ? `tasks: ${d.tasks.join(', ')}` : null,
        d.projects.length ? `projects: ${d.projects.join(', ')}` : null,
      ].filter(Boolean).join(' · ');
      const origin = d.source === 'config' ? 'config file (change it there)'
        : `added by ${d.updated_by || '?'} ${relative(d.updated_at)}`;
      return h('article', { class: 'webhook', dataset: { name: d.name } },
        h('div', { class: 'webhook-head' },
          h('strong', { class: 'webhook-name', text: d.name }),
          h('span', { class: 'state-badge', text: d.format === 'slack' ? 'Slack' : (d.signed ? 'JSON, signed' : 'JSON') }),
          h('span', { class: 'muted small mono webhook-url', text: d.url })),
        h('p', { class: 'small webhook-filters', text: filters }),
        h('p', { class: 'muted small', text: origin }),
        h('div', { class: 'webhook-actions' }, actions, result));
    }));
  }

  function openForm(existing) {
    const editing = !!existing;
    const field = (label, input, hint) => h('label', { class: 'wh-field' },
      h('span', { class: 'field-label', text: label }), input, hint ? h('span', { class: 'muted small', text: hint }) : null);
    const name = h('input', { class: 'input', id: 'wh-name', name: 'name', required: true, maxlength: '64', value: existing ? existing.name : '', disabled: editing });
    const url = h('input', { class: 'input', id: 'wh-url', name: 'url', type: 'url', placeholder: editing ? 'unchanged' : 'https://hooks.slack.com/services/…', required: !editing });
    const format = h('select', { class: 'input', id: 'wh-format', name: 'format' },
      h('option', { value: 'slack', text: 'Slack incoming webhook', selected: existing ? existing.format === 'slack' : true }),
      h('option', { value: 'json', text: 'JSON (signed with a secret)', selected: existing ? existing.format === 'json' : false }));
    const secret = h('input', { class: 'input', id: 'wh-secret', name: 'secret', type: 'password', autocomplete: 'off',
      placeholder: editing && existing.signed ? 'unchanged (empty the field and save to keep it)' : 'HMAC-SHA256 key (JSON format)' });
    const on = new Set(existing ? existing.on : KINDS.map(([k]) => k));
    const kinds = h('fieldset', { class: 'wh-field kinds' }, h('legend', { class: 'field-label', text: 'Send when' }),
      KINDS.map(([k, label]) => h('label', { class: 'kind-check' },
        h('input', { type: 'checkbox', name: 'on', value: k, checked: on.has(k) }), ` ${label}`)));
    const tasks = h('input', { class: 'input', id: 'wh-tasks', name: 'tasks', value: existing ? existing.tasks.join(', ') : '', placeholder: 'any task (or task ids, comma-separated)' });
    const projects = h('input', { class: 'input', id: 'wh-projects', name: 'projects', value: existing ? existing.projects.join(', ') : '', placeholder: 'any project (or directories, comma-separated)' });
    const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
    const save = h('button', { type: 'submit', class: 'btn btn-primary', text: editing ? 'Save' : 'Add' });
    const cancel = h('button', { type: 'button', class: 'btn', text: 'Cancel' });
    const form = h('form', { class: 'panel webhook-form', id: 'webhook-form', 'aria-label': editing ? `Edit ${existing.name}` : 'New destination' },
      h('div', { class: 'panel-head' }, h('h2', { text: editing ? `Edit ${existing.name}` : 'New destination' })),
      field('Name', name), field('URL', url, editing ? 'Leave empty to keep the current URL (it is never shown back).' : null),
      field('Format', format), field('Secret', secret, editing ? 'Leave empty to keep it; a new value replaces it.' : null),
      kinds, field('Tasks', tasks), field('Projects', projects), error,
      h('div', { class: 'form-actions' }, save, cancel));
    cancel.addEventListener('click', () => { formHost.replaceChildren(); addBtn.focus(); });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const body = {
        format: format.value,
        on: [...form.querySelectorAll('input[name=on]:checked')].map((c) => c.value),
        tasks: list(tasks.value),
        projects: list(projects.value),
      };
      if (!editing) body.name = name.value.trim();
      if (url.value.trim()) body.url = url.value.trim();
      if (secret.value) body.secret = secret.value;
      save.disabled = true;
      error.hidden = true;
      try {
        if (editing) await api('PUT', `/api/notify/destinations/${encodeURIComponent(existing.name)}`, body);
        else await api('POST', '/api/notify/destinations', body);
        formHost.replaceChildren();
        toast({ kind: 'success', title: editing ? 'Destination saved' : 'Destination added', message: existing ? existing.name : body.name });
        await loadDests();
        addBtn.focus();
      } catch (err) {
        error.hidden = false;
        setText(error, err.message);
      } finally {
        save.disabled = false;
      }
    });
    formHost.replaceChildren(form);
    (editing ? url : name).focus();
  }

  async function loadLog() {
    let rows;
    try {
      rows = await api('GET', '/api/notifications?limit=200');
    } catch {
      return;
    }
    setText(logCount, rows.length ? plural(rows.length, 'delivery') : 'Nothing sent yet');
    setChildren(logBody, rows.map((r) => h('tr', { dataset: { status: r.status } },
      h('td', { 'data-label': 'Queued', title: dateTime(r.created_at), text: relative(r.created_at) }),
      h('td', { 'data-label': 'Destination', text: r.destination }),
      h('td', { 'data-label': 'What', text: r.summary, title: KIND_LABEL[r.kind] || r.kind }),
      h('td', { 'data-label': 'Status' }, h('span', { class: ['state-badge', `delivery-${r.status}`], text: r.status })),
      h('td', { 'data-label': 'Attempts', text: String(r.attempts) }),
      h('td', { 'data-label': 'Last error', class: 'small', text: r.last_error || '' }))));
  }

  addBtn.addEventListener('click', () => openForm(null));
  loadDests();
  loadLog();
  const timer = setInterval(() => { if (alive) loadLog(); }, REFRESH_MS);
  return () => {
    alive = false;
    clearInterval(timer);
  };
}
