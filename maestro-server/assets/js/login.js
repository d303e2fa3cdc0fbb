// Operator login: the token is exchanged for an HttpOnly SameSite=Strict cookie.

import { h } from './dom.js';
import { Api } from './api.js';

export function mountLogin(root, onLogin) {
  const input = h('input', {
    class: 'input mono', id: 'login-token', type: 'password', autocomplete: 'current-password',
    required: true, autofocus: true, placeholder: 'Operator token', 'aria-describedby': 'login-help',
  });
  const error = h('p', { class: 'form-error', id: 'login-error', role: 'alert', hidden: true });
  const btn = h('button', { type: 'submit', class: 'btn btn-primary btn-block', id: 'login-btn', text: 'Sign in' });
  const form = h('form', { class: 'login-card', id: 'login-form' },
    h('div', { class: 'login-brand' }, h('img', { src: '/assets/favicon.svg', alt: '', width: '40', height: '40' }), h('h1', { text: 'Maestro' })),
    h('p', { class: 'muted', text: 'Observe and steer your Claude Code agents.' }),
    h('label', { class: 'field-label', for: 'login-token', text: 'Operator token' }),
    input,
    h('p', { class: 'muted small', id: 'login-help', text: 'maestro-server printed where the operator token is kept when it started (operator.token in its data dir).' }),
    error,
    btn);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    btn.disabled = true;
    try {
      await Api.login(input.value.trim());
      input.value = '';
      onLogin();
    } catch (err) {
      error.textContent = err.status === 401 ? 'That token is not the operator token.' : err.message;
      error.hidden = false;
      input.select();
    } finally {
      btn.disabled = false;
    }
  });
  root.replaceChildren(h('div', { class: 'login-wrap' }, form));
  input.focus();
}
