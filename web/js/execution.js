// One execution: what arrived (payload, redacted headers), every attempt (attempts.js), the
// tries still ahead of a retrying one (retries.js), the output; Replay runs the same delivery
// again.

import { api } from './api.js';
import { attemptList } from './attempts.js';
import { duration, fill, h, pre, statusBadge, toast, when } from './dom.js';
import { retrySchedule } from './retries.js';

export async function renderExecution(main, id) {
  const e = await api('GET', `/api/executions/${encodeURIComponent(id)}`);
  const hookHref = `#/hooks/${encodeURIComponent(e.hookId)}`;
  const replay = h('button', { type: 'button', class: 'primary', id: 'replay' }, 'Replay');
  replay.addEventListener('click', async () => {
    replay.disabled = true;
    try {
      const answer = await api('POST', `/api/executions/${encodeURIComponent(e.id)}/replay`);
      const copy = answer.executions[0];
      toast('Replay queued');
      location.hash = `#/executions/${encodeURIComponent(copy.executionId)}`;
    } catch (error) {
      toast(error.message);
      replay.disabled = false;
    }
  });
  const t = e.trigger || {};
  fill(main,
    h('p', {}, h('a', { href: hookHref }, `← ${e.hookId}`)),
    h('div', { class: 'page-head' },
      h('h1', {}, e.label || e.eventType || 'Execution'),
      statusBadge(e.status),
      replay),
    h('dl', { class: 'facts card' },
      fact('Id', h('code', {}, e.id)),
      fact('Received', when(e.receivedAt)),
      fact('Started', when(e.startedAt)),
      fact('Finished', when(e.finishedAt)),
      fact('Took', duration(e.durationMs)),
      e.eventType ? fact('Event', e.eventType) : null,
      e.deliveryId ? fact('Delivery id', h('code', {}, e.deliveryId)) : null,
      e.lockKey ? fact('Lock key', h('code', {}, e.lockKey)) : null,
      e.nextAttemptAt ? fact('Next attempt', when(e.nextAttemptAt)) : null,
      e.replayOf ? fact('Replay of', h('a', { href: `#/executions/${encodeURIComponent(e.replayOf)}` }, e.replayOf)) : null,
      e.collapsedInto ? fact('Collapsed into', h('a', { href: `#/executions/${encodeURIComponent(e.collapsedInto)}` }, e.collapsedInto)) : null,
      e.test ? fact('Test run', 'yes') : null),
    e.error ? h('p', { class: 'error-text card' }, e.error) : null,
    e.skipReason ? h('p', { class: 'note' }, `Skipped: ${e.skipReason}`) : null,
    section('Payload', h('p', { class: 'muted small' }, `${t.method || ''} /api/webhooks/${t.path || ''}`), pre(t.body ?? t.rawBody ?? null, 'Payload')),
    section('Headers', h('p', { class: 'muted small' }, 'Authorization, cookies, signatures and tokens are stored as [redacted].'), headerTable(t.headers || {})),
    Object.keys(t.query || {}).length ? section('Query', pre(t.query, 'Query')) : null,
    section('Attempts', attemptList(e.attempts || [])),
    retrySchedule(e.retrySchedule),
    e.output !== undefined ? section('Output', pre(e.output, 'Output')) : null);
}

function fact(name, value) {
  return [h('dt', {}, name), h('dd', {}, value)];
}

function section(title, ...content) {
  return h('section', { class: 'card' }, h('h2', {}, title), content);
}

function headerTable(headers) {
  const names = Object.keys(headers);
  if (!names.length) return h('p', { class: 'muted' }, 'No headers recorded.');
  return h('table', { class: 'headers' },
    h('tbody', {}, names.map((n) => h('tr', {}, h('th', { scope: 'row' }, n), h('td', {}, h('code', {}, headers[n]))))));
}
