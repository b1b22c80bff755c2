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

  test('the owner links Telegram with a code made on the Channels page', async () => {
    await page.getByRole('link', { name: 'Channels' }).click();
    await page.getByRole('button', { name: 'Make a link code' }).click();
    const command = await page.locator('#link-code code').innerText();
    hub.telegram.say(OWNER_CHAT, command);
    await until(async () => (await getJson('/api/channels')).bindings.length === 1, 'the binding');
    consoleErrors.check();
  });

  test('a forward made in the form sends its method, headers, body and signature', async () => {
    await createInForm({
      Name: 'Forward it', Path: 'forward-it', 'Forward to URL': hub.target.url, Method: { select: 'PUT' },
      Headers: 'X-Token: t0ken-1\nX-Event: {{webhook.eventType}}', 'Body template': '{"got": "{{webhook.body.objectName}}"}',
      'Sign forwarded requests': { select: 'github' }, 'Signing secret': 'sign-s3cret',
    });
    const answer = await deliver(hub.url, 'forward-it', secrets['forward-it'], JSON.stringify({ objectName: 'order 7' }));
    const text = await openRun((await answer.json()).executions[0].executionId);
    const sent = hub.target.received.at(-1);
    assert.equal(sent.method, 'PUT');
    assert.equal(sent.headers['x-token'], 't0ken-1');
    assert.equal(sent.headers['x-event'], 'push');
    assert.deepEqual(JSON.parse(sent.body), { got: 'order 7' });
    assert.equal(sent.headers['x-hub-signature-256'], githubSignature('sign-s3cret', sent.body));
    assert.match(text, /HTTP 200/);
    assert.match(text, /target says ok/);
    assert.match(text, /Latency/);
    consoleErrors.check();
  });

  test('editing the forward keeps its redacted header and signing secret', async () => {
    await page.goto(`${hub.url}/#/hooks/forward-it/edit`);
    assert.match(await label('Headers').inputValue(), /X-Token: \[redacted\]/);
    await label('Name').fill('Forward it (renamed)');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('heading', { name: 'Forward it (renamed)' }).waitFor();
    const before = hub.target.received.length;
    assert.equal((await deliver(hub.url, 'forward-it', secrets['forward-it'], '{"objectName":"again"}')).status, 202);
    await until(() => hub.target.received.length > before, 'the forward');
    const sent = hub.target.received.at(-1);
    assert.equal(sent.headers['x-token'], 't0ken-1');
    assert.equal(sent.headers['x-hub-signature-256'], githubSignature('sign-s3cret', sent.body));
    consoleErrors.check();
  });

  test('a notify hook made in the form messages the linked chat', async () => {
    await createInForm({
      Name: 'Tell me', Path: 'tell-me', Action: { select: 'notify' },
      Message: 'Order {{webhook.body.objectName}} arrived', Telegram: { check: true },
    });
    const answer = await deliver(hub.url, 'tell-me', secrets['tell-me'], JSON.stringify({ objectName: '#8' }));
    const text = await openRun((await answer.json()).executions[0].executionId);
    assert.ok(hub.telegram.sent.some((m) => m.chatId === String(OWNER_CHAT) && m.text === 'Order #8 arrived'));
    assert.match(text, /telegram · @owner/);
    assert.match(text, /delivered/);
    const hook = await getJson('/api/hooks/tell-me');
    assert.deepEqual(hook.actionConfig, { notifyMessage: 'Order {{webhook.body.objectName}} arrived', channels: ['telegram'] });
    consoleErrors.check();
  });

  test('a spawn_agent hook made in the form asks the model and sends me its answer', async () => {
    await createInForm({
      Name: 'Ask', Path: 'ask', Action: { select: 'spawn_agent' }, Prompt: 'Summarise this order.',
      Topic: 'devops', 'Send me the answer': { check: true },
    });
    const answer = await deliver(hub.url, 'ask', secrets.ask, JSON.stringify({ objectName: 'order 9' }));
    const text = await openRun((await answer.json()).executions[0].executionId);
    const asked = JSON.stringify(hub.model.requests.at(-1).messages);
    assert.match(asked, /Summarise this order\./);
    assert.match(asked, /order 9/);
    assert.ok(hub.telegram.sent.some((m) => m.text === hub.model.reply));
    assert.match(text, /Role\s+devops/);
    assert.match(text, /Prompt/);
    assert.match(text, /Answer/);
    assert.ok(text.includes(hub.model.reply));
    consoleErrors.check();
  });

  test('an execute_tool hook picks the tool, its action and params from the config file', async () => {
    await page.goto(`${hub.url}/#/hooks/new`);
    await label('Action').selectOption('execute_tool');
    await label('Tool action').selectOption('shout');
    await page.getByText('This command uses: name, times.').waitFor();
    await createInForm({
      Name: 'Greeter', Path: 'greeter', Action: { select: 'execute_tool' }, Tool: { select: 'greet' },
      'Tool action': { select: 'shout' }, Parameters: 'name={{webhook.body.who}}\ntimes=2',
    });
    const answer = await deliver(hub.url, 'greeter', secrets.greeter, JSON.stringify({ who: 'Ada' }));
    const text = await openRun((await answer.json()).executions[0].executionId);
    assert.match(text, /Exit code\s+0/);
    assert.match(text, /stdout\s+HELLO Ada 2/);
    consoleErrors.check();
  });

  test('a schedule hook made in the form runs on Send test', async () => {
    await createInForm({
      Name: 'Nightly', Trigger: { select: 'schedule' }, 'Cron pattern': '0 3 * * *',
      'Time zone': 'Europe/Berlin', Action: { select: 'notify' }, Message: 'Good night',
    });
    await page.getByText('Runs on the schedule 0 3 * * * (Europe/Berlin).').waitFor();
    assert.equal(secrets.nightly, undefined, 'a schedule has no secret to show');
    await page.getByRole('button', { name: 'Send test' }).click();
    await page.locator('[data-execution][data-status="succeeded"]', { hasText: 'test run' }).waitFor();
    assert.ok(hub.telegram.sent.some((m) => m.text === 'Good night'));
    consoleErrors.check();
  });

  test('editing API-made hooks in the form keeps every field it does not change', async () => {
    const made = [
      { id: 'api-notify', name: 'From the API', triggerConfig: { webhookPath: 'api-notify', webhookSecret: 'api-s3cret', events: ['push'], lockKey: '{{webhook.body.id}}', dedupeKey: '{{webhook.body.id}}', mergeQuery: true, methods: ['GET'] },
        action: 'notify', actionConfig: { notifyMessage: 'API {{webhook.body.id}}', channels: ['telegram'], concurrency: 3, retryOnCrash: true } },
      { id: 'api-agent', name: 'Quiet agent', triggerConfig: { webhookPath: 'api-agent', webhookSecret: 'agent-s3cret' },
        action: 'spawn_agent', actionConfig: { agentPrompt: 'Look.', notifyOwner: false } },
      { id: 'api-hmac', name: 'Custom signer', triggerConfig: { webhookPath: 'api-hmac', scheme: 'hmac', webhookSecret: 'hmac-s3cret', header: 'X-Sig', algorithm: 'sha512', encoding: 'base64', prefix: 'v1=', signedPayload: '{timestamp}.{body}', timestampHeader: 'X-Ts', tolerance: '10m', ipAllowlist: ['127.0.0.1/32'] },
        action: 'webhook', actionConfig: { webhookUrl: hub.target.url.replace('http://', 'http://user:pass@') + '?key=k3y', headers: { 'X-Api-Key': 'hdr-s3cret' }, sign: 'standard', signingSecret: 'whsec_c2lnbmluZy1zZWNyZXQ=', bodyTemplate: '{"id": "{{webhook.body.id}}"}\n' } },
    ];
    for (const hook of made) {
      assert.equal((await api('POST', '/api/hooks', hook)).status, 201);
      const before = await getJson(`/api/hooks/${hook.id}`);
      await page.goto(`${hub.url}/#/hooks/${hook.id}/edit`);
      await label('Name').fill(`${hook.name} (renamed)`);
      await page.getByRole('button', { name: 'Save' }).click();
      await page.getByRole('heading', { name: `${hook.name} (renamed)` }).waitFor();
      const { lastExecution: _, ...after } = await getJson(`/api/hooks/${hook.id}`);
      delete before.lastExecution;
      assert.deepEqual(after, { ...before, name: `${hook.name} (renamed)` });
    }
    // The stored credentials behind [redacted] still reach the target.
    const count = hub.target.received.length;
    assert.equal((await api('POST', '/api/hooks/api-hmac/test')).status, 202);
    await until(() => hub.target.received.length > count, 'the test forward');
    const sent = hub.target.received.at(-1);
    assert.equal(sent.headers['x-api-key'], 'hdr-s3cret');
    assert.ok(sent.headers['webhook-signature'], 'still signed');
    consoleErrors.check();
  });

  test('Copy as YAML gives the hook for the config file, secrets as placeholders', async () => {
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: hub.url });
    await page.goto(`${hub.url}/#/hooks/forward-it`);
    await page.getByRole('heading', { name: 'Forward it (renamed)' }).waitFor();
    await page.getByRole('button', { name: 'Copy as YAML' }).click();
    const area = page.locator('#hook-yaml');
    await area.waitFor({ state: 'visible' });
    const yaml = await area.inputValue();
    assert.match(yaml, /^hooks:$/m);
    assert.match(yaml, /^ {2}- id: forward-it$/m);
    for (const v of ['FORWARD_IT_WEBHOOK_SECRET', 'FORWARD_IT_SIGNING_SECRET', 'FORWARD_IT_HEADER_X_TOKEN']) {
      assert.ok(yaml.includes(`"\${${v}}"`) && yaml.includes(`#   ${v}: `), `${v} in\n${yaml}`);
    }
    for (const secret of [secrets['forward-it'], 'sign-s3cret', 't0ken-1']) assert.ok(!yaml.includes(secret), `${secret} leaked`);
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), yaml, 'on the clipboard too');

    await page.goto(`${hub.url}/#/hooks`);
    await page.locator('[data-hook="from-file"]').waitFor();
    await page.getByRole('button', { name: 'Copy all as YAML' }).click();
    await area.waitFor({ state: 'visible' });
    const all = await area.inputValue();
    for (const id of ['from-file', 'forward-it', 'tell-me', 'ask', 'greeter', 'nightly']) assert.match(all, new RegExp(`- id: ${id}$`, 'm'));
    consoleErrors.check();
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

  test('the new form and an agent run fit a phone screen', async () => {
    await page.setViewportSize({ width: 390, height: 800 });
    const run = (await getJson('/api/hooks/ask/executions')).executions[0].id;
    for (const route of ['#/hooks', '#/hooks/new', '#/hooks/api-hmac/edit', `#/executions/${run}`]) {
      await page.goto(`${hub.url}/${route}`);
      await page.locator('main h1').first().waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${route} is ${overflow}px wider than the screen`);
    }
    await page.setViewportSize({ width: 1100, height: 900 });
    consoleErrors.check();
  });
});
