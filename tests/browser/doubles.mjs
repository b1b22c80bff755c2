// Local stand-ins for what notify and spawn_agent hooks talk to, on 127.0.0.1:0: the Telegram
// Bot API (getMe, getUpdates, sendMessage, as the hub's teloxide client calls them) and an
// OpenAI-compatible chat-completions server. Tests make chats speak and read what was sent.

import { createServer } from 'node:http';

export const TELEGRAM_TOKEN = '123456:browser-test-token';

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString();
  try {
    return text ? JSON.parse(text) : {};
  } catch {
    return {};
  }
}

function answer(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function listen(server) {
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return `http://127.0.0.1:${server.address().port}`;
}

/** The Bot API: `say()` queues a message from a private chat, `sent` is what the bot sent. */
export async function startTelegram() {
  const sent = [];
  let updates = [];
  let nextUpdate = 100;
  let wake = () => {};
  const ok = (res, result) => answer(res, 200, { ok: true, result });
  const bot = {
    id: 1, is_bot: true, first_name: 'hookhub', username: 'hookhub_test_bot', can_join_groups: true,
    can_read_all_group_messages: false, supports_inline_queries: false,
    can_connect_to_business: false, has_main_web_app: false,
  };
  const server = createServer(async (req, res) => {
    const body = await readJson(req);
    const [, token, method] = req.url.match(/^\/bot([^/]+)\/(\w+)/) || [];
    if (token !== TELEGRAM_TOKEN) return answer(res, 401, { ok: false, error_code: 401, description: 'Unauthorized' });
    switch (method.toLowerCase()) {
      case 'getme': return ok(res, bot);
      case 'getupdates': {
        updates = updates.filter((u) => u.update_id >= (body.offset || 0));
        // Long polling, shortened: wait up to half a second for something to say.
        if (!updates.length) await new Promise((done) => { wake = done; setTimeout(done, 500); });
        return ok(res, updates);
      }
      case 'sendmessage': {
        sent.push({ chatId: String(body.chat_id), text: body.text });
        return ok(res, { message_id: sent.length, date: 1700000000, chat: { id: Number(body.chat_id), type: 'private', first_name: 'Owner' }, text: body.text });
      }
      default: return answer(res, 404, { ok: false, error_code: 404, description: `Not Found: ${method}` });
    }
  });
  const url = await listen(server);
  return {
    url, sent, server,
    say(chatId, text) {
      const id = nextUpdate++;
      const who = { id: chatId, first_name: 'Owner', username: 'owner' };
      updates.push({ update_id: id, message: { message_id: id, date: 1700000000, chat: { ...who, type: 'private' }, from: { ...who, is_bot: false }, text } });
      wake();
    },
  };
}

/** Chat completions: every request is kept in `requests`; each answer is `reply`. */
export async function startModel(reply = 'The agent looked: all is well.') {
  const requests = [];
  const server = createServer(async (req, res) => {
    const body = await readJson(req);
    if (req.url !== '/v1/chat/completions') return answer(res, 404, { error: { message: 'not found' } });
    requests.push(body);
    answer(res, 200, {
      id: `chatcmpl-${requests.length}`, object: 'chat.completion', created: 1700000000, model: body.model,
      choices: [{ index: 0, message: { role: 'assistant', content: reply }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 },
    });
  });
  return { url: await listen(server), requests, reply, server };
}
