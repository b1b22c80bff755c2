// The hook form's inputs, one per kind of field (hookfields.js), and how each reads back into
// the hook. A value read from the API goes back unchanged when the user leaves it alone.

import { h } from './dom.js';

/** The input of field `f` showing `value`; `choices` are the options of a select. */
export function makeInput(f, value, choices = f.options) {
  switch (f.kind) {
    case 'checkbox': return h('input', { type: 'checkbox', checked: value === undefined ? Boolean(f.on) : value === true });
    case 'select': return selectOf(choices, value ?? (choices.some(([v]) => v === '') ? '' : choices[0]?.[0] ?? ''));
    case 'tristate': return selectOf(f.options, value === undefined || value === null ? '' : String(value));
    case 'checks': return h('div', { class: 'checks' }, f.options.map(([v, text]) => h('label', {},
      h('input', { type: 'checkbox', value: v, checked: (value || []).includes(v) }), ` ${text}`)));
    case 'textarea': return h('textarea', { rows: 4, value: value ?? '' });
    case 'pairs': {
      const sep = f.sep === ':' ? ': ' : '=';
      return h('textarea', { rows: 3, value: Object.entries(value || {}).map(([k, v]) => `${k}${sep}${v}`).join('\n') });
    }
    case 'list': return h('input', { type: 'text', value: (value || []).join(', ') });
    case 'number': return h('input', { type: 'number', min: 1, max: 20, value: value ?? '' });
    case 'secret': return h('input', { type: 'password', autocomplete: 'new-password', value: '' });
    default: return h('input', { type: 'text', value: value ?? '' });
  }
}

/**
 * A select of `options` showing `value`. A value the form has no option for (written in the
 * API, or a tool the config file no longer has) gets one of its own, so saving keeps it.
 */
export function selectOf(options, value) {
  const known = value === '' || options.some(([v]) => v === value);
  const all = known ? options : [...options, [value, `${value} (as saved)`]];
  return h('select', { value }, all.map(([v, text]) => h('option', { value: v }, text)));
}

/** Gives a select new options, keeping its value when it is still one of them. */
export function replaceOptions(select, options) {
  const value = select.value;
  select.replaceChildren(...options.map(([v, text]) => h('option', { value: v }, text)));
  if (options.some(([v]) => v === value)) select.value = value;
}

/** The field's value for the API; undefined leaves the key out. */
export function readInput(f, input) {
  const text = input.value?.trim();
  switch (f.kind) {
    // An option that is off by default is left out rather than sent as false.
    case 'checkbox': return input.checked ? true : (f.on ? false : undefined);
    case 'checks': {
      const picked = [...input.querySelectorAll('input:checked')].map((box) => box.value);
      return picked.length ? picked : undefined;
    }
    case 'tristate': return text ? text === 'true' : undefined;
    case 'list': return text ? text.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
    case 'number': return text ? Number(text) : undefined;
    case 'pairs': return pairs(text, f.sep);
    // Templates keep their exact text, trailing newline and all.
    case 'textarea': return text ? input.value : undefined;
    default: return text || undefined;
  }
}

function pairs(text, sep) {
  const lines = text ? text.split('\n').map((l) => l.trim()).filter(Boolean) : [];
  if (!lines.length) return undefined;
  return Object.fromEntries(lines.map((line) => {
    const i = line.indexOf(sep);
    return i < 0 ? [line, ''] : [line.slice(0, i).trim(), line.slice(i + 1).trim()];
  }));
}
