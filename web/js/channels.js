// Channels: Telegram and Slack status, link codes both ways, and the bound chats.

import { api } from './api.js';
import { fill, h, toast, when } from './dom.js';

export async function renderChannels(main) {
  fill(main, h('h1', {}, 'Channels'), h('p', { class: 'muted' }, 'Loading…'));
  let data;
  try {
    data = await api('GET', '/api/channels');
  } catch (error) {
    const missing = error.status === 404 || error.status === 405;
    fill(main, h('h1', {}, 'Channels'), h('div', { class: 'card empty' },
      h('p', {}, missing
        ? 'This hub does not offer channels yet: Telegram and Slack notifications arrive with a later version.'
        : `The channels could not be read: ${error.message}`)));
    return;
  }
  const code = h('div', { id: 'link-code', role: 'status' });
  fill(main,
    h('h1', {}, 'Channels'),
    h('p', { class: 'muted' }, 'A bound chat receives the owner\'s notifications. Bind one either way round: make a code here and send /link CODE to the bot, or send /link to the bot and enter the code it answers.'),
    h('div', { class: 'channel-list' }, data.channels.map(channelCard)),
    h('section', { class: 'card' },
      h('h2', {}, 'Link a chat'),
      h('button', { type: 'button', class: 'primary', onclick: () => makeCode(code) }, 'Make a link code'),
      code,
      codeForm()),
    h('section', { class: 'card' },
      h('h2', {}, 'Bound chats'),
      bindings(data.bindings || [])));
}

function channelCard(c) {
  const cls = c.status === 'ok' ? 'on' : c.status === 'error' ? 'status-failed' : 'off';
  return h('article', { class: 'card channel' },
    h('h2', {}, c.kind === 'telegram' ? 'Telegram' : c.kind === 'slack' ? 'Slack' : c.kind),
    h('span', { class: `badge ${cls}` }, c.status.replace('_', ' ')),
    c.detail ? h('p', { class: 'muted small' }, c.detail) : null);
}

async function makeCode(slot) {
  try {
    const answer = await api('POST', '/api/channels/link-codes');
    fill(slot, h('p', {}, 'Send this to the bot within 5 minutes: ', h('code', { class: 'big' }, `/link ${answer.code}`)),
      h('p', { class: 'muted small' }, 'Valid until ', when(answer.expiresAt), ', once.'));
  } catch (error) {
    fill(slot, h('p', { class: 'error-text' }, error.message));
  }
}

function codeForm() {
  const input = h('input', { type: 'text', id: 'bot-code', autocomplete: 'off', maxlength: 16, 'aria-describedby': 'bot-code-help bot-code-error' });
  const error = h('p', { class: 'error', id: 'bot-code-error', role: 'alert', hidden: true });
  const form = h('form', { class: 'inline-form' },
    h('div', { class: 'field' },
      h('label', { for: 'bot-code' }, 'Code from the bot'),
      input,
      h('p', { class: 'help', id: 'bot-code-help' }, 'Send /link to the Telegram bot or the Slack command; it answers with a 6-character code.')),
    error,
    h('button', { type: 'submit' }, 'Link'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.hidden = true;
    try {
      await api('POST', '/api/channels/link', { code: input.value.trim() });
      toast('Chat linked');
      window.dispatchEvent(new HashChangeEvent('hashchange'));
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
      input.focus();
    }
  });
  return form;
}

function bindings(list) {
  if (!list.length) return h('p', { class: 'empty' }, 'No chats are bound yet. Link one above to get notifications.');
  return h('ul', { class: 'rows' }, list.map((b) => h('li', { class: 'row' },
    h('div', { class: 'row-head' },
      h('strong', {}, b.displayName || b.chatId),
      h('span', { class: 'muted' }, b.channel),
      h('span', { class: b.verified ? 'badge on' : 'badge off' }, b.verified ? 'verified' : 'not verified'),
      when(b.createdAt),
      h('button', {
        type: 'button', class: 'small danger',
        onclick: async () => {
          if (!confirm(`Unlink ${b.displayName || b.chatId}? It stops receiving notifications.`)) return;
          try {
            await api('DELETE', `/api/channels/bindings/${encodeURIComponent(b.id)}`);
            toast('Unlinked');
            window.dispatchEvent(new HashChangeEvent('hashchange'));
          } catch (error) {
            toast(error.message);
          }
        },
      }, 'Unlink')))));
}
