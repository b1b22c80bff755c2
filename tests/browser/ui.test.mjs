// The web UI in real headless Chromium against the real hookhub binary: sign-in, the hooks
// list, the create form and its inline errors, the live execution log, an execution's payload,
// replay, and the read-only config-file hook. Any console or page error fails the run.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_TOKEN, FILE_SECRET, deliver, githubSignature, startBrowser, startHub, watchConsole } from './harness.mjs';

describe('the web UI', { timeout: 120000 }, () => {
  let hub, chromium, page, consoleErrors;
  const created = {};

  before(async () => {
    hub = await startHub();
    chromium = await startBrowser();
    page = chromium.page;
    page.setDefaultTimeout(10000);
    consoleErrors = watchConsole(page);
    page.on('dialog', (dialog) => dialog.accept());
  });

  after(async () => {
    await chromium?.stop();
    await hub?.stop();
  });

  test('a wrong token cannot sign in', async () => {
    await page.goto(hub.url);
    await page.getByLabel('Admin token', { exact: true }).fill('not-the-token');
    consoleErrors.expect(/status of 401/);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('That is not the admin token').waitFor();
    assert.equal(await page.locator('#nav').isHidden(), true, 'the navigation stays hidden');
    const session = await page.evaluate(() => fetch('/api/session').then((r) => r.json()));
    assert.equal(session.signedIn, false);
    consoleErrors.check();
  });

  test('signing in shows the hooks, the config-file one marked', async () => {
    await page.getByLabel('Admin token', { exact: true }).fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const row = page.locator('[data-hook="from-file"]');
    await row.waitFor();
    assert.match(await row.innerText(), /config file/);
    assert.match(await row.innerText(), /\/api\/webhooks\/deploys/);
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === 'hookhub_session');
    assert.ok(session, 'a session cookie is set');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    assert.equal(await page.evaluate(() => document.cookie), '', 'scripts cannot read the session');
    consoleErrors.check();
  });

  test('a config-file hook has no edit button', async () => {
    const row = page.locator('[data-hook="from-file"]');
    assert.equal(await row.getByRole('link', { name: 'Edit' }).count(), 0);
    await row.getByRole('link', { name: 'Deploys (from the file)' }).click();
    await page.getByText('Defined in the config file').waitFor();
    for (const name of ['Edit', 'Delete', 'Rotate secret', 'Disable']) {
      assert.equal(await page.getByRole('button', { name }).count(), 0, `no ${name} button`);
      assert.equal(await page.getByRole('link', { name }).count(), 0, `no ${name} link`);
    }
    consoleErrors.check();
  });

  test('a bad field shows an inline error', async () => {
    await page.goto(`${hub.url}/#/hooks/new`);
    await page.getByLabel('Name', { exact: true }).fill('Broken');
    await page.getByLabel('Path', { exact: true }).fill('Not A Path!');
    await page.getByLabel('Forward to URL', { exact: true }).fill(hub.target.url);
    consoleErrors.expect(/status of 422/);
    await page.getByRole('button', { name: 'Create hook' }).click();
    const error = page.locator('[data-for="triggerConfig.webhookPath"] .error');
    await error.waitFor({ state: 'visible' });
    assert.match(await error.innerText(), /a-z 0-9/);
    assert.equal(await page.getByLabel('Path', { exact: true }).getAttribute('aria-invalid'), 'true');
    assert.match(page.url(), /#\/hooks\/new$/, 'the form stays open');
    consoleErrors.check();
  });

  test('a hook is created through the form and its secret is shown once', async () => {
    await page.getByLabel('Name', { exact: true }).fill('Orders');
    await page.getByLabel('Path', { exact: true }).fill('orders');
    await page.getByRole('button', { name: 'Create hook' }).click();
    await page.getByRole('heading', { name: "The hook's secret" }).waitFor();
    created.secret = (await page.locator('pre.secret').innerText()).trim();
    assert.match(created.secret, /^[0-9a-f]{64}$/);
    assert.match(page.url(), /#\/hooks\/orders$/);
    assert.equal(await page.locator('#hook-url').innerText(), `${hub.url}/api/webhooks/orders`);
    const api = await fetch(`${hub.url}/api/hooks/orders`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const hook = await api.json();
    assert.equal(hook.source, 'api');
    assert.equal(hook.actionConfig.webhookUrl, hub.target.url);
    consoleErrors.check();
  });

  test('the ready curl carries the signature the hub expects', async () => {
    await page.locator('summary', { hasText: 'Test it with curl' }).click();
    const body = await page.locator('#curl-body').inputValue();
    const command = await page.locator('#curl-command').innerText();
    assert.ok(command.includes(`X-Hub-Signature-256: ${githubSignature(created.secret, body)}`), command);
    consoleErrors.check();
  });

  test('a signed delivery appears in the log without a reload', async () => {
    await page.locator('#live-state', { hasText: 'live' }).waitFor();
    await page.evaluate(() => { window.stillTheSamePage = true; });
    const body = JSON.stringify({ objectName: 'browser test delivery', order: { id: 42 } });
    const answer = await deliver(hub.url, 'orders', created.secret, body);
    assert.equal(answer.status, 202);
    created.executionId = (await answer.json()).executions[0].executionId;
    const row = page.locator(`[data-execution="${created.executionId}"]`);
    await row.waitFor();
    await page.locator(`[data-execution="${created.executionId}"][data-status="succeeded"]`).waitFor();
    assert.match(await row.innerText(), /browser test delivery/);
    assert.equal(await page.evaluate(() => window.stillTheSamePage), true, 'the page was not reloaded');
    consoleErrors.check();
  });

  test('an execution shows its payload, redacted headers and attempts', async () => {
    await page.locator(`[data-execution="${created.executionId}"] a`).click();
    await page.getByRole('heading', { name: 'Payload' }).waitFor();
    const payload = await page.getByLabel('Payload', { exact: true }).innerText();
    assert.deepEqual(JSON.parse(payload), { objectName: 'browser test delivery', order: { id: 42 } });
    assert.ok(payload.includes('\n  "order": {'), 'pretty-printed');
    const signatureRow = page.locator('table.headers tr', { hasText: 'x-hub-signature-256' });
    assert.match(await signatureRow.innerText(), /\[redacted\]/);
    assert.match(await page.locator('.attempts').innerText(), /succeeded/);
    assert.match(await page.locator('.attempts').innerText(), /target says ok/);
    consoleErrors.check();
  });

  test('replay runs the delivery again', async () => {
    const before = hub.target.received.length;
    await page.getByRole('button', { name: 'Replay' }).click();
    await page.getByText('Replay of').waitFor();
    assert.doesNotMatch(page.url(), new RegExp(created.executionId), 'the replay has its own page');
    const deadline = Date.now() + 10000;
    while (hub.target.received.length === before && Date.now() < deadline) await new Promise((ok) => setTimeout(ok, 100));
    assert.equal(hub.target.received.length, before + 1, 'the target received the replay');
    assert.deepEqual(JSON.parse(hub.target.received.at(-1).body).order, { id: 42 });
    consoleErrors.check();
  });

  test('a refused delivery is listed under Rejected deliveries', async () => {
    const refused = await deliver(hub.url, 'deploys', 'the-wrong-secret', '{}');
    assert.equal(refused.status, 401);
    await page.goto(`${hub.url}/#/hooks/from-file/rejected`);
    await page.getByText('auth_invalid').waitFor();
    // The file hook still takes its own sender.
    assert.equal((await deliver(hub.url, 'deploys', FILE_SECRET, '{}')).status, 202);
    consoleErrors.check();
  });

  test('editing a hook keeps its secret and its other settings', async () => {
    await page.goto(`${hub.url}/#/hooks/orders/edit`);
    await page.getByLabel('Name', { exact: true }).fill('Orders (renamed)');
    await page.getByLabel('Events', { exact: true }).fill('push, order.created');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('heading', { name: 'Orders (renamed)' }).waitFor();
    const hook = await fetch(`${hub.url}/api/hooks/orders`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }).then((r) => r.json());
    assert.deepEqual(hook.triggerConfig.events, ['push', 'order.created']);
    assert.equal(hook.actionConfig.webhookUrl, hub.target.url);
    assert.equal(hook.hasSecret, true);
    assert.equal((await deliver(hub.url, 'orders', created.secret, '{}')).status, 202, 'the old secret still verifies');
    consoleErrors.check();
  });

  test('the channels page answers whether or not this hub has channels', async () => {
    const api = await fetch(`${hub.url}/api/channels`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    if (api.status === 404) consoleErrors.expect(/status of 404/);
    await page.getByRole('link', { name: 'Channels' }).click();
    if (api.ok) await page.getByRole('heading', { name: 'Link a chat' }).waitFor();
    else await page.getByText('This hub does not offer channels yet').waitFor();
    consoleErrors.check();
  });

  test('the pages fit a phone screen', async () => {
    await page.setViewportSize({ width: 390, height: 800 });
    for (const route of ['#/hooks', '#/hooks/orders', `#/executions/${created.executionId}`, '#/hooks/new']) {
      await page.goto(`${hub.url}/${route}`);
      await page.locator('main h1').first().waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${route} is ${overflow}px wider than the screen`);
    }
    await page.setViewportSize({ width: 1100, height: 900 });
    consoleErrors.check();
  });

  test('signing out ends the session', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin token', { exact: true }).waitFor();
    const answer = await page.evaluate(() => fetch('/api/hooks').then((r) => r.status));
    assert.equal(answer, 401);
  });
});
