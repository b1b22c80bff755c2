// Starts what a browser test needs: a forward target that records what it receives, doubles
// of the Telegram Bot API and of a model server (doubles.mjs), the real hookhub binary with a
// temporary config (a tool, the agent, Telegram) and data dir on a free port, and headless
// Chromium with a fresh profile. Everything is stopped by `stop()`, and the hub also when
// node exits.

import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { TELEGRAM_TOKEN, startModel, startTelegram } from './doubles.mjs';

export const ADMIN_TOKEN = 'browser-test-admin-token';
export const FILE_SECRET = 'file-hook-secret';
const REPO = resolve(import.meta.dirname, '..', '..');

/** The hub binary: $HOOKHUB_BIN, else the debug build under $CARGO_TARGET_DIR or ./target. */
export function hubBinary() {
  const bin = process.env.HOOKHUB_BIN
    || join(process.env.CARGO_TARGET_DIR || join(REPO, 'target'), 'debug', 'hookhub');
  if (!existsSync(bin)) throw new Error(`no hookhub binary at ${bin}: run cargo build first or set HOOKHUB_BIN`);
  return bin;
}

/** A server on 127.0.0.1:0 that answers 200 and keeps every request it receives. */
async function startTarget() {
  const received = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      received.push({ method: req.method, headers: req.headers, body: Buffer.concat(chunks).toString() });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('target says ok');
    });
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return { server, received, url: `http://127.0.0.1:${server.address().port}/hook` };
}

async function freePort() {
  const server = createServer();
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  await new Promise((ok) => server.close(ok));
  return port;
}

function config(port, dir, targetUrl, telegramUrl, modelUrl) {
  return `server:
  listen: 127.0.0.1:${port}
  dataDir: ${JSON.stringify(join(dir, 'data'))}
  publicUrl: http://127.0.0.1:${port}
admin: { token: ${ADMIN_TOKEN} }
channels:
  telegram: { botToken: "${TELEGRAM_TOKEN}", apiUrl: "${telegramUrl}" }
agent:
  baseUrl: "${modelUrl}/v1"
  model: browser-model
  roles:
    devops: { description: servers and deploys, systemPrompt: You look after the owner's servers. }
tools:
  greet:
    description: Prints a greeting
    command: [/bin/echo, "hello {{params.name}}"]
    actions:
      shout: { command: [/bin/echo, "HELLO {{params.name}}", "{{params.times}}"] }
hooks:
  - id: from-file
    name: Deploys (from the file)
    triggerConfig: { webhookPath: deploys, webhookSecret: ${FILE_SECRET} }
    action: webhook
    actionConfig: { webhookUrl: "${targetUrl}" }
`;
}

async function waitForHealth(url, hub, log) {
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    if (hub.exitCode !== null) throw new Error(`hookhub exited with ${hub.exitCode}:\n${log.join('')}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) return;
    } catch { /* not listening yet */ }
    await new Promise((ok) => setTimeout(ok, 100));
  }
  throw new Error(`hookhub did not answer /healthz in 15 s:\n${log.join('')}`);
}

/** Starts the hub (a forward target, the doubles, config, data dir) on a free port. */
export async function startHub({ prepare } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'hookhub-browser-'));
  // A test may put the data dir somewhere of its own first (a small filesystem); what it
  // returns undoes that once the hub has stopped.
  const undo = prepare?.(join(dir, 'data'));
  const target = await startTarget();
  const telegram = await startTelegram();
  const model = await startModel();
  const port = await freePort();
  const configPath = join(dir, 'hooks.yaml');
  writeFileSync(configPath, config(port, dir, target.url, telegram.url, model.url));
  const log = [];
  const hub = spawn(hubBinary(), ['serve', '--config', configPath], {
    env: { ...process.env, RUST_LOG: process.env.HUB_LOG || 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  hub.stdout.on('data', (d) => log.push(String(d)));
  hub.stderr.on('data', (d) => log.push(String(d)));
  const killHub = () => hub.kill('SIGKILL');
  process.on('exit', killHub);
  const url = `http://127.0.0.1:${port}`;
  await waitForHealth(url, hub, log);
  return {
    url, target, telegram, model, log, configPath,
    async stop() {
      process.off('exit', killHub);
      if (hub.exitCode === null) {
        hub.kill('SIGTERM');
        await Promise.race([new Promise((ok) => hub.once('exit', ok)), new Promise((ok) => setTimeout(ok, 5000))]);
        if (hub.exitCode === null) killHub();
      }
      for (const server of [target.server, telegram.server, model.server]) {
        server.closeAllConnections();
        server.close();
      }
      undo?.();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Headless Chromium from the machine's Debian package, in a fresh profile (Playwright passes
 * it as --user-data-dir). Without the background-networking flags Chromium keeps trying to
 * reach Google, which a closed network refuses.
 */
export async function startBrowser(viewport = { width: 1100, height: 900 }) {
  const profile = mkdtempSync(join(tmpdir(), 'hookhub-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    timeout: 30000,
    viewport,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return {
    context,
    page: context.pages()[0] || await context.newPage(),
    async stop() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Records console errors and page errors. A test that provokes an error answer on purpose
 * (a wrong token's 401, a bad field's 422) names it with `expect(pattern)` first; any other
 * error fails `check()`.
 */
export function watchConsole(page) {
  const unexpected = [];
  const expected = [];
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const i = expected.findIndex((re) => re.test(msg.text()));
    if (i >= 0) expected.splice(i, 1);
    else unexpected.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (error) => unexpected.push(`page error: ${error.message}`));
  return {
    expect(pattern) { expected.push(pattern); },
    check() {
      if (unexpected.length) throw new Error(`errors in the page:\n${unexpected.join('\n')}`);
    },
  };
}

/** `sha256=<hex>` as GitHub signs, computed here independently of the hub. */
export function githubSignature(secret, body) {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * Chromium signed in to `hub` as the owner, on the Hooks page, with the console watched: what
 * most tests start from.
 */
export async function signedIn(hub) {
  const chromium = await startBrowser();
  const page = chromium.page;
  page.setDefaultTimeout(10000);
  const consoleErrors = watchConsole(page);
  await page.goto(hub.url);
  await page.getByLabel('Admin token', { exact: true }).fill(ADMIN_TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('[data-hook="from-file"]').waitFor();
  return { chromium, page, consoleErrors };
}

/** POSTs a GitHub-signed delivery to the hub. */
export async function deliver(hubUrl, path, secret, body, event = 'push') {
  return fetch(`${hubUrl}/api/webhooks/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-github-event': event, 'x-hub-signature-256': githubSignature(secret, body) },
    body,
  });
}
