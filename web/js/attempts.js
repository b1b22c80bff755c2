// An execution's attempts as what happened, in each action's own terms: a forward's HTTP
// status, latency and response; a tool's exit code, stdout and stderr; a notify's result per
// chat; an agent's steps. The detail as recorded stays one click away, for what is not shown.

import { duration, h, pre, when } from './dom.js';

export function attemptList(list) {
  if (!list.length) return h('p', { class: 'muted' }, 'No attempts yet.');
  return h('ol', { class: 'attempts' }, list.map((a, i) => {
    const label = `Attempt ${a.number ?? i + 1}`;
    return h('li', { class: 'attempt', dataset: { outcome: a.outcome } },
      h('div', { class: 'row-head' },
        h('strong', {}, label),
        h('span', { class: `badge outcome-${a.outcome}` }, a.outcome),
        when(a.startedAt),
        h('span', { class: 'muted' }, duration(a.durationMs))),
      detailOf(a.detail || {}, label),
      h('details', {}, h('summary', {}, 'As recorded'), pre(a.detail, `${label} as recorded`)));
  }));
}

function detailOf(d, label) {
  if (Array.isArray(d.steps)) return agent(d, label);
  if ('exitCode' in d || 'argv' in d) return tool(d, label);
  if ('channel' in d) return chat(d);
  if ('url' in d || 'status' in d) return forward(d, label);
  return d.error ? h('p', { class: 'error-text' }, d.error) : null;
}

function facts(...pairs) {
  return h('dl', { class: 'facts attempt-facts' },
    pairs.filter(Boolean).map(([name, value]) => [h('dt', {}, name), h('dd', {}, value)]));
}

function forward(d, label) {
  return [
    facts(
      ['Status', d.status ? `HTTP ${d.status}` : 'no answer'],
      ['Latency', duration(d.latencyMs)],
      ['Request', h('code', {}, `${d.method || ''} ${d.url || ''}`)]),
    d.error ? h('p', { class: 'error-text' }, d.error) : null,
    d.response != null ? [
      h('h3', {}, d.responseTruncated ? 'Response (its first 1 KB)' : 'Response'),
      pre(d.response, `${label} response`)] : null,
  ];
}

function tool(d, label) {
  const exit = d.timedOut ? 'timed out' : d.signal ? `killed by signal ${d.signal}` : d.exitCode ?? '—';
  const output = (name, text, cut) => (text ? [
    h('h3', {}, cut ? `${name} (cut at 64 KB)` : name), pre(text, `${label} ${name}`)] : null);
  return [
    facts(
      ['Exit code', String(exit)],
      d.argv ? ['Command', h('code', {}, d.argv.join(' '))] : null),
    d.error ? h('p', { class: 'error-text' }, d.error) : null,
    output('stdout', d.stdout, d.stdoutTruncated),
    output('stderr', d.stderr, d.stderrTruncated),
    d.stdout || d.stderr ? null : h('p', { class: 'muted small' }, 'No output.'),
  ];
}

function chat(d) {
  const sent = d.response?.message_id ?? d.response?.ts;
  return [
    facts(
      ['Channel', `${d.channel} · ${d.displayName || d.chatId || ''}`],
      ['Result', d.error ? 'not delivered' : `delivered${sent ? ` (message ${sent})` : ''}`],
      d.retryAfterSecs ? ['Asked to wait', `${d.retryAfterSecs} s`] : null),
    d.error ? h('p', { class: 'error-text' }, d.error) : null,
  ];
}

function agent(d, label) {
  return [
    facts(
      ['Role', d.role || 'default'],
      ['Model', d.model || '—'],
      ['Tokens', String(d.totalTokens ?? '—')]),
    h('ol', { class: 'agent-steps' }, d.steps.map((s) => h('li', {}, step(s)))),
    d.finalText ? [h('h3', {}, 'Answer'), pre(d.finalText, `${label} answer`)] : null,
    (d.notified || []).map((n) => h('p', { class: 'small' },
      `Sent to ${n.channel} ${n.displayName || ''}: ${n.delivered ? 'delivered' : `not delivered (${n.error})`}`)),
    d.error ? h('p', { class: 'error-text' }, d.error) : null,
  ];
}

function step(s) {
  const took = s.latencyMs != null ? ` · ${duration(s.latencyMs)}` : '';
  switch (s.step) {
    case 'prompt': return [h('strong', {}, 'Prompt'), h('pre', { class: 'code small' }, s.text)];
    case 'tool': return [
      h('strong', {}, `Tool ${s.name}`), h('span', { class: 'muted small' }, ` ${s.ok ? 'ok' : 'failed'}${took}`),
      h('pre', { class: 'code small' }, `${s.arguments}\n→ ${s.result}`)];
    default: {
      const calls = (s.toolCalls || []).map((c) => `${c.name}(${c.arguments})`).join(', ');
      return [
        h('strong', {}, s.step === 'classify' ? 'Choosing a role' : 'Model'),
        h('span', { class: 'muted small' }, ` ${s.model || ''}${took}${s.usage ? ` · ${s.usage.totalTokens} tokens` : ''}`),
        s.content ? h('pre', { class: 'code small' }, s.content) : null,
        calls ? h('p', { class: 'small' }, `Calls ${calls}`) : null];
    }
  }
}
