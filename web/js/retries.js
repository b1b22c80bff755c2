// The tries still ahead of a retrying execution (`retrySchedule` from the API). The next try's
// time is drawn and fixed; each later one is drawn (±20 %) only when the try before it fails,
// so it is a range, and a receiver's Retry-After or a slow try can push it later still.

import { h, when } from './dom.js';

export function retrySchedule(ahead) {
  if (!ahead?.length) return null;
  const [next, ...later] = ahead;
  return h('section', { class: 'card', id: 'retry-schedule' },
    h('h2', {}, 'Tries still ahead'),
    h('p', { class: 'muted small' },
      'If each try fails at once. The next one is fixed; each later one is drawn with ±20 % jitter when the one before fails (so receivers coming back from an outage are not all hit at once), and a Retry-After or a slow try moves it later.'),
    h('ol', { class: 'rows' },
      h('li', { class: 'row', dataset: { attempt: next.attempt } },
        h('strong', {}, `Attempt ${next.attempt}`), ' at ', when(next.at)),
      later.map((t) => h('li', { class: 'row', dataset: { attempt: t.attempt } },
        h('strong', {}, `Attempt ${t.attempt}`), ' about ', when(t.at),
        h('span', { class: 'muted small' }, ' (between ', when(t.earliest), ' and ', when(t.latest), ')')))));
}
