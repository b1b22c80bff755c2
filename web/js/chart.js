// A hook's last 24 hours (`last24h` from GET /api/hooks) as a small bar chart: one bar per
// hour, oldest first, succeeded at the bottom with failed and skipped stacked on it, scaled to
// the busiest hour. Inline SVG with colours from app.css: no external assets, no inline style.

const SVG = 'http://www.w3.org/2000/svg';
const BAR = 6;
const GAP = 1;
const HEIGHT = 28;
const KINDS = ['succeeded', 'failed', 'skipped'];

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value);
  el.append(...children.flat());
  return el;
}

const sum = (list) => list.reduce((a, b) => a + b, 0);
const counted = (c) => KINDS.map((k) => `${c[k]} ${k}`).join(', ');

export function dayChart(day) {
  const hours = day.succeeded.map((_, i) => Object.fromEntries(KINDS.map((k) => [k, day[k][i]])));
  const totals = Object.fromEntries(KINDS.map((k) => [k, sum(day[k])]));
  const busiest = Math.max(1, ...hours.map((c) => sum(KINDS.map((k) => c[k]))));
  const label = `Last 24 hours: ${counted(totals)}${day.capped ? ' (only the newest 2,000 runs counted)' : ''}`;
  const start = Date.parse(day.start);
  const width = hours.length * (BAR + GAP);
  return svg('svg', {
    class: 'day-chart', viewBox: `0 0 ${width} ${HEIGHT}`, width, height: HEIGHT, role: 'img',
    'aria-label': label, 'data-succeeded': totals.succeeded, 'data-failed': totals.failed, 'data-skipped': totals.skipped,
  },
  svg('title', {}, label),
  svg('rect', { class: 'day-base', x: 0, y: HEIGHT - 1, width, height: 1 }),
  hours.map((c, i) => bar(c, i, start + i * 3600 * 1000, busiest)));
}

/** One hour's stack, with its counts as its tooltip. */
function bar(c, i, from, busiest) {
  const hour = new Date(from).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  let top = HEIGHT;
  const parts = KINDS.filter((k) => c[k] > 0).map((k) => {
    const height = Math.max(1, Math.round((c[k] / busiest) * (HEIGHT - 2)));
    top -= height;
    return svg('rect', { class: `day-${k}`, x: i * (BAR + GAP), y: top, width: BAR, height });
  });
  return svg('g', { 'data-hour': i }, svg('title', {}, `from ${hour}: ${counted(c)}`), parts);
}
