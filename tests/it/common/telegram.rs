//! A local double of the Telegram Bot API (`getMe`, `getUpdates`, `sendMessage`) on port 0,
//! speaking the same HTTP and JSON as api.telegram.org so the hub's real teloxide client talks
//! to it. Tests queue messages "from" chats and read what the bot sent.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use tokio::sync::Notify;

pub const TOKEN: &str = "123456:telegram-test-token";

/// How the double answers the next `sendMessage` calls.
#[derive(Debug, Clone)]
pub enum Answer {
    Ok,
    /// 429 with `parameters.retry_after`.
    RetryAfter(u64),
}

#[derive(Default)]
struct Inner {
    updates: Vec<Value>,
    next_update: u64,
    sent: Vec<(String, String)>,
    script: VecDeque<Answer>,
    tokens_seen: Vec<String>,
}

#[derive(Clone)]
pub struct Telegram {
    /// What to put in `channels.telegram.apiUrl`.
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    wake: Arc<Notify>,
}

impl Telegram {
    pub async fn start() -> Telegram {
        let double = Telegram {
            url: String::new(),
            inner: Arc::new(Mutex::new(Inner {
                next_update: 100,
                ..Default::default()
            })),
            wake: Arc::new(Notify::new()),
        };
        let app = axum::Router::new()
            .route("/{bot}/{method}", axum::routing::post(handle))
            .with_state(double.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Telegram {
            url: format!("http://{addr}"),
            ..double
        }
    }

    /// A private chat `chat_id` (user `@username`) sends `text` to the bot.
    pub fn say(&self, chat_id: i64, username: &str, text: &str) {
        let mut inner = self.inner.lock().unwrap();
        let update_id = inner.next_update;
        inner.next_update += 1;
        inner.updates.push(json!({
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 1_700_000_000,
                "chat": {"id": chat_id, "type": "private", "first_name": "Owner", "username": username},
                "from": {"id": chat_id, "is_bot": false, "first_name": "Owner", "username": username},
                "text": text,
            }
        }));
        drop(inner);
        self.wake.notify_waiters();
    }

    /// Answers for the next `sendMessage` calls, in order (then `Ok` forever).
    pub fn script(&self, answers: &[Answer]) {
        self.inner
            .lock()
            .unwrap()
            .script
            .extend(answers.iter().cloned());
    }

    /// Every `(chat_id, text)` the bot sent, in order.
    pub fn sent(&self) -> Vec<(String, String)> {
        self.inner.lock().unwrap().sent.clone()
    }

    /// The tokens the bot's requests carried in their paths.
    pub fn tokens_seen(&self) -> Vec<String> {
        self.inner.lock().unwrap().tokens_seen.clone()
    }

    /// Waits (5 s at most) for a message to `chat_id` that satisfies `matches`.
    pub async fn wait_for_message(&self, chat_id: i64, matches: impl Fn(&str) -> bool) -> String {
        for _ in 0..100 {
            let found = self
                .sent()
                .into_iter()
                .find(|(chat, text)| chat == &chat_id.to_string() && matches(text));
            if let Some((_, text)) = found {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no matching message to {chat_id}; sent: {:#?}", self.sent());
    }
}

async fn handle(
    State(double): State<Telegram>,
    Path((bot, method)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> (axum::http::StatusCode, Json<Value>) {
    let token = bot.strip_prefix("bot").unwrap_or_default().to_string();
    double.inner.lock().unwrap().tokens_seen.push(token.clone());
    if token != TOKEN {
        return error(401, "Unauthorized");
    }
    match method.to_ascii_lowercase().as_str() {
        "getme" => ok(json!({
            "id": 123456, "is_bot": true, "first_name": "hookhub", "username": "hookhub_test_bot",
            "can_join_groups": true, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "can_connect_to_business": false,
            "has_main_web_app": false
        })),
        "getupdates" => get_updates(&double, &body).await,
        "sendmessage" => send_message(&double, &body),
        other => error(404, &format!("Not Found: method {other}")),
    }
}

async fn get_updates(double: &Telegram, body: &Value) -> (axum::http::StatusCode, Json<Value>) {
    let offset = body["offset"].as_u64().unwrap_or(0);
    // Long polling, shortened: hold the call up to half a second waiting for an update.
    for _ in 0..2 {
        let wake = double.wake.notified();
        {
            let mut inner = double.inner.lock().unwrap();
            inner
                .updates
                .retain(|u| u["update_id"].as_u64().unwrap() >= offset);
            if !inner.updates.is_empty() {
                return ok(Value::Array(inner.updates.clone()));
            }
        }
        let _ = tokio::time::timeout(Duration::from_millis(250), wake).await;
    }
    ok(json!([]))
}

fn send_message(double: &Telegram, body: &Value) -> (axum::http::StatusCode, Json<Value>) {
    let chat_id = match &body["chat_id"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let text = body["text"].as_str().unwrap_or_default().to_string();
    let mut inner = double.inner.lock().unwrap();
    match inner.script.pop_front().unwrap_or(Answer::Ok) {
        Answer::Ok => {
            inner.sent.push((chat_id.clone(), text.clone()));
            let id = inner.sent.len();
            ok(json!({
                "message_id": id,
                "date": 1_700_000_000,
                "chat": {"id": chat_id.parse::<i64>().unwrap_or(0), "type": "private", "first_name": "Owner"},
                "text": text,
            }))
        }
        Answer::RetryAfter(secs) => (
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            Json(json!({
                "ok": false, "error_code": 429,
                "description": format!("Too Many Requests: retry after {secs}"),
                "parameters": {"retry_after": secs}
            })),
        ),
    }
}

fn ok(result: Value) -> (axum::http::StatusCode, Json<Value>) {
    (
        axum::http::StatusCode::OK,
        Json(json!({"ok": true, "result": result})),
    )
}

fn error(code: u16, description: &str) -> (axum::http::StatusCode, Json<Value>) {
    (
        axum::http::StatusCode::from_u16(code).unwrap(),
        Json(json!({"ok": false, "error_code": code, "description": description})),
    )
}

impl Telegram {
    /// Links `chat_id` as the owner's chat the way a person would: `/link` to the bot, then
    /// the code it answers entered in the admin API.
    pub async fn link(&self, hub: &super::Hub, chat_id: i64) -> Value {
        self.say(chat_id, "owner", "/link");
        let reply = self
            .wait_for_message(chat_id, |t| t.contains("link code"))
            .await;
        let code = code_in(&reply);
        let response = hub
            .api(reqwest::Method::POST, "/api/channels/link")
            .json(&json!({ "code": code }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json::<Value>().await.unwrap()["binding"].clone()
    }
}

/// The six-character link code in a bot's answer.
pub fn code_in(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| {
            w.len() == 6
                && w.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        })
        .unwrap_or_else(|| panic!("no code in {text:?}"))
        .to_string()
}
