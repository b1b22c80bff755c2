// A hook's execution log: newest first, filtered by status, with new and changed executions
// arriving live over Server-Sent Events.

import { api, listen } from './api.js';
import { duration, fill, h, statusBadge, when } from './dom.js';

const MAX_ROWS = 200;
const STATUSES = ['queued', 'running', 'retrying', 'succeeded', 'failed', 'skipped'];

export async function renderLog(body, hook) {
  const hookPath = `/api/hooks/${encodeURIComponent(hook.id)}`;
  const filter = h('select', { id: 'status-filter' },
    h('option', { value: '' }, 'any status'),
    STATUSES.map((s) => h('option', { value: s }, s)));
  const list = h('ul', { class: 'rows', id: 'executions', 'aria-live': 'polite' });
  const more = h('button', { type: 'button', hidden: true }, 'Older executions');
  const live = h('span', { class: 'muted small', id: 'live-state' }, 'connecting…');
  let cursor = null;

  const load = async (append) => {
    const query = new URLSearchParams({ limit: '50' });
    if (filter.value) query.set('status', filter.value);
    if (append && cursor) query.set('cursor', cursor);
    const page = await api('GET', `${hookPath}/executions?${query}`);
    if (!append) list.replaceChildren();
    page.executions.forEach((e) => list.append(row(e)));
    cursor = page.nextCursor;
    more.hidden = !cursor;
    showEmpty(list, hook, filter.value);
  };
  // A busy hook must not grow the page without end: past a page's worth, the oldest rows go
  // and "Older executions" reaches them again.
  const trim = () => {
    const rows = list.querySelectorAll('[data-execution]');
    if (rows.length <= MAX_ROWS) return;
    [...rows].slice(MAX_ROWS).forEach((r) => r.remove());
    cursor = list.querySelector('[data-execution]:last-of-type')?.dataset.execution ?? cursor;
    more.hidden = false;
  };
  filter.addEventListener('change', () => load(false));
  more.addEventListener('click', () => load(true));

  fill(body,
    h('div', { class: 'toolbar' },
      h('label', { for: 'status-filter' }, 'Show'), filter, live),
    list, more);
  await load(false);

  return listen(`${hookPath}/executions/stream`, {
    ready: () => { live.textContent = '● live'; },
    execution: (e) => {
      const existing = list.querySelector(`[data-execution="${CSS.escape(e.id)}"]`);
      const wanted = !filter.value || filter.value === e.status;
      if (existing && wanted) existing.replaceWith(row(e));
      else if (existing) existing.remove();
      else if (wanted) list.prepend(row(e));
      trim();
      showEmpty(list, hook, filter.value);
    },
    resync: () => load(false),
  });
}

function row(e) {
  const title = e.label || e.eventType || (e.test ? 'test run' : e.replayOf ? 'replay' : 'delivery');
  const attempts = e.attemptCount ?? e.attempts?.length ?? 0;
  return h('li', { class: 'row card', dataset: { execution: e.id, status: e.status } },
    h('a', { href: `#/executions/${encodeURIComponent(e.id)}`, class: 'row-link' },
      h('div', { class: 'row-head' }, statusBadge(e.status), h('strong', {}, title), when(e.receivedAt)),
      h('p', { class: 'muted small' },
        e.eventType ? `event ${e.eventType} · ` : '',
        `${duration(e.durationMs)} · ${attempts} attempt${attempts === 1 ? '' : 's'}`,
        e.replayOf ? ' · replay' : '', e.test ? ' · test' : ''),
      e.error ? h('p', { class: 'error-text small' }, e.error) : null,
      e.skipReason ? h('p', { class: 'muted small' }, e.skipReason) : null));
}

function showEmpty(list, hook, status) {
  list.querySelector('.empty')?.remove();
  if (list.children.length) return;
  const text = status
    ? `No ${status} executions.`
    : hook.trigger === 'schedule'
      ? 'No runs yet: this hook runs at its next scheduled time.'
      : 'No deliveries yet. Point the sender at the URL above, or use the curl under "Test it with curl"; new executions appear here as they arrive.';
  list.append(h('li', { class: 'empty' }, text));
}
