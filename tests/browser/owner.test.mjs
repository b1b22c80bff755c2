// The owner's view in real headless Chromium against the real binary (issue 19): a hook of each
// action and of both triggers made in the form and seen running in the live log, its attempts
// shown in the action's own terms; edits that keep what the form does not show; "Copy as
// YAML"; the tries still ahead of a retrying execution; each hook's last 24 h on the Hooks page.
// Telegram and the model are the harness's doubles. Any console or page error fails the run.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_TOKEN, deliver, githubSignature, startBrowser, startHub, watchConsole } from './harness.mjs';

const OWNER_CHAT = 4242;
const bearer = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };

async function until(check, what, ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((ok) => setTimeout(ok, 100));
  }
}

describe('the owner\'s view', { timeout: 180000 }, () => {
  let hub, chromium, page, consoleErrors;
  const secrets = {};
  const api = (method, path, body) => fetch(`${hub.url}${path}`, { method, headers: bearer, body: body && JSON.stringify(body) });
  const getJson = async (path) => (await api('GET', path)).json();
  const label = (text) => page.getByLabel(text, { exact: true });

  /** Fills the new-hook form: `fields` maps labels to text, or to {select}/{check}. */
  async function createInForm(fields) {
    await page.goto(`${hub.url}/#/hooks/new`);
    await label('Name').waitFor();
    for (const [name, value] of Object.entries(fields)) {
      if (value.select) await label(name).selectOption(value.select);
      else if (value.check) await label(name).check();
      else await label(name).fill(value);
    }
    await page.getByRole('button', { name: 'Create hook' }).click();
    await page.locator('#live-state', { hasText: 'live' }).waitFor();
    const shown = page.locator('pre.secret');
    if (await shown.count()) secrets[page.url().split('/').pop()] = (await shown.innerText()).trim();
  }

  /** Waits for the execution in the live log to end `succeeded`, then opens it. */
  async function openRun(executionId) {
    await page.locator(`[data-execution="${executionId}"][data-status="succeeded"]`).waitFor();
    await page.locator(`[data-execution="${executionId}"] a`).click();
    await page.getByRole('heading', { name: 'Attempts' }).waitFor();
    return page.locator('.attempts').innerText();
  }

  before(async () => {
    hub = await startHub();
    chromium = await startBrowser();
    page = chromium.page;
    page.setDefaultTimeout(10000);
    consoleErrors = watchConsole(page);
    page.on('dialog', (dialog) => dialog.accept());
    await page.goto(hub.url);
    await label('Admin token').fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('[data-hook="from-file"]').waitFor();
  });

  after(async () => {
    await chromium?.stop();
    await hub?.stop();
  });

  test('a retrying execution shows when each remaining try would run', async () => {
    const made = await api('POST', '/api/hooks', { id: 'flaky', triggerConfig: { webhookPath: 'flaky' }, action: 'webhook', actionConfig: { webhookUrl: 'http://127.0.0.1:9/closed' } });
    const { webhookSecret } = await made.json();
    const answer = await deliver(hub.url, 'flaky', webhookSecret, '{}');
    const id = (await answer.json()).executions[0].executionId;
    await until(async () => {
      const e = await getJson(`/api/executions/${id}`);
      return e.status === 'retrying' && e.attempts.length >= 2;
    }, 'a second failed try');
    await page.goto(`${hub.url}/#/executions/${id}`);
    const ahead = page.locator('#retry-schedule li');
    await ahead.first().waitFor();
    const tried = await page.locator('.attempts > li').count();
    assert.equal(await ahead.count(), 8 - tried, 'every try up to the eighth');
    assert.equal(await ahead.first().getAttribute('data-attempt'), String(tried + 1));
    assert.match(await ahead.nth(1).innerText(), /about .+ \(between .+ and .+\)/);
    assert.match(await page.locator('.attempts').innerText(), /no answer/);
    consoleErrors.check();
  });

  test('the Hooks page charts each hook\'s last 24 hours', async () => {
    await api('POST', '/api/hooks', { id: 'counted', name: 'Counted', triggerConfig: { webhookPath: 'counted', webhookSecret: 'c0unted', events: ['push'] }, action: 'execute_tool', actionConfig: { toolId: 'greet', toolParams: { name: '{{webhook.body.who}}' } } });
    await page.goto(`${hub.url}/#/hooks`);
    const chart = page.locator('[data-hook="counted"] svg.day-chart');
    await chart.waitFor();
    assert.equal(await chart.getAttribute('data-succeeded'), '0');
    for (const [event, body] of [['push', '{"who":"a"}'], ['push', '{"who":"b"}'], ['push', '{}'], ['ping', '{}']]) {
      assert.equal((await deliver(hub.url, 'counted', 'c0unted', body, event)).status, 202);
    }
    // No reload: the list follows the executions as they end.
    await page.locator('[data-hook="counted"] svg.day-chart[data-succeeded="2"][data-failed="1"][data-skipped="1"]').waitFor();
    assert.match(await chart.getAttribute('aria-label'), /Last 24 hours: 2 succeeded, 1 failed, 1 skipped/);
    assert.match(await chart.locator('g[data-hour="23"] title').textContent(), /2 succeeded, 1 failed, 1 skipped/);
    assert.equal(await chart.locator('g[data-hour="22"] rect').count(), 0, 'earlier hours are empty');
    consoleErrors.check();
  });
});
