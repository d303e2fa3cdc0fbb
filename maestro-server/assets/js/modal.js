// Accessible modal dialogs on the native <dialog> element: focus moves in, Tab is trapped,
// Esc closes, focus returns to where it was.

import { h } from './dom.js';

let current = null;

const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]), textarea:not([disabled]), select:not([disabled]), [tabindex]:not([tabindex="-1"])';

/** Where focus goes when the opener is gone by then: its card's title, or the pending button. */
function fallbackOf(opener) {
  if (!opener || !opener.closest) return null;
  const card = opener.closest('.card');
  if (card) return card.querySelector('.card-title');
  if (opener.closest('.pending-wrap')) return document.getElementById('pending-btn');
  return null;
}

/** Whether `el` can take focus now: in the page, shown, not disabled. */
function focusable(el) {
  return !!el && el.isConnected && typeof el.focus === 'function' && !el.disabled
    && !el.closest('[hidden]') && el.getClientRects().length > 0;
}

/**
 * Puts focus back where the dialog was opened from; when that is gone or hidden (the blocked
 * badge cleared by the decision, the pending list closed), on its card's title, the pending
 * button, or the page's main region, so it never drops to <body>.
 */
export function restoreFocus(opener, fallback) {
  const candidates = [opener, fallback, document.getElementById('main')];
  const target = candidates.find(focusable) || document.getElementById('main');
  if (target) target.focus({ preventScroll: target.id === 'main' });
}

/**
 * Opens a dialog. `content` is a Node (or array of nodes); `actions` are buttons:
 * `{label, kind: 'primary'|'danger'|'ghost', onClick(dialog) -> (false to keep open), id}`.
 * Returns `{el, close, setBusy, setError}`.
 */
export function openDialog({ title, content, actions = [], onClose, className = '', label }) {
  if (current) current.close();
  const opener = document.activeElement;
  const fallback = fallbackOf(opener);
  const titleId = `dlg-title-${Math.random().toString(36).slice(2)}`;
  const errorBox = h('p', { class: 'dialog-error', role: 'alert', hidden: true });
  const buttons = actions.map((a) =>
    h('button', {
      type: 'button',
      class: ['btn', `btn-${a.kind || 'ghost'}`],
      id: a.id,
      text: a.label,
    }),
  );
  const closeBtn = h('button', { type: 'button', class: 'icon-btn dialog-close', 'aria-label': 'Close', text: '×' });
  const dlg = h(
    'dialog',
    { class: ['dialog', className], 'aria-labelledby': titleId, 'aria-label': label },
    h('header', { class: 'dialog-head' }, h('h2', { id: titleId, text: title }), closeBtn),
    h('div', { class: 'dialog-body' }, content),
    errorBox,
    buttons.length ? h('footer', { class: 'dialog-actions' }, buttons) : null,
  );
  let closed = false;
  const api = {
    el: dlg,
    close() {
      if (closed) return;
      closed = true;
      if (current === api) current = null;
      if (dlg.open) dlg.close();
      dlg.remove();
      if (onClose) onClose();
      restoreFocus(opener, fallback);
    },
    setBusy(busy) {
      for (const b of buttons) b.disabled = busy;
    },
    setError(msg) {
      errorBox.textContent = msg || '';
      errorBox.hidden = !msg;
    },
  };
  actions.forEach((a, i) => {
    buttons[i].addEventListener('click', async () => {
      if (!a.onClick) {
        api.close();
        return;
      }
      api.setError('');
      api.setBusy(true);
      try {
        const keep = await a.onClick(api);
        if (keep !== false) api.close();
      } catch (e) {
        api.setError(e.message || String(e));
      } finally {
        api.setBusy(false);
      }
    });
  });
  closeBtn.addEventListener('click', () => api.close());
  dlg.addEventListener('cancel', (e) => {
    e.preventDefault();
    api.close();
  });
  dlg.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      api.close();
      return;
    }
    if (e.key !== 'Tab') return;
    const items = [...dlg.querySelectorAll(FOCUSABLE)].filter((el) => !el.hidden && el.offsetParent !== null);
    if (!items.length) return;
    const first = items[0];
    const last = items[items.length - 1];
    if (e.shiftKey && document.activeElement === first) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first.focus();
    }
  });
  dlg.addEventListener('click', (e) => {
    if (e.target === dlg) api.close(); // backdrop click
  });
  document.body.appendChild(dlg);
  dlg.showModal();
  const auto = dlg.querySelector('[autofocus]') || dlg.querySelector('.dialog-body ' + FOCUSABLE) || buttons[0] || closeBtn;
  if (auto) auto.focus();
  current = api;
  return api;
}

/** Yes/no confirmation; resolves true when confirmed. */
export function confirmDialog(title, message, confirmLabel = 'Confirm', kind = 'danger') {
  return new Promise((resolve) => {
    let answered = false;
    openDialog({
      title,
      content: h('p', { text: message }),
      actions: [
        { label: 'Cancel', kind: 'ghost' },
        {
          label: confirmLabel,
          kind,
          onClick: () => {
            answered = true;
            resolve(true);
          },
        },
      ],
      onClose: () => {
        if (!answered) resolve(false);
      },
    });
  });
}

/** Shows a text (raw JSON) in a <pre>. */
export function textDialog(title, text) {
  const pre = h('pre', { class: 'raw', tabindex: '0', text });
  return openDialog({
    title,
    content: pre,
    className: 'dialog-wide',
    actions: [
      {
        label: 'Copy',
        kind: 'ghost',
        onClick: async () => {
          await navigator.clipboard.writeText(text);
          return false;
        },
      },
      { label: 'Close', kind: 'primary' },
    ],
  });
}
