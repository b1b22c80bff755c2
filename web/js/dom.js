// Small DOM helpers. Everything is built with textContent and properties, never innerHTML, so
// text from hooks and payloads can never become markup.

/** Makes an element: h('a', {href: '#/x', class: 'btn'}, 'text', child, [more]). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  // Children first, so a select's value can name one of its options.
  append(el, children);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'value') el.value = value;
    else if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key in el && typeof value !== 'string') el[key] = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's content. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A time in the browser's own zone, with how long ago it was. */
export function when(iso) {
  if (!iso) return '—';
  const date = new Date(iso);
  return h('time', { datetime: iso, title: date.toString() }, date.toLocaleString());
}

/** Milliseconds as a short duration. */
export function duration(ms) {
  if (ms === undefined || ms === null) return '—';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60000)} min`;
}

/** A status badge: queued, running, retrying, succeeded, failed, skipped. */
export function statusBadge(status) {
  return h('span', { class: `badge status-${status || 'none'}` }, status || 'never run');
}

/** Pretty JSON (or the text itself) in a scrollable block. */
export function pre(value, label) {
  const text = typeof value === 'string' ? value : JSON.stringify(value, null, 2);
  return h('pre', { class: 'code', tabindex: '0', 'aria-label': label }, text ?? '');
}

/** Shows a short message at the bottom of the screen. */
export function toast(message) {
  const el = document.getElementById('toast');
  el.textContent = message;
  el.classList.add('shown');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => el.classList.remove('shown'), 4000);
}

/** A button that copies `text()` to the clipboard, or selects it where copying is not allowed. */
export function copyButton(text, label = 'Copy') {
  return h('button', {
    type: 'button', class: 'small',
    onclick: async (event) => {
      const value = typeof text === 'function' ? text() : text;
      try {
        await navigator.clipboard.writeText(value);
        toast('Copied');
      } catch {
        // Plain http on another host is not a secure context: no clipboard API there.
        const block = event.target.closest('.copyable')?.querySelector('pre, input, code');
        if (block) window.getSelection().selectAllChildren(block);
        toast('Select the text and copy it with your keyboard');
      }
    },
  }, label);
}

/** A labelled form field with help text and a place for its error. */
export function field({ label, name, help, input }) {
  const id = `f-${name.replace(/[^a-zA-Z0-9]/g, '-')}`;
  input.id = id;
  input.name = name;
  input.dataset.field = name;
  const helpId = `${id}-help`;
  const errorId = `${id}-error`;
  input.setAttribute('aria-describedby', `${helpId} ${errorId}`);
  return h('div', { class: 'field', dataset: { for: name } },
    h('label', { for: id }, label),
    input,
    help ? h('p', { class: 'help', id: helpId }, help) : null,
    h('p', { class: 'error', id: errorId, role: 'alert', hidden: true }));
}
