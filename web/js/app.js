// The page: hash routes (#/hooks, #/hooks/ID, #/executions/ID, #/rejected, #/channels…), the sign-in
// check, the config-error banner and the cleanup of whatever a page left running.

import { checkSession, signOut, whenSignedOut, api } from './api.js';
import { fill, h, toast } from './dom.js';
import { renderSignIn } from './signin.js';
import { renderHooks } from './hooks.js';
import { renderHookForm } from './hookform.js';
import { renderHook } from './hook.js';
import { renderExecution } from './execution.js';
import { renderChannels } from './channels.js';
import { renderRejections } from './rejections.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
let cleanups = [];
let generation = 0;

const routes = [
  [/^#\/hooks\/new$/, () => renderHookForm(main, null)],
  [/^#\/hooks\/([^/]+)\/edit$/, (id) => renderHookForm(main, id)],
  [/^#\/hooks\/([^/]+)\/rejected$/, (id) => renderHook(main, id, 'rejected')],
  [/^#\/hooks\/([^/]+)$/, (id) => renderHook(main, id, 'log')],
  [/^#\/executions\/([^/]+)$/, (id) => renderExecution(main, id)],
  [/^#\/channels$/, () => renderChannels(main)],
  [/^#\/rejected$/, () => renderRejections(main)],
  [/^(#\/hooks)?$/, () => renderHooks(main)],
];

async function route() {
  const current = ++generation;
  cleanups.forEach((stop) => stop());
  cleanups = [];
  if (!(await checkSession())) {
    nav.hidden = true;
    renderSignIn(main, () => route());
    return;
  }
  nav.hidden = false;
  markCurrent();
  showConfigBanner();
  const hash = location.hash === '#/' ? '' : location.hash;
  const match = routes
    .map(([pattern, render]) => [hash.match(pattern), render])
    .find(([m]) => m);
  if (!match) {
    fill(main, h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/hooks' }, 'Back to the hooks')));
    return;
  }
  const [m, render] = match;
  window.scrollTo(0, 0);
  try {
    const stop = await render(...m.slice(1).map(decodeURIComponent));
    if (typeof stop !== 'function') return;
    // Navigated away while this page was loading: its stream must not outlive it.
    if (current === generation) cleanups.push(stop);
    else stop();
  } catch (error) {
    fill(main, h('h1', {}, 'Something went wrong'), h('p', { class: 'error-text' }, error.message));
  }
}

function markCurrent() {
  for (const link of nav.querySelectorAll('a')) {
    const current = location.hash.startsWith(link.getAttribute('href'));
    if (current) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

/** A config file edit the hub refused, and a data dir that refuses writes, are shown on every
 * page until they are fixed. */
async function showConfigBanner() {
  const banner = document.getElementById('banner');
  try {
    const status = await api('GET', '/api/config/status');
    const parts = [...storageProblem(status.storage), ...configProblem(status)];
    if (parts.length === 0) {
      banner.hidden = true;
      return;
    }
    fill(banner, ...parts);
    banner.hidden = false;
  } catch {
    banner.hidden = true;
  }
}

function storageProblem(storage) {
  if (!storage || storage.state === 'ok') return [];
  const since = storage.since ? ` since ${new Date(storage.since).toLocaleString()}` : '';
  return [
    h('strong', {}, `The hub's data directory refuses writes (${storage.state})${since}: deliveries are answered 503 and nothing new is recorded.`),
    h('p', {}, `${storage.detail || ''} Free space (or make it writable again); the hub recovers by itself within seconds.`),
  ];
}

function configProblem(status) {
  if (status.ok) return [];
  return [
    h('strong', {}, `The config file ${status.path || ''} has errors; the hub keeps running the hooks it loaded before.`),
    h('pre', { class: 'code' }, status.error || ''),
    h('p', {}, `Last read ${new Date(status.lastCheckedAt).toLocaleString()}. Fix the file; it is applied once it is valid.`),
  ];
}

document.getElementById('sign-out').addEventListener('click', async () => {
  try {
    await signOut();
  } finally {
    location.hash = '#/hooks';
    route();
  }
});

whenSignedOut(() => {
  toast('Your session ended; sign in again.');
  route();
});

window.addEventListener('hashchange', route);
route();
// A full disk or a fixed config file shows up without waiting for the next page.
setInterval(showConfigBanner, 10_000);
