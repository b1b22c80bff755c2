// A ready command for testing a hook, one that works as shown: a curl with the signature a
// sender would attach, computed in the browser (WebCrypto HMAC) from a secret the user types or
// the one the hub just showed (the secret never leaves the page), or the `hookhub send` command
// for schemes whose signature needs more than the body (linear, custom hmac) or when no secret
// was typed. Both name an event the hook's `events` accept, so the delivery runs the action.

const shownOnce = new Map();

/** Keeps a secret the hub showed once, in memory only, so the hook page can use it. */
export function rememberSecret(hookId, secret) {
  shownOnce.set(hookId, secret);
}

/** The secret shown once for this hook, if the page still has it (taken: shown one time). */
export function takeSecret(hookId) {
  const secret = shownOnce.get(hookId);
  shownOnce.delete(hookId);
  return secret;
}

const SIGNED = ['github', 'gitea', 'shopify', 'standard', 'stripe', 'slack', 'gitlab', 'bearer', 'header'];

/** Single-quotes text for a POSIX shell. */
export function shellQuote(text) {
  return `'${String(text).replace(/'/g, `'\\''`)}'`;
}

/** A shell word: as is when it needs no quoting, else single-quoted. */
function word(text) {
  return /^[A-Za-z0-9_.,:\/=@%+-]+$/.test(String(text)) ? String(text) : shellQuote(text);
}

/** The header a sender of `scheme` names the event in (as `hookhub send --event` does). */
export function eventHeader(scheme) {
  return { github: 'X-GitHub-Event', gitea: 'X-Gitea-Event', gitlab: 'X-Gitlab-Event' }[scheme] || 'X-Event';
}

/** An event type the hook's `events` accept, or null when it takes every delivery. */
export function sampleEvent(hook) {
  const events = hook.triggerConfig.events || [];
  if (!events.length) return null;
  // `*` matches any event type, but a delivery must have one.
  return events.find((e) => e !== '*') || 'test';
}

// `hookhub send` flags for the settings of `header` and `hmac` hooks, by triggerConfig field.
const RECIPE_FLAGS = [
  ['header', '--header-name'], ['algorithm', '--algorithm'], ['encoding', '--encoding'],
  ['prefix', '--prefix'], ['signedPayload', '--signed-payload'], ['timestampHeader', '--timestamp-header'],
];

/** The `hookhub send` command: works for every scheme, with the secret or a placeholder. */
export function sendCommand(hook, secret, body) {
  const tc = hook.triggerConfig;
  const scheme = tc.scheme || 'github';
  const args = ['hookhub send', shellQuote(hook.url), '--scheme', word(scheme)];
  if (scheme === 'header' || scheme === 'hmac') {
    for (const [field, flag] of RECIPE_FLAGS) {
      if (tc[field] != null) args.push(flag, word(tc[field]));
    }
  }
  const event = sampleEvent(hook);
  if (event) args.push('--event', word(event));
  args.push('--secret', secret ? shellQuote(secret) : '"$SECRET"', '--data', shellQuote(body));
  return args.join(' ');
}

/** A curl with the scheme's headers, or null when it cannot be computed here. */
export async function curlCommand(hook, secret, body) {
  const scheme = hook.triggerConfig.scheme || 'github';
  if (!secret || !SIGNED.includes(scheme)) return null;
  let headers;
  try {
    headers = await signatureHeaders(scheme, hook.triggerConfig.header, secret, body);
  } catch {
    return null; // e.g. a standard secret that is not base64
  }
  if (!headers) return null;
  const event = sampleEvent(hook);
  if (event) headers.push([eventHeader(scheme), event]);
  const lines = [`curl -i -X POST ${shellQuote(hook.url)}`, `-H 'Content-Type: application/json'`];
  for (const [name, value] of headers) lines.push(`-H ${shellQuote(`${name}: ${value}`)}`);
  lines.push(`--data-raw ${shellQuote(body)}`);
  return lines.join(' \\\n  ');
}

async function signatureHeaders(scheme, headerName, secret, body) {
  const now = Math.floor(Date.now() / 1000);
  switch (scheme) {
    case 'gitlab': return [['X-Gitlab-Token', secret]];
    case 'bearer': return [['Authorization', `Bearer ${secret}`]];
    case 'header': return headerName ? [[headerName, secret]] : null;
  }
  if (!crypto.subtle) return null; // Plain http on another host: WebCrypto is not offered.
  const text = (key, data) => hmac(new TextEncoder().encode(key), data);
  switch (scheme) {
    case 'github': return [['X-Hub-Signature-256', `sha256=${hex(await text(secret, body))}`]];
    case 'gitea': return [['X-Gitea-Signature', hex(await text(secret, body))]];
    case 'shopify': return [['X-Shopify-Hmac-Sha256', b64(await text(secret, body))]];
    case 'stripe': return [['Stripe-Signature', `t=${now},v1=${hex(await text(secret, `${now}.${body}`))}`]];
    case 'slack': return [['X-Slack-Request-Timestamp', String(now)], ['X-Slack-Signature', `v0=${hex(await text(secret, `v0:${now}:${body}`))}`]];
    case 'standard': {
      const id = `msg_${crypto.getRandomValues(new Uint32Array(2)).join('')}`;
      const key = Uint8Array.from(atob(secret.replace(/^whsec_/, '')), (c) => c.charCodeAt(0));
      const signature = b64(await hmac(key, `${id}.${now}.${body}`));
      return [['webhook-id', id], ['webhook-timestamp', String(now)], ['webhook-signature', `v1,${signature}`]];
    }
    default: return null;
  }
}

async function hmac(keyBytes, data) {
  const key = await crypto.subtle.importKey('raw', keyBytes, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(data)));
}

function hex(bytes) {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function b64(bytes) {
  return btoa(String.fromCharCode(...bytes));
}

/** Whether the signature expires (timestamped schemes allow 5 minutes). */
export function isTimestamped(hook) {
  return ['standard', 'stripe', 'slack'].includes(hook.triggerConfig.scheme || 'github');
}
