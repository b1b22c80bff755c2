// "Test it with curl" runs as shown (issue 19): for a hook of every scheme, made through the
// API as the UI makes it, the command the hook page shows — a signed curl when a secret is
// typed, else `hookhub send` with "$SECRET" — is run as written by `sh`, with the real binary as
// `hookhub` on the PATH, and must exit 0 with a 202 whose execution runs the action.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ADMIN_TOKEN, hubBinary, startHub, signedIn } from './harness.mjs';

const run = promisify(execFile);

// One hook per scheme, with its secret and the settings a sender must follow.
const HOOKS = [
  { scheme: 'github', secret: 'gh-secret', events: ['push'] },
  { scheme: 'gitea', secret: 'gitea-secret' },
  { scheme: 'gitlab', secret: 'gitlab-token', events: ['Push Hook'] },
  { scheme: 'standard', secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' },
  { scheme: 'stripe', secret: 'whsec_stripe-secret', events: ['*'] },
  { scheme: 'slack', secret: 'slack-signing-secret' },
  { scheme: 'shopify', secret: 'shopify-secret' },
  { scheme: 'linear', secret: 'linear-secret' },
  { scheme: 'bearer', secret: 'bearer-token' },
  { scheme: 'header', secret: 'header-token', settings: { header: 'X-Api-Key' }, events: ['deploy'] },
  {
    scheme: 'hmac',
    secret: "hmac secret with 'quotes'",
    settings: {
      header: 'X-Signature', algorithm: 'sha512', encoding: 'base64', prefix: 'v1=',
      signedPayload: '{timestamp}.{body}', timestampHeader: 'X-Timestamp',
    },
  },
];

describe('the commands under "Test it with curl"', { timeout: 180000 }, () => {
  let hub, chromium, page, consoleErrors, bin;

  const admin = (method, path, body) => fetch(`${hub.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: body && JSON.stringify(body),
  });

  before(async () => {
    hub = await startHub();
    // The command says `hookhub`: put the binary under that name first on the PATH.
    bin = mkdtempSync(join(tmpdir(), 'hookhub-path-'));
    symlinkSync(hubBinary(), join(bin, 'hookhub'));
    for (const { scheme, secret, settings, events } of HOOKS) {
      const answer = await admin('POST', '/api/hooks', {
        id: `t-${scheme}`,
        name: `Test ${scheme}`,
        triggerConfig: { webhookPath: `t-${scheme}`, scheme, webhookSecret: secret, events, ...settings },
        action: 'webhook',
        actionConfig: { webhookUrl: hub.target.url },
      });
      assert.equal(answer.status, 201, `${scheme}: ${await answer.text()}`);
    }
    ({ chromium, page, consoleErrors } = await signedIn(hub));
  });

  after(async () => {
    await chromium?.stop();
    await hub?.stop();
    if (bin) rmSync(bin, { recursive: true, force: true });
  });

  /**
   * The command the hook page shows, with `secret` typed into the page or none. Each gets its
   * own body: two runs signing the same body in the same second carry the same signature,
   * which a timestamped scheme rightly answers as a replay (200, duplicate).
   */
  async function shownCommand(id, secret) {
    // By way of the list, so the hook page is drawn afresh (no secret left in it).
    await page.goto(`${hub.url}/#/hooks`);
    await page.locator(`[data-hook="${id}"]`).waitFor();
    await page.goto(`${hub.url}/#/hooks/${id}`);
    await page.locator('summary', { hasText: 'Test it with curl' }).click();
    const output = page.locator('#curl-command');
    await output.waitFor({ state: 'visible' });
    await page.waitForFunction(() => document.querySelector('#curl-command')?.textContent);
    const body = JSON.stringify({ action: 'opened', objectName: `${id} with${secret ? '' : 'out'} a secret` });
    await page.locator('#curl-body').fill(body);
    await page.waitForFunction((text) => document.querySelector('#curl-command').textContent.includes(text), body);
    if (secret) {
      await page.locator('#curl-secret').fill(secret);
      await page.waitForFunction(() => !document.querySelector('#curl-command').textContent.includes('"$SECRET"'));
    }
    return output.innerText();
  }

  /** Runs the command as the user would paste it; its output, after checking exit 0 and 202. */
  async function runAsShown(command, secret) {
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, SECRET: secret };
    const { stdout } = await run('sh', ['-c', command], { env, timeout: 30000 });
    assert.match(stdout, /^HTTP(\/1\.1)? 202\b/m, `${command}\n${stdout}`);
    return stdout;
  }

  /** The execution a 202 answer created must run its action, not be skipped. */
  async function assertRan(stdout, command) {
    const id = stdout.match(/"executionId":"(exe_[^"]+)"/)[1];
    const deadline = Date.now() + 10000;
    let execution;
    do {
      execution = await admin('GET', `/api/executions/${id}`).then((r) => r.json());
      if (!['queued', 'running', 'retrying'].includes(execution.status)) break;
      await new Promise((ok) => setTimeout(ok, 100));
    } while (Date.now() < deadline);
    assert.equal(execution.status, 'succeeded', `${command}\n${JSON.stringify(execution.skipReason ?? execution.error)}`);
  }

  for (const { scheme, secret } of HOOKS) {
    test(`${scheme}: the command shown with the secret typed works`, async () => {
      const command = await shownCommand(`t-${scheme}`, secret);
      const expected = ['linear', 'hmac'].includes(scheme) ? /^hookhub send / : /^curl /;
      assert.match(command, expected);
      await assertRan(await runAsShown(command, 'not-used'), command);
      consoleErrors.check();
    });

    test(`${scheme}: the command shown without a secret works with SECRET set`, async () => {
      const command = await shownCommand(`t-${scheme}`, null);
      assert.match(command, /^hookhub send .*--secret "\$SECRET"/);
      await assertRan(await runAsShown(command, secret), command);
      consoleErrors.check();
    });
  }
});
