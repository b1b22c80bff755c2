// Sign-in: the admin token is exchanged for a session cookie; the page never stores it.

import { signIn } from './api.js';
import { fill, h } from './dom.js';

export function renderSignIn(main, signedIn) {
  const input = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'current-password', required: true, 'aria-describedby': 'token-help token-error' });
  const error = h('p', { class: 'error', id: 'token-error', role: 'alert', hidden: true });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', { class: 'card narrow', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Sign in to hookhub'),
    h('div', { class: 'field' },
      h('label', { for: 'token' }, 'Admin token'),
      input,
      h('p', { class: 'help', id: 'token-help' },
        'The token hookhub printed when it first started (hh_…), or admin.token from the config file. ',
        'You stay signed in in this browser until you sign out, close it, or leave it unused for 12 hours.')),
    error,
    button);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.hidden = true;
    button.disabled = true;
    try {
      await signIn(input.value);
      signedIn();
    } catch (e) {
      error.textContent = e.code === 'invalid_token'
        ? 'That is not the admin token. Check for a missing character and try again.'
        : e.message;
      error.hidden = false;
      input.select();
    } finally {
      button.disabled = false;
    }
  });
  fill(main, form);
  input.focus();
}
