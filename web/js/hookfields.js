// Every field of a hook the form offers (SPEC §3, §5, §6): its label, help, kind of input, the
// part of the form it sits in, and when it applies. A field that does not apply to the trigger,
// scheme or action chosen is hidden, and left out of what is saved.

export const SCHEMES = [
  ['github', 'github: X-Hub-Signature-256 (GitHub, Gitea, Bitbucket, most senders)'],
  ['gitea', 'gitea: X-Gitea-Signature'], ['gitlab', 'gitlab: X-Gitlab-Token'],
  ['standard', 'standard: Standard Webhooks / Svix (whsec_ keys)'], ['stripe', 'stripe: Stripe-Signature'],
  ['slack', 'slack: X-Slack-Signature'], ['shopify', 'shopify: X-Shopify-Hmac-Sha256'],
  ['linear', 'linear: Linear-Signature'], ['bearer', 'bearer: Authorization: Bearer <secret>'],
  ['header', 'header: the secret in a header you name'], ['hmac', 'hmac: a custom HMAC signature you describe below'],
];

const ACTIONS = [
  ['webhook', 'Forward the event to another URL'], ['notify', 'Send me a message on Telegram or Slack'],
  ['spawn_agent', 'Ask the AI agent about the event'], ['execute_tool', 'Run a tool from the config file'],
];

const webhook = (v) => v.trigger === 'webhook';
const schedule = (v) => v.trigger === 'schedule';
const scheme = (...names) => (v) => webhook(v) && names.includes(v.scheme);
const action = (name) => (v) => v.action === name;

/** The tools and agent roles the config file offers (`GET /api/tools`), for choices below. */
const toolOptions = (offer) => offer.tools.map((t) => [t.id, t.description ? `${t.id}: ${t.description}` : t.id]);
const toolActionOptions = (offer, v) => {
  const tool = offer.tools.find((t) => t.id === v.toolId);
  const own = !tool || tool.hasCommand ? [['', 'its own command']] : [];
  return [...own, ...(tool?.actions || []).map((a) => [a.name, a.name])];
};

// section: where it is shown; when: whether it applies to the values chosen (always if absent);
// default: what the hub assumes when the field is absent, which an edit leaves absent.
export const FIELDS = [
  { section: 'hook', path: 'name', label: 'Name', help: 'What the hook is for, as you will see it in lists.' },
  { section: 'hook', path: 'id', label: 'Id', help: 'Letters a-z, digits, - and _. Made from the name when left empty; it cannot change later.', createOnly: true },
  { section: 'hook', path: 'enabled', label: 'Enabled', help: 'A disabled hook answers 404 to deliveries and does not run on its schedule.', kind: 'checkbox', on: true },
  { section: 'hook', path: 'trigger', label: 'Trigger', help: 'What starts the hook.', kind: 'select', options: [['webhook', 'Webhook: a sender posts to a URL'], ['schedule', 'Schedule: a cron pattern']] },

  { section: 'trigger', when: webhook, path: 'triggerConfig.webhookPath', label: 'Path', help: 'The end of the URL: /api/webhooks/<path>. 1-128 of a-z 0-9 - _ /.' },
  { section: 'trigger', when: webhook, path: 'triggerConfig.scheme', label: 'Verification scheme', help: 'How the sender proves it knows the secret.', kind: 'select', options: SCHEMES, default: 'github' },
  { section: 'trigger', when: webhook, path: 'triggerConfig.webhookSecret', label: 'Secret', kind: 'secret', help: 'Shared with the sender. Leave empty to have one generated and shown once.', editHelp: 'Leave empty to keep the current secret; use Rotate secret for a grace period.' },
  { section: 'trigger', when: scheme('header', 'hmac'), path: 'triggerConfig.header', label: 'Header name', help: 'The header that carries the secret (header) or the signature (hmac).' },
  { section: 'trigger', when: scheme('hmac'), path: 'triggerConfig.algorithm', label: 'Hash', kind: 'select', options: [['', 'sha256 (the default)'], ['sha256', 'sha256'], ['sha1', 'sha1'], ['sha512', 'sha512']], help: 'The HMAC hash the sender uses.' },
  { section: 'trigger', when: scheme('hmac'), path: 'triggerConfig.encoding', label: 'Encoding', kind: 'select', options: [['', 'hex (the default)'], ['hex', 'hex'], ['base64', 'base64']], help: 'How the signature is written in the header.' },
  { section: 'trigger', when: scheme('hmac'), path: 'triggerConfig.prefix', label: 'Signature prefix', help: 'Text before the signature in the header, such as sha256=; none when empty.' },
  { section: 'trigger', when: scheme('hmac'), path: 'triggerConfig.signedPayload', label: 'Signed payload', help: 'What the sender signs, with {timestamp} and {body}, e.g. {timestamp}.{body}; the body alone when empty.' },
  { section: 'trigger', when: scheme('hmac'), path: 'triggerConfig.timestampHeader', label: 'Timestamp header', help: 'The header with the timestamp used in the signed payload.' },
  { section: 'trigger', when: scheme('hmac'), path: 'triggerConfig.tolerance', label: 'Timestamp tolerance', help: 'How old a timestamp may be, e.g. 5m.' },
  { section: 'trigger', when: webhook, path: 'triggerConfig.events', label: 'Events', kind: 'list', help: 'Comma-separated event types that run the hook (e.g. push, pull_request); empty runs every delivery.' },
  { section: 'trigger', when: webhook, path: 'triggerConfig.filter', label: 'Filter', help: "A CEL expression over body, headers, query and eventType that must be true, e.g. body.action == 'opened'." },
  { section: 'trigger', when: webhook, path: 'triggerConfig.methods', label: 'Other methods', kind: 'list', help: 'HTTP methods accepted besides POST, in capitals, e.g. GET, PUT. A GET puts its query in the payload.' },
  { section: 'trigger', when: webhook, path: 'triggerConfig.ipAllowlist', label: 'Allowed networks', kind: 'list', help: 'Comma-separated CIDRs that may deliver (e.g. 192.30.252.0/22); empty allows anyone with the secret.' },
  { section: 'trigger', when: schedule, path: 'triggerConfig.cron', label: 'Cron pattern', help: 'Minute hour day month weekday, e.g. 30 7 * * 1-5 for 7:30 on weekdays.' },
  { section: 'trigger', when: schedule, path: 'triggerConfig.timezone', label: 'Time zone', help: 'An IANA name such as Europe/Berlin; UTC when empty.' },

  { section: 'action', path: 'action', label: 'Action', help: 'What runs for each accepted delivery.', kind: 'select', options: ACTIONS },
  { section: 'action', when: action('webhook'), path: 'actionConfig.webhookUrl', label: 'Forward to URL', help: 'An http:// or https:// URL. Failures are retried for about 1.5 hours.', editHelp: 'Credentials in it (user:pass@, query values) are shown as [redacted]: leave the URL as it is to keep them, or type the whole URL again.' },
  { section: 'action', when: action('webhook'), path: 'actionConfig.webhookMethod', label: 'Method', kind: 'select', options: [['', 'POST (the default)'], ['POST', 'POST'], ['PUT', 'PUT'], ['PATCH', 'PATCH'], ['DELETE', 'DELETE'], ['GET', 'GET']], help: 'The HTTP method of the forwarded request.' },
  { section: 'action', when: action('webhook'), path: 'actionConfig.headers', label: 'Headers', kind: 'pairs', sep: ':', help: 'One Name: value a line; values are templates. Values already saved show as [redacted]: leave them so to keep them.' },
  { section: 'action', when: action('webhook'), path: 'actionConfig.bodyTemplate', label: 'Body template', kind: 'textarea', help: 'Handlebars over webhook, hook and execution, e.g. {"text": "{{webhook.body.action}}"}. Empty forwards the received body unchanged.' },
  { section: 'action', when: action('webhook'), path: 'actionConfig.sign', label: 'Sign forwarded requests', kind: 'select', options: [['', 'not signed'], ['github', 'github (X-Hub-Signature-256)'], ['standard', 'Standard Webhooks']], help: 'Lets the receiver verify the hub sent it.' },
  { section: 'action', when: action('webhook'), path: 'actionConfig.signingSecret', label: 'Signing secret', kind: 'secret', help: 'Needed when signing (a whsec_ key for Standard Webhooks).', editHelp: 'Leave empty to keep the current one.' },
  { section: 'action', when: action('notify'), path: 'actionConfig.notifyMessage', label: 'Message', kind: 'textarea', help: 'A template, e.g. New order {{webhook.body.objectName}} from {{webhook.body.actor}}.' },
  { section: 'action', when: action('notify'), path: 'actionConfig.channels', label: 'Channels', kind: 'checks', options: [['telegram', 'Telegram'], ['slack', 'Slack']], help: 'Where to send it, to every chat you linked there. None ticked: every configured channel.' },
  { section: 'action', when: action('spawn_agent'), path: 'actionConfig.agentPrompt', label: 'Prompt', kind: 'textarea', help: 'What to ask; the payload and event type are added after it.' },
  { section: 'action', when: action('spawn_agent'), path: 'actionConfig.agentTopic', label: 'Topic', kind: 'text', suggest: (offer) => (offer.agent?.roles || []).map((r) => [r.name, r.description]), help: 'A role from agent.roles in the config file answers when named; empty: the default role.' },
  { section: 'action', when: action('spawn_agent'), path: 'actionConfig.orchestrated', label: 'Let the agent use tools', kind: 'checkbox', help: 'A tool-calling loop over the configured tools and notify_owner, instead of one answer.' },
  { section: 'action', when: action('spawn_agent'), path: 'actionConfig.notifyOwner', label: 'Send me the answer', kind: 'checkbox', help: 'The agent\'s final answer goes to your linked chats.' },
  { section: 'action', when: action('execute_tool'), path: 'actionConfig.toolId', label: 'Tool', kind: 'select', options: toolOptions, help: 'Tools are defined under tools: in the config file only.' },
  { section: 'action', when: action('execute_tool'), path: 'actionConfig.toolAction', label: 'Tool action', kind: 'select', options: toolActionOptions, help: 'Which of the tool\'s commands runs.' },
  { section: 'action', when: action('execute_tool'), path: 'actionConfig.toolParams', label: 'Parameters', kind: 'pairs', sep: '=', help: 'One NAME=template a line; they reach the tool as {{params.NAME}}.' },

  { section: 'more', when: webhook, path: 'triggerConfig.lockKey', label: 'Lock key', help: 'A template; executions with the same key run one at a time, in order, e.g. {{webhook.body.repository.full_name}}.' },
  { section: 'more', when: webhook, path: 'triggerConfig.dedupeKey', label: 'Delivery id', help: 'A template for the id that drops repeats; the sender\'s delivery header when empty.' },
  { section: 'more', when: webhook, path: 'triggerConfig.mergeQuery', label: 'Query into the payload', kind: 'tristate', options: [['', 'as the scheme decides'], ['true', 'yes'], ['false', 'no']], help: 'Whether ?name=value joins the body. By default only where the query is authenticated (token schemes, GET).' },
  { section: 'more', path: 'actionConfig.concurrency', label: 'Runs at once', kind: 'number', help: 'How many executions of this hook may run at the same time (1-20, default 2).' },
  { section: 'more', path: 'actionConfig.retryOnCrash', label: 'Run again after a crash', kind: 'checkbox', help: 'A tool or agent run cut short by a crash is run again, instead of marked failed.' },
];

export const SECTIONS = [
  ['hook', 'The hook'], ['trigger', 'When it runs'], ['action', 'What it does'], ['more', 'More options'],
];
