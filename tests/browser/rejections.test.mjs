// Issue 19: the Rejected deliveries page, in real headless Chromium against the real binary.
// Deliveries refused for different reasons on different paths (a wrong URL, a bad signature,
// bad JSON, a wrong method) all appear on one page from the navigation, newest first, with
// their reason and without their secrets; older ones load on request.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FILE_SECRET, deliver, githubSignature, startHub, signedIn } from './harness.mjs';

const LEAKED = 'leaked-bearer-token-5d1e';

describe('the Rejected deliveries page', { timeout: 120000 }, () => {
  let hub, chromium, page, consoleErrors;

  before(async () => {
    hub = await startHub();
    ({ chromium, page, consoleErrors } = await signedIn(hub));
  });

  after(async () => {
    await chromium?.stop();
    await hub?.stop();
  });

  test('refusals on every path are listed with their reasons and no secrets', async () => {
    const post = (path, init) => fetch(`${hub.url}/api/webhooks/${path}`, { method: 'POST', ...init });
    assert.equal((await post('no-such-hook', { headers: { authorization: `Bearer ${LEAKED}` }, body: '{}' })).status, 404);
    assert.equal((await deliver(hub.url, 'deploys', 'the-wrong-secret', '{}')).status, 401);
    const bad = '{not json';
    assert.equal((await post('deploys', {
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': githubSignature(FILE_SECRET, bad) },
      body: bad,
    })).status, 400);
    assert.equal((await fetch(`${hub.url}/api/webhooks/deploys`)).status, 405);

    await page.getByRole('link', { name: 'Rejected', exact: true }).click();
    await page.getByRole('heading', { name: 'Rejected deliveries' }).waitFor();
    const rows = page.locator('#rejections [data-code]');
    await rows.nth(3).waitFor();
    assert.deepEqual(await rows.evaluateAll((els) => els.map((e) => e.dataset.code)),
      ['method_not_allowed', 'payload_invalid', 'auth_invalid', 'hook_not_found'], 'newest first');
    const wrongUrl = rows.nth(3);
    assert.match(await wrongUrl.innerText(), /\/api\/webhooks\/no-such-hook/);
    assert.match(await wrongUrl.innerText(), /no hook/);
    assert.match(await rows.nth(2).innerText(), /signature in X-Hub-Signature-256 does not match/);
    await wrongUrl.locator('summary').click();
    assert.match(await wrongUrl.locator('pre').innerText(), /"authorization": "\[redacted\]"/);
    assert.equal((await page.locator('main').innerText()).includes(LEAKED), false, 'the token is not shown');
    assert.equal(await page.locator('#nav a[aria-current="page"]').innerText(), 'Rejected');
    consoleErrors.check();
  });

  test('a refusal links to its hook, whose own view links back', async () => {
    await page.locator('#rejections [data-code="auth_invalid"]').getByRole('link', { name: 'from-file' }).click();
    await page.getByRole('heading', { name: 'Deploys (from the file)' }).waitFor();
    await page.getByRole('link', { name: 'Rejected deliveries' }).click();
    await page.locator('.tab-body').getByText('auth_invalid').waitFor();
    await page.locator('.tab-body').getByRole('link', { name: 'All rejected deliveries' }).click();
    await page.getByRole('heading', { name: 'Rejected deliveries' }).waitFor();
    consoleErrors.check();
  });

  test('older refusals load on request', async () => {
    for (let i = 0; i < 50; i += 1) {
      await fetch(`${hub.url}/api/webhooks/flood-${i}`, { method: 'POST', body: '{}' });
    }
    await page.getByRole('button', { name: 'Refresh' }).click();
    const rows = page.locator('#rejections [data-code]');
    await page.locator('#rejections', { hasText: 'flood-49' }).waitFor();
    assert.equal(await rows.count(), 50);
    await page.getByRole('button', { name: 'Older' }).click();
    await rows.nth(53).waitFor();
    assert.equal(await rows.count(), 54);
    assert.equal(await page.getByRole('button', { name: 'Older' }).count(), 0, 'nothing older left');
    consoleErrors.check();
  });

  test('the page fits a phone screen', async () => {
    await page.setViewportSize({ width: 390, height: 800 });
    await page.goto(`${hub.url}/#/rejected`);
    await page.locator('#rejections [data-code]').first().waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
    consoleErrors.check();
  });
});
