// One hook: its URL, a ready curl, what can be done to it (API hooks only), and its execution
// log or its rejected deliveries.

import { api } from './api.js';
import { copyButton, fill, h, pre, toast, when } from './dom.js';
import { curlCommand, isTimestamped, rememberSecret, sendCommand, takeSecret } from './curl.js';
import { actionText } from './hooks.js';
import { renderLog } from './log.js';
import { yamlExport } from './yaml.js';

const SAMPLE = '{"action":"opened","objectName":"hello from hookhub"}';

export async function renderHook(main, id, tab) {
  const hook = await api('GET', `/api/hooks/${encodeURIComponent(id)}`);
  const secret = takeSecret(hook.id);
  const base = `#/hooks/${encodeURIComponent(hook.id)}`;
  const body = h('section', { class: 'tab-body' });
  const yaml = yamlExport(`/api/hooks/${encodeURIComponent(hook.id)}`);
  fill(main,
    h('div', { class: 'page-head' },
      h('h1', {}, hook.name || hook.id),
      h('span', { class: hook.enabled ? 'badge on' : 'badge off' }, hook.enabled ? 'enabled' : 'disabled'),
      hook.readOnly ? h('span', { class: 'badge source' }, 'config file') : null),
    h('p', { class: 'muted' }, h('code', {}, hook.id), ' · ', actionText(hook)),
    secret ? secretOnce(secret) : null,
    hook.trigger === 'schedule' ? h('p', {}, `Runs on the schedule ${hook.triggerConfig.cron} (${hook.triggerConfig.timezone || 'UTC'}).`) : urlCard(hook, secret),
    hook.readOnly
      ? [h('p', { class: 'note' }, 'Defined in the config file: it is read-only here. Edit the file and the hub applies it on save.'),
        h('div', { class: 'actions' }, yaml.button)]
      : actionsBar(hook, yaml.button),
    yaml.place,
    h('nav', { class: 'tabs', 'aria-label': 'Hook views' },
      h('a', { href: base, 'aria-current': tab === 'log' ? 'page' : null }, 'Execution log'),
      h('a', { href: `${base}/rejected`, 'aria-current': tab === 'rejected' ? 'page' : null }, 'Rejected deliveries')),
    body);
  if (tab === 'rejected') return renderRejected(body, hook);
  return renderLog(body, hook);
}

function secretOnce(secret) {
  return h('div', { class: 'card notice copyable', role: 'status' },
    h('h2', {}, 'The hook\'s secret'),
    h('p', {}, 'Copy it now and give it to the sender: it is not shown again.'),
    h('pre', { class: 'code secret' }, secret),
    copyButton(secret, 'Copy secret'));
}

function urlCard(hook, knownSecret) {
  const secretInput = h('input', { type: 'password', id: 'curl-secret', autocomplete: 'off', value: knownSecret || '' });
  const bodyInput = h('textarea', { id: 'curl-body', rows: 2, value: SAMPLE });
  const output = h('pre', { class: 'code', id: 'curl-command', tabindex: '0' });
  const note = h('p', { class: 'help' });
  const update = async () => {
    const secret = secretInput.value.trim();
    const curl = await curlCommand(hook, secret, bodyInput.value);
    output.textContent = curl || sendCommand(hook, secret, bodyInput.value);
    note.textContent = curl
      ? `Signed in this browser for this exact body${isTimestamped(hook) ? '; the signature is valid for 5 minutes' : ''}. The secret is not sent anywhere.`
      : secret
        ? 'This scheme is signed with more than the body, so here is the hookhub command that signs and sends it.'
        : 'The hub keeps no readable copy of the secret. Type it above for a signed curl, or run this with SECRET set.';
  };
  secretInput.addEventListener('input', update);
  bodyInput.addEventListener('input', update);
  update();
  return h('div', { class: 'card' },
    h('h2', {}, 'Where senders post'),
    h('div', { class: 'copyable url-line' }, h('code', { id: 'hook-url' }, hook.url), copyButton(hook.url, 'Copy URL')),
    h('details', {},
      h('summary', {}, 'Test it with curl'),
      h('div', { class: 'field' }, h('label', { for: 'curl-secret' }, 'Secret (stays in this page)'), secretInput),
      h('div', { class: 'field' }, h('label', { for: 'curl-body' }, 'Sample body'), bodyInput),
      h('div', { class: 'copyable' }, output, copyButton(() => output.textContent, 'Copy command')),
      note));
}

function actionsBar(hook, ...more) {
  const path = `/api/hooks/${encodeURIComponent(hook.id)}`;
  const reload = () => window.dispatchEvent(new HashChangeEvent('hashchange'));
  const act = (label, handler, cls = '') => h('button', {
    type: 'button', class: `small ${cls}`,
    onclick: async (event) => {
      event.target.disabled = true;
      try {
        await handler();
      } catch (error) {
        toast(error.message);
      } finally {
        event.target.disabled = false;
      }
    },
  }, label);
  return h('div', { class: 'actions', role: 'group', 'aria-label': 'Hook actions' },
    h('a', { href: `#/hooks/${encodeURIComponent(hook.id)}/edit`, class: 'button small' }, 'Edit'),
    act(hook.enabled ? 'Disable' : 'Enable', async () => {
      await api('PATCH', path, { enabled: !hook.enabled });
      toast(hook.enabled ? 'Disabled' : 'Enabled');
      reload();
    }),
    act('Send test', async () => {
      await api('POST', `${path}/test`);
      toast('Test run queued');
    }),
    act('Rotate secret', async () => {
      if (!confirm('Make a new secret now? The current one stops working at once.')) return;
      const answer = await api('POST', `${path}/rotate-secret`, {});
      rememberSecret(hook.id, answer.webhookSecret);
      reload();
    }),
    act('Rotate path', async () => {
      if (!confirm('Move the hook to a new random path? The current URL answers 404 at once.')) return;
      const answer = await api('POST', `${path}/rotate-path`);
      toast(`New URL: ${answer.url}`);
      reload();
    }),
    act('Delete', async () => {
      if (!confirm(`Delete the hook ${hook.id}? Its executions stay in the log until they are pruned.`)) return;
      await api('DELETE', path);
      toast('Deleted');
      location.hash = '#/hooks';
    }, 'danger'),
    more);
}

async function renderRejected(body, hook) {
  const { rejections } = await api('GET', `/api/hooks/${encodeURIComponent(hook.id)}/rejections`);
  if (!rejections.length) {
    fill(body, h('p', { class: 'empty' }, 'No refused deliveries. When a sender gets an error answer on this path, the attempt shows up here with the reason. ', h('a', { href: '#/rejected' }, 'All rejected deliveries')));
    return;
  }
  fill(body,
    h('p', { class: 'muted' }, `The newest ${rejections.length} refused deliveries on /api/webhooks/${hook.triggerConfig.webhookPath}; kept in memory only. `,
      h('a', { href: '#/rejected' }, 'All rejected deliveries')),
    h('ul', { class: 'rows' }, rejections.map((r) => h('li', { class: 'row card' },
      h('div', { class: 'row-head' }, h('span', { class: 'badge status-failed' }, String(r.status)), h('code', {}, r.code), when(r.at)),
      h('p', {}, r.message),
      h('p', { class: 'muted small' }, `${r.method} from ${r.client}`, r.bodyBytes === null ? '' : `, ${r.bodyBytes} bytes`),
      h('details', {}, h('summary', {}, 'Headers (secrets redacted)'), pre(r.headers, 'Headers'))))));
}
