// The Hooks page: every hook with its path, action, state, last run and last 24 hours; live
// while open.

import { api, listen } from './api.js';
import { dayChart } from './chart.js';
import { fill, h, pre, statusBadge, when } from './dom.js';
import { yamlExport } from './yaml.js';

const EXAMPLE = `hooks:
  - id: github-push
    name: GitHub pushes
    triggerConfig:
      webhookPath: github
      scheme: github
      webhookSecret: \${GITHUB_WEBHOOK_SECRET}
    action: webhook
    actionConfig:
      webhookUrl: https://example.com/deploy`;

export async function renderHooks(main) {
  const list = h('div', { class: 'hook-list' });
  const yaml = yamlExport('/api/hooks', 'Copy all as YAML');
  fill(main,
    h('div', { class: 'page-head' },
      h('h1', {}, 'Hooks'),
      h('a', { href: '#/hooks/new', class: 'button primary' }, 'New hook'),
      yaml.button),
    yaml.place,
    list);
  const load = async () => showHooks(list, (await api('GET', '/api/hooks')).hooks);
  await load();
  // Last statuses change as executions run; the list is read again at most once a second,
  // however busy the hub is.
  let pending = null;
  const soon = () => {
    pending ??= setTimeout(() => { pending = null; load(); }, 1000);
  };
  const stop = listen('/api/executions/stream', { execution: soon, resync: soon });
  return () => { clearTimeout(pending); stop(); };
}

function showHooks(list, hooks) {
  if (hooks.length === 0) {
    fill(list, h('div', { class: 'empty card' },
      h('h2', {}, 'No hooks yet'),
      h('p', {}, 'A hook gives you a URL to point a sender at (GitHub, Stripe, a cron job…), checks who is sending, and runs one action. ',
        h('a', { href: '#/hooks/new' }, 'Create one here'), ', or write it in the config file, for example:'),
      pre(EXAMPLE, 'Example hook in the config file')));
    return;
  }
  fill(list, hooks.map(hookRow));
}

function hookRow(hook) {
  const where = hook.trigger === 'schedule'
    ? `cron ${hook.triggerConfig.cron}`
    : `/api/webhooks/${hook.triggerConfig.webhookPath}`;
  const last = hook.lastExecution;
  return h('article', { class: 'hook-row card', dataset: { hook: hook.id } },
    h('div', { class: 'hook-main' },
      h('h2', {}, h('a', { href: `#/hooks/${encodeURIComponent(hook.id)}` }, hook.name || hook.id)),
      h('p', { class: 'muted' }, h('code', {}, where), ' → ', actionText(hook))),
    h('div', { class: 'hook-tags' },
      hook.enabled ? h('span', { class: 'badge on' }, 'enabled') : h('span', { class: 'badge off' }, 'disabled'),
      hook.readOnly ? h('span', { class: 'badge source', title: 'Defined in the config file: edit it there' }, 'config file') : null,
      statusBadge(last?.status),
      last ? h('span', { class: 'muted small' }, when(last.receivedAt)) : null,
      hook.queued ? h('span', { class: 'muted small' }, `${hook.queued} waiting`) : null,
      hook.last24h ? h('span', { class: 'day' }, dayChart(hook.last24h), h('span', { class: 'muted small' }, '24 h')) : null),
    h('div', { class: 'hook-actions' },
      h('a', { href: `#/hooks/${encodeURIComponent(hook.id)}`, class: 'button small' }, 'Log'),
      hook.readOnly ? null : h('a', { href: `#/hooks/${encodeURIComponent(hook.id)}/edit`, class: 'button small' }, 'Edit')));
}

export function actionText(hook) {
  const c = hook.actionConfig || {};
  if (hook.action === 'webhook') return `forward to ${c.webhookUrl || '?'}`;
  if (hook.action === 'execute_tool') return `run tool ${c.toolId || '?'}${c.toolAction ? ` (${c.toolAction})` : ''}`;
  if (hook.action === 'notify') return `notify on ${c.channels?.length ? c.channels.join(' and ') : 'every channel'}`;
  if (hook.action === 'spawn_agent') return `ask the agent${c.agentTopic ? ` (${c.agentTopic})` : ''}`;
  return hook.action;
}
