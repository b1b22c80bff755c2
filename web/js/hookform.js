// Create and edit a hook. Each field has a label and help; the API decides what is valid,
// and its 422 answer is shown under the field it names.

import { api } from './api.js';
import { field, fill, h } from './dom.js';
import { rememberSecret } from './curl.js';

const SCHEMES = [
  ['github', 'github: X-Hub-Signature-256 (GitHub, Gitea, Bitbucket, most senders)'],
  ['gitea', 'gitea: X-Gitea-Signature'], ['gitlab', 'gitlab: X-Gitlab-Token'],
  ['standard', 'standard: Standard Webhooks / Svix (whsec_ keys)'], ['stripe', 'stripe: Stripe-Signature'],
  ['slack', 'slack: X-Slack-Signature'], ['shopify', 'shopify: X-Shopify-Hmac-Sha256'],
  ['linear', 'linear: Linear-Signature'], ['bearer', 'bearer: Authorization: Bearer <secret>'],
  ['header', 'header: the secret in a header you name'], ['hmac', 'hmac: a custom HMAC (set its options in the config file or API)'],
];

// path, label, help, kind, and the part of the form it belongs to (shown for that choice only).
const FIELDS = [
  { path: 'name', label: 'Name', help: 'What the hook is for, as you will see it in lists.' },
  { path: 'id', label: 'Id', help: 'Letters a-z, digits, - and _. Made from the name when left empty; it cannot change later.', createOnly: true },
  { path: 'enabled', label: 'Enabled', help: 'A disabled hook answers 404 to deliveries and does not run on its schedule.', kind: 'checkbox' },
  { path: 'trigger', label: 'Trigger', help: 'What starts the hook.', kind: 'select', options: [['webhook', 'Webhook: a sender posts to a URL'], ['schedule', 'Schedule: a cron pattern']] },
  { path: 'triggerConfig.webhookPath', group: 'webhook', label: 'Path', help: 'The end of the URL: /api/webhooks/<path>. 1-128 of a-z 0-9 - _ /.' },
  { path: 'triggerConfig.scheme', group: 'webhook', label: 'Verification scheme', help: 'How the sender proves it knows the secret.', kind: 'select', options: SCHEMES },
  { path: 'triggerConfig.webhookSecret', group: 'webhook', label: 'Secret', kind: 'secret', help: 'Shared with the sender. Leave empty to have one generated and shown once.', editHelp: 'Leave empty to keep the current secret; use Rotate secret for a grace period.' },
  { path: 'triggerConfig.header', group: 'webhook', label: 'Header name', help: 'Only for the header and hmac schemes: the header that carries the secret or signature.' },
  { path: 'triggerConfig.events', group: 'webhook', label: 'Events', kind: 'list', help: 'Comma-separated event types that run the hook (e.g. push, pull_request); empty runs every delivery.' },
  { path: 'triggerConfig.filter', group: 'webhook', label: 'Filter', help: "A CEL expression over body, headers, query and eventType that must be true, e.g. body.action == 'opened'." },
  { path: 'triggerConfig.ipAllowlist', group: 'webhook', label: 'Allowed networks', kind: 'list', help: 'Comma-separated CIDRs that may deliver (e.g. 192.30.252.0/22); empty allows anyone with the secret.' },
  { path: 'triggerConfig.cron', group: 'schedule', label: 'Cron pattern', help: 'Minute hour day month weekday, e.g. 30 7 * * 1-5 for 7:30 on weekdays.' },
  { path: 'triggerConfig.timezone', group: 'schedule', label: 'Time zone', help: 'An IANA name such as Europe/Berlin; UTC when empty.' },
  { path: 'action', label: 'Action', help: 'What runs for each accepted delivery.', kind: 'select', options: [['webhook', 'Forward the event to another URL'], ['execute_tool', 'Run a tool from the config file']] },
  { path: 'actionConfig.webhookUrl', group: 'action-webhook', label: 'Forward to URL', help: 'An http:// or https:// URL. Failures are retried for about 1.5 hours.', editHelp: 'Credentials in it (user:pass@, query values) are shown as [redacted]: leave the URL as it is to keep them, or type the whole URL again.' },
  { path: 'actionConfig.webhookMethod', group: 'action-webhook', label: 'Method', help: 'POST when empty.' },
  { path: 'actionConfig.sign', group: 'action-webhook', label: 'Sign forwarded requests', kind: 'select', options: [['', 'not signed'], ['github', 'github (X-Hub-Signature-256)'], ['standard', 'Standard Webhooks']], help: 'Lets the receiver verify the hub sent it.' },
  { path: 'actionConfig.signingSecret', group: 'action-webhook', label: 'Signing secret', kind: 'secret', help: 'Needed when signing.', editHelp: 'Leave empty to keep the current one.' },
  { path: 'actionConfig.bodyTemplate', group: 'action-webhook', label: 'Body template', kind: 'textarea', help: 'Handlebars over webhook, hook and execution, e.g. {"text": "{{webhook.body.action}}"}. Empty forwards the received body unchanged.' },
  { path: 'actionConfig.toolId', group: 'action-execute_tool', label: 'Tool', help: 'The id of a tool under tools: in the config file. Tools are only defined there.' },
  { path: 'actionConfig.toolAction', group: 'action-execute_tool', label: 'Tool action', help: 'One of the tool\'s named actions, when it has several.' },
  { path: 'actionConfig.toolParams', group: 'action-execute_tool', label: 'Parameters', kind: 'pairs', help: 'One NAME=template a line; reach the tool as {{params.NAME}}.' },
  { path: 'actionConfig.concurrency', label: 'Runs at once', kind: 'number', help: 'How many executions of this hook may run at the same time (1-20, default 2).' },
];

/** Fields the API adds to a hook it shows; a hook sent back must not carry them. */
const SHOWN_ONLY = ['source', 'readOnly', 'url', 'hasSecret', 'queued', 'lastExecution'];

export async function renderHookForm(main, id) {
  const hook = id ? await api('GET', `/api/hooks/${encodeURIComponent(id)}`) : null;
  if (hook?.readOnly) {
    fill(main, h('h1', {}, hook.name || hook.id),
      h('p', {}, 'This hook comes from the config file and is read-only here: edit the file, and the hub applies it on save.'),
      h('a', { href: `#/hooks/${encodeURIComponent(id)}` }, 'Back to the hook'));
    return;
  }
  const base = hook ? structuredClone(hook) : { enabled: true, trigger: 'webhook', action: 'webhook', triggerConfig: { scheme: 'github' }, actionConfig: {} };
  SHOWN_ONLY.forEach((k) => delete base[k]);
  const inputs = new Map(FIELDS.filter((f) => !(hook && f.createOnly)).map((f) => [f.path, makeInput(f, get(base, f.path))]));
  const formError = h('p', { class: 'error', role: 'alert', hidden: true });
  const form = h('form', { class: 'card hook-form', novalidate: true },
    h('h1', {}, hook ? `Edit ${hook.name || hook.id}` : 'New hook'),
    [...inputs].map(([path, input]) => {
      const f = FIELDS.find((x) => x.path === path);
      const help = hook && f.editHelp ? f.editHelp : f.help;
      return h('div', { dataset: { group: f.group || '' } }, field({ label: f.label, name: path, help, input }));
    }),
    formError,
    h('div', { class: 'form-actions' },
      h('button', { type: 'submit', class: 'primary' }, hook ? 'Save' : 'Create hook'),
      h('a', { href: hook ? `#/hooks/${encodeURIComponent(id)}` : '#/hooks', class: 'button' }, 'Cancel')));
  const showGroups = () => {
    const trigger = inputs.get('trigger').value;
    const action = `action-${inputs.get('action').value}`;
    for (const div of form.querySelectorAll('[data-group]')) {
      const group = div.dataset.group;
      div.hidden = group !== '' && group !== trigger && group !== action;
    }
  };
  inputs.get('trigger').addEventListener('change', showGroups);
  inputs.get('action').addEventListener('change', showGroups);
  showGroups();
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    save(form, formError, inputs, base, hook);
  });
  fill(main, form);
  form.querySelector('input, select')?.focus();
}

async function save(form, formError, inputs, base, hook) {
  form.querySelectorAll('.field .error').forEach((e) => { e.hidden = true; });
  form.querySelectorAll('[aria-invalid]').forEach((e) => e.removeAttribute('aria-invalid'));
  formError.hidden = true;
  const body = structuredClone(base);
  for (const [path, input] of inputs) {
    const f = FIELDS.find((x) => x.path === path);
    const hidden = input.closest('[data-group]').hidden;
    set(body, path, hidden ? undefined : readInput(f, input));
  }
  try {
    const saved = hook
      ? await api('PUT', `/api/hooks/${encodeURIComponent(hook.id)}`, body)
      : await api('POST', '/api/hooks', body);
    if (saved.webhookSecret) rememberSecret(saved.id, saved.webhookSecret);
    location.hash = `#/hooks/${encodeURIComponent(saved.id)}`;
  } catch (error) {
    showError(form, formError, error);
  }
}

function showError(form, formError, error) {
  const path = (error.field || '').replace(/\[\d+\]/g, '');
  const input = path && form.querySelector(`[data-field="${CSS.escape(path)}"]`);
  if (input && !input.closest('[data-group]').hidden) {
    const slot = input.closest('.field').querySelector('.error');
    slot.textContent = error.message.startsWith(`${error.field}: `) ? error.message.slice(error.field.length + 2) : error.message;
    slot.hidden = false;
    input.setAttribute('aria-invalid', 'true');
    input.focus();
    return;
  }
  formError.textContent = error.message;
  formError.hidden = false;
}

function makeInput(f, value) {
  switch (f.kind) {
    case 'checkbox': return h('input', { type: 'checkbox', checked: value !== false });
    case 'select': {
      const select = h('select', {}, f.options.map(([v, text]) => h('option', { value: v }, text)));
      select.value = value ?? f.options[0][0];
      return select;
    }
    case 'textarea': return h('textarea', { rows: 4, value: value ?? '' });
    case 'pairs': return h('textarea', { rows: 3, value: Object.entries(value || {}).map(([k, v]) => `${k}=${v}`).join('\n') });
    case 'list': return h('input', { type: 'text', value: (value || []).join(', ') });
    case 'number': return h('input', { type: 'number', min: 1, max: 20, value: value ?? '' });
    case 'secret': return h('input', { type: 'password', autocomplete: 'new-password', value: '' });
    default: return h('input', { type: 'text', value: value ?? '' });
  }
}

/** The field's value for the API; undefined leaves the key out. */
function readInput(f, input) {
  const text = input.value?.trim();
  switch (f.kind) {
    case 'checkbox': return input.checked;
    case 'list': return text ? text.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
    case 'number': return text ? Number(text) : undefined;
    case 'pairs': {
      const lines = text ? text.split('\n').map((l) => l.trim()).filter(Boolean) : [];
      if (!lines.length) return undefined;
      return Object.fromEntries(lines.map((l) => { const i = l.indexOf('='); return i < 0 ? [l, ''] : [l.slice(0, i).trim(), l.slice(i + 1)]; }));
    }
    default: return text ? text : undefined;
  }
}

function get(obj, path) {
  return path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);
}

function set(obj, path, value) {
  const keys = path.split('.');
  const last = keys.pop();
  let o = obj;
  for (const k of keys) o = o[k] ??= {};
  if (value === undefined) delete o[last];
  else o[last] = value;
}
