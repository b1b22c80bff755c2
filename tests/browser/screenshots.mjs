// Takes the README's screenshots (docs/screenshots/*.png) of the UI with a little history:
// run `node screenshots.mjs` here after `cargo build`. Not a test: it checks nothing.

import { appendFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ADMIN_TOKEN, FILE_SECRET, deliver, startBrowser, startHub } from './harness.mjs';

const OUT = resolve(import.meta.dirname, '..', '..', 'docs', 'screenshots');
const bearer = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
const pause = (ms) => new Promise((ok) => setTimeout(ok, ms));

async function seed(hub) {
  const make = (hook) => fetch(`${hub.url}/api/hooks`, { method: 'POST', headers: bearer, body: JSON.stringify(hook) }).then((r) => r.json());
  const orders = await make({ name: 'Shop orders', triggerConfig: { webhookPath: 'orders', scheme: 'github' }, action: 'webhook', actionConfig: { webhookUrl: hub.target.url } });
  await make({ name: 'Nightly report', trigger: 'schedule', triggerConfig: { cron: '0 6 * * *', timezone: 'Europe/Berlin' }, action: 'webhook', actionConfig: { webhookUrl: hub.target.url } });
  await make({ name: 'Flaky partner', triggerConfig: { webhookPath: 'partner' }, action: 'webhook', actionConfig: { webhookUrl: 'http://127.0.0.1:9/closed' }, enabled: true });
  for (const [n, name] of ['Order #1041', 'Order #1042', 'Order #1043'].entries()) {
    await deliver(hub.url, 'orders', orders.webhookSecret, JSON.stringify({ objectName: name, actor: 'shop', total: 19.9 + n, items: [{ sku: 'TEE-01', qty: 1 + n }] }), 'order.created');
  }
  await deliver(hub.url, 'deploys', FILE_SECRET, JSON.stringify({ ref: 'refs/heads/main', objectName: 'me/app@main' }));
  await deliver(hub.url, 'deploys', 'wrong-secret', '{}');
  const partner = await fetch(`${hub.url}/api/hooks/flaky-partner/rotate-secret`, { method: 'POST', headers: bearer, body: '{}' }).then((r) => r.json());
  await deliver(hub.url, 'partner', partner.webhookSecret, JSON.stringify({ objectName: 'invoice 77' }));
  // A tool hook with a run of each kind for the chart: ran, failed (no `who`), skipped (ping).
  const greeter = await make({ name: 'Greeter', triggerConfig: { webhookPath: 'greeter', events: ['push'] }, action: 'execute_tool', actionConfig: { toolId: 'greet', toolAction: 'shout', toolParams: { name: '{{webhook.body.who}}', times: '2' } } });
  for (const [event, body] of [['push', { who: 'Ada', objectName: 'hello Ada' }], ['push', { who: 'Grace' }], ['push', {}], ['ping', {}]]) {
    await deliver(hub.url, 'greeter', greeter.webhookSecret, JSON.stringify(body), event);
  }
  return orders;
}

async function main() {
  mkdirSync(OUT, { recursive: true });
  const hub = await startHub();
  const chromium = await startBrowser({ width: 1100, height: 760 });
  try {
    const page = chromium.page;
    const shot = async (name, fullPage = false) => { await pause(300); await page.screenshot({ path: join(OUT, `${name}.png`), fullPage }); };
    await page.goto(hub.url);
    await page.getByLabel('Admin token', { exact: true }).waitFor();
    await shot('sign-in');
    await page.getByLabel('Admin token', { exact: true }).fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('.hook-list').waitFor();
    const orders = await seed(hub);
    await pause(1500);
    await page.goto(`${hub.url}/#/hooks`);
    await page.locator('[data-hook="shop-orders"]').waitFor();
    await shot('hooks');
    await page.goto(`${hub.url}/#/hooks/shop-orders`);
    await page.locator('#live-state', { hasText: 'live' }).waitFor();
    await page.locator('summary', { hasText: 'Test it with curl' }).click();
    await page.locator('#curl-secret').fill(orders.webhookSecret);
    await shot('hook-log', true);
    await page.getByRole('button', { name: 'Copy as YAML' }).click();
    await page.locator('#hook-yaml').waitFor();
    await page.locator('#toast.shown').waitFor({ state: 'detached' });
    await page.locator('.yaml-export').screenshot({ path: join(OUT, 'hook-yaml.png') });
    await page.locator('[data-execution] a').first().click();
    await page.getByRole('heading', { name: 'Payload' }).waitFor();
    await shot('execution', true);
    const runs = (await fetch(`${hub.url}/api/hooks/greeter/executions?status=succeeded`, { headers: bearer }).then((r) => r.json())).executions;
    await page.goto(`${hub.url}/#/executions/${runs.at(-1).id}`);
    await page.getByRole('heading', { name: 'Attempts' }).waitFor();
    await page.locator('section', { hasText: 'Attempts' }).last().screenshot({ path: join(OUT, 'execution-tool.png') });
    const flaky = (await fetch(`${hub.url}/api/hooks/flaky-partner/executions`, { headers: bearer }).then((r) => r.json())).executions;
    await page.goto(`${hub.url}/#/executions/${flaky[0].id}`);
    await page.locator('#retry-schedule').waitFor();
    await shot('execution-retrying', true);
    await page.goto(`${hub.url}/#/hooks/new`);
    await page.getByLabel('Name', { exact: true }).fill('Greet the sender');
    await page.getByLabel('Path', { exact: true }).fill('greet');
    await page.getByLabel('Action', { exact: true }).selectOption('execute_tool');
    await page.getByLabel('Tool action', { exact: true }).selectOption('shout');
    await page.getByLabel('Parameters', { exact: true }).fill('name={{webhook.body.who}}\ntimes=2');
    await page.locator('fieldset', { hasText: 'What it does' }).screenshot({ path: join(OUT, 'hook-form-tool.png') });
    await page.goto(`${hub.url}/#/hooks/new`);
    await page.getByLabel('Name', { exact: true }).fill('Broken');
    await page.getByLabel('Path', { exact: true }).fill('Not A Path!');
    await page.getByRole('button', { name: 'Create hook' }).click();
    await page.locator('[data-for="triggerConfig.webhookPath"] .error').waitFor({ state: 'visible' });
    await shot('hook-form');
    await page.goto(`${hub.url}/#/hooks/from-file/rejected`);
    await page.getByText('auth_invalid').waitFor();
    await shot('rejected');
    await fetch(`${hub.url}/api/webhooks/old-path`, { method: 'POST', body: '{}' });
    await page.goto(`${hub.url}/#/rejected`);
    await page.locator('#rejections [data-code]').first().waitFor();
    await shot('rejected-all');
    await page.goto(`${hub.url}/#/channels`);
    await page.locator('main .card').first().waitFor();
    await shot('channels');
    appendFileSync(hub.configPath, '  - id: broken\n    triggerConfig: { webhookPath: "Bad Path" }\n    action: webhook\n');
    await pause(6000);
    await page.setViewportSize({ width: 390, height: 780 });
    await page.goto(`${hub.url}/#/hooks`);
    await page.locator('#banner:not([hidden])').waitFor();
    await shot('phone-hooks-config-error');
  } finally {
    await chromium.stop();
    await hub.stop();
  }
}

await main();
