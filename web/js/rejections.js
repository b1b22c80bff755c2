// Rejected deliveries across every path (GET /api/rejections): what was refused, why, when and
// from where, newest first, with older pages on request. The hub keeps them in memory only.

import { api } from './api.js';
import { fill, h, pre, when } from './dom.js';

const PAGE = 50;

export async function renderRejections(main) {
  const list = h('ul', { class: 'rows', id: 'rejections' });
  const more = h('div', { class: 'form-actions' });
  fill(main,
    h('div', { class: 'page-head' },
      h('h1', {}, 'Rejected deliveries'),
      h('button', { type: 'button', class: 'small', onclick: () => renderRejections(main) }, 'Refresh')),
    h('p', { class: 'muted' }, 'Every delivery to /api/webhooks/… the hub refused, whatever the reason: a wrong URL, a bad signature, a body too large, too many requests. Newest first; kept in memory only, the newest 1000, so a restart empties the list.'),
    list,
    more);
  await loadPage(list, more, null);
}

async function loadPage(list, more, cursor) {
  const query = new URLSearchParams({ limit: String(PAGE) });
  if (cursor) query.set('cursor', cursor);
  const page = await api('GET', `/api/rejections?${query}`);
  if (!cursor && !page.rejections.length) {
    fill(list, h('li', { class: 'empty' }, 'No refused deliveries. When a sender gets an error answer, it shows up here with the reason.'));
  }
  list.append(...page.rejections.map(row));
  fill(more, page.nextCursor
    ? h('button', { type: 'button', onclick: () => loadPage(list, more, page.nextCursor) }, 'Older')
    : null);
}

function row(r) {
  const size = r.bodyBytes === null || r.bodyBytes === undefined ? 'size not declared' : `${r.bodyBytes} bytes`;
  return h('li', { class: 'row card', dataset: { status: String(r.status), code: r.code } },
    h('div', { class: 'row-head' },
      h('span', { class: 'badge status-failed' }, String(r.status)),
      h('code', {}, r.code),
      h('code', { class: 'path' }, `/api/webhooks/${r.path}`),
      r.hookId ? h('a', { href: `#/hooks/${encodeURIComponent(r.hookId)}` }, r.hookId) : h('span', { class: 'muted' }, 'no hook'),
      when(r.at)),
    h('p', {}, r.message),
    h('p', { class: 'muted small' }, `${r.method} from ${r.client}, ${size}`),
    h('details', {}, h('summary', {}, 'Headers (secrets redacted)'), pre(r.headers, 'Headers')));
}
