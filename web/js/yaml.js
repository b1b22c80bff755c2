// "Copy as YAML": hooks as the config file writes them, from the API's `?format=yaml`, shown
// in a text area and put on the clipboard where the browser allows it (plain http on another
// host is not a secure context, and has no clipboard API).

import { apiText } from './api.js';
import { h, toast } from './dom.js';

/** A button that fetches `${path}?format=yaml`, and the place it shows the YAML in. */
export function yamlExport(path, label = 'Copy as YAML') {
  const text = h('textarea', {
    id: 'hook-yaml', class: 'code', rows: 12, readonly: true, spellcheck: false,
    'aria-label': 'YAML for the config file',
  });
  const place = h('div', { class: 'card yaml-export', hidden: true },
    h('h2', {}, 'As YAML for the config file'),
    h('p', { class: 'help' }, 'Secrets are not included: each is a ${VAR} placeholder named in a comment. Set those variables where the hub runs, add the hook to the file, then delete it here: one id cannot be in both.'),
    text);
  const button = h('button', {
    type: 'button', class: 'small', id: 'copy-yaml',
    onclick: async () => {
      try {
        text.value = await apiText(`${path}?format=yaml`);
      } catch (error) {
        toast(error.message);
        return;
      }
      text.rows = Math.min(30, text.value.split('\n').length);
      place.hidden = false;
      try {
        await navigator.clipboard.writeText(text.value);
        toast('Copied as YAML');
      } catch {
        text.focus();
        text.select();
        toast('Select the YAML and copy it with your keyboard');
      }
    },
  }, label);
  return { button, place };
}
