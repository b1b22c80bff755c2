// Create and edit a hook: every field of the four actions and both triggers (hookfields.js),
// with the tools and agent roles the config file offers (GET /api/tools). What the form does
// not show is kept as the API gave it, so an edit never drops a setting; a field that does not
// apply to the choices made is left out. The API decides what is valid, and its 422 answer is
// shown under the field it names.

import { api } from './api.js';
import { field, fill, h } from './dom.js';
import { rememberSecret } from './curl.js';
import { FIELDS, SECTIONS } from './hookfields.js';
import { makeInput, readInput, replaceOptions } from './inputs.js';

/** Fields the API adds to a hook it shows; a hook sent back must not carry them. */
const SHOWN_ONLY = ['source', 'readOnly', 'url', 'hasSecret', 'queued', 'lastExecution', 'last24h'];
const NEW_HOOK = { enabled: true, trigger: 'webhook', action: 'webhook', triggerConfig: { scheme: 'github' }, actionConfig: {} };

export async function renderHookForm(main, id) {
  const [hook, offer] = await Promise.all([
    id ? api('GET', `/api/hooks/${encodeURIComponent(id)}`) : null,
    // An older hub without the list still gets a form, with no tools to pick.
    api('GET', '/api/tools').catch(() => ({ tools: [], agent: null })),
  ]);
  if (hook?.readOnly) {
    fill(main, h('h1', {}, hook.name || hook.id),
      h('p', {}, 'This hook comes from the config file and is read-only here: edit the file, and the hub applies it on save.'),
      h('a', { href: `#/hooks/${encodeURIComponent(id)}` }, 'Back to the hook'));
    return;
  }
  const base = structuredClone(hook || NEW_HOOK);
  SHOWN_ONLY.forEach((k) => delete base[k]);
  const form = new HookForm(base, hook, offer);
  fill(main, form.element);
  form.element.querySelector('input, select')?.focus();
}

class HookForm {
  constructor(base, hook, offer) {
    this.base = base;
    this.hook = hook;
    this.offer = offer;
    this.fields = FIELDS.filter((f) => !(hook && f.createOnly));
    const start = this.choices(base);
    this.toolId = start.toolId;
    this.inputs = new Map(this.fields.map((f) => [f, makeInput(f, get(base, f.path), this.optionsOf(f, start))]));
    this.rows = new Map(this.fields.map((f) => [f, this.row(f)]));
    this.formError = h('p', { class: 'error', role: 'alert', hidden: true });
    this.element = h('form', { class: 'card hook-form', novalidate: true },
      h('h1', {}, hook ? `Edit ${hook.name || hook.id}` : 'New hook'),
      SECTIONS.map(([key, title]) => this.section(key, title)),
      this.formError,
      h('div', { class: 'form-actions' },
        h('button', { type: 'submit', class: 'primary' }, hook ? 'Save' : 'Create hook'),
        h('a', { href: hook ? `#/hooks/${encodeURIComponent(hook.id)}` : '#/hooks', class: 'button' }, 'Cancel')));
    this.element.addEventListener('change', () => this.update());
    this.element.addEventListener('submit', (event) => {
      event.preventDefault();
      this.save();
    });
    this.update();
  }

  /** What decides which fields apply: the values chosen now (or in `hook`). */
  choices(hook) {
    if (hook) return { trigger: hook.trigger || 'webhook', scheme: hook.triggerConfig?.scheme || 'github', action: hook.action, toolId: hook.actionConfig?.toolId };
    const value = (path) => this.inputs.get(this.fields.find((f) => f.path === path))?.value;
    return { trigger: value('trigger'), scheme: value('triggerConfig.scheme'), action: value('action'), toolId: value('actionConfig.toolId') };
  }

  optionsOf(f, chosen) {
    return typeof f.options === 'function' ? f.options(this.offer, chosen) : f.options;
  }

  row(f) {
    const input = this.inputs.get(f);
    const help = this.hook && f.editHelp ? f.editHelp : f.help;
    if (f.kind !== 'checks') {
      const row = field({ label: f.label, name: f.path, help, input });
      if (f.suggest) row.append(suggestions(input, f.suggest(this.offer)));
      return row;
    }
    input.dataset.field = f.path;
    return h('fieldset', { class: 'field', dataset: { for: f.path } },
      h('legend', {}, f.label), input, h('p', { class: 'help' }, help), h('p', { class: 'error', role: 'alert', hidden: true }));
  }

  section(key, title) {
    const rows = this.fields.filter((f) => f.section === key).map((f) => this.rows.get(f));
    if (key === 'more') return h('details', { class: 'more-options' }, h('summary', {}, title), rows);
    return h('fieldset', { class: 'form-section' }, h('legend', {}, title), rows);
  }

  /** Shows the fields that apply, and the actions of the tool picked. */
  update() {
    const chosen = this.choices();
    for (const [f, row] of this.rows) row.hidden = Boolean(f.when) && !f.when(chosen);
    // Only a change of tool changes the actions offered: until then a saved action the
    // config file no longer has stays selected, as saved.
    if (chosen.toolId !== this.toolId) {
      this.toolId = chosen.toolId;
      const f = this.fields.find((x) => x.path === 'actionConfig.toolAction');
      replaceOptions(this.inputs.get(f), this.optionsOf(f, chosen));
    }
    this.describeParams(chosen);
  }

  /** Under Parameters: the names the chosen tool's command uses. */
  describeParams(chosen) {
    const f = this.fields.find((x) => x.path === 'actionConfig.toolParams');
    const help = this.rows.get(f).querySelector('.help');
    const tool = this.offer.tools.find((t) => t.id === chosen.toolId);
    const actionName = this.inputs.get(this.fields.find((x) => x.path === 'actionConfig.toolAction')).value;
    const params = actionName ? tool?.actions.find((a) => a.name === actionName)?.params : tool?.params;
    help.textContent = !this.offer.tools.length
      ? 'No tools are configured: define them under tools: in the config file.'
      : params?.length ? `${f.help} This command uses: ${params.join(', ')}.` : `${f.help} This command uses none.`;
  }

  /**
   * What to save for `f`: nothing when hidden. A default the hook left absent stays absent, and
   * an unticked option it had as an explicit false stays false: an edit changes what the user
   * changed, not how the rest is written.
   */
  valueOf(f, input) {
    if (this.rows.get(f).hidden) return undefined;
    const value = readInput(f, input);
    const saved = get(this.base, f.path);
    if (value === f.default && saved === undefined) return undefined;
    return value === undefined && saved === false ? false : value;
  }

  async save() {
    const form = this.element;
    form.querySelectorAll('.field .error').forEach((e) => { e.hidden = true; });
    form.querySelectorAll('[aria-invalid]').forEach((e) => e.removeAttribute('aria-invalid'));
    this.formError.hidden = true;
    const body = structuredClone(this.base);
    for (const [f, input] of this.inputs) set(body, f.path, this.valueOf(f, input));
    try {
      const saved = this.hook
        ? await api('PUT', `/api/hooks/${encodeURIComponent(this.hook.id)}`, body)
        : await api('POST', '/api/hooks', body);
      if (saved.webhookSecret) rememberSecret(saved.id, saved.webhookSecret);
      location.hash = `#/hooks/${encodeURIComponent(saved.id)}`;
    } catch (error) {
      this.showError(error);
    }
  }

  /** Puts an API error under the field it names (or its nearest shown parent field). */
  showError(error) {
    let path = (error.field || '').replace(/\[\d+\]/g, '');
    let input = null;
    while (path && !input) {
      const f = this.fields.find((x) => x.path === path);
      input = f && !this.rows.get(f).hidden ? this.inputs.get(f) : null;
      path = path.includes('.') ? path.slice(0, path.lastIndexOf('.')) : '';
    }
    if (!input) {
      this.formError.textContent = error.message;
      this.formError.hidden = false;
      return;
    }
    const slot = input.closest('.field').querySelector('.error');
    slot.textContent = error.message.startsWith(`${error.field}: `) ? error.message.slice(error.field.length + 2) : error.message;
    slot.hidden = false;
    input.setAttribute('aria-invalid', 'true');
    input.closest('details')?.setAttribute('open', '');
    input.focus();
  }
}

/** A list of suggested values for a text input; any other text is allowed too. */
function suggestions(input, options) {
  const list = h('datalist', { id: `${input.id}-suggestions` }, options.map(([v, text]) => h('option', { value: v }, text)));
  input.setAttribute('list', list.id);
  return list;
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
