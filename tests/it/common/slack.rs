//! A local double of the Slack Web API (`auth.test`, `chat.postMessage`) on port 0, answering
//! as slack.com/api does, so the hub's real slack-morphism client talks to it; and a signer for
//! slash commands as Slack sends them.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

pub const BOT_TOKEN: &str = "xoxb-slack-test-token";
pub const SIGNING_SECRET: &str = "slack-signing-secret";

#[derive(Default)]
struct Inner {
    posted: Vec<(String, String)>,
    /// `None` answers ok; `Some(code)` answers `{"ok": false, "error": code}`.
    script: VecDeque<Option<&'static str>>,
    authorizations: Vec<String>,
}

#[derive(Clone)]
pub struct Slack {
    /// What to put in `channels.slack.apiUrl`.
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl Slack {
    pub async fn start() -> Slack {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = axum::Router::new()
            .route("/api/{method}", axum::routing::any(handle))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Slack {
            url: format!("http://{addr}/api"),
            inner,
        }
    }

    /// Answers for the next `chat.postMessage` calls: `None` for ok, `Some(error)` to refuse.
    pub fn script(&self, answers: &[Option<&'static str>]) {
        self.inner
            .lock()
            .unwrap()
            .script
            .extend(answers.iter().copied());
    }

    /// Every `(channel, text)` posted successfully.
    pub fn posted(&self) -> Vec<(String, String)> {
        self.inner.lock().unwrap().posted.clone()
    }

    /// How many `chat.postMessage` calls arrived, refused or not.
    pub fn calls(&self) -> usize {
        self.inner.lock().unwrap().authorizations.len()
    }

    pub async fn wait_for_post(&self, channel: &str) -> String {
        for _ in 0..100 {
            if let Some((_, text)) = self.posted().into_iter().find(|(c, _)| c == channel) {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("nothing posted to {channel}; posted: {:#?}", self.posted());
    }
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Json<Value> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if auth != format!("Bearer {BOT_TOKEN}") {
        return Json(json!({"ok": false, "error": "invalid_auth"}));
    }
    match method.as_str() {
        "auth.test" => Json(json!({
            "ok": true, "url": "https://test-team.slack.com/", "team": "Test Team",
            "user": "hookhub", "team_id": "T0001", "user_id": "U0001", "bot_id": "B0001"
        })),
        "chat.postMessage" => {
            let request: Value = serde_json::from_slice(&body).unwrap_or_default();
            let channel = request["channel"].as_str().unwrap_or_default().to_string();
            let text = request["text"].as_str().unwrap_or_default().to_string();
            let mut inner = inner.lock().unwrap();
            inner.authorizations.push(auth);
            match inner.script.pop_front().flatten() {
                Some(error) => Json(json!({"ok": false, "error": error})),
                None => {
                    inner.posted.push((channel.clone(), text.clone()));
                    let ts = format!("1700000000.{:06}", inner.posted.len());
                    Json(json!({
                        "ok": true, "channel": channel, "ts": ts,
                        "message": {"type": "message", "text": text, "ts": ts, "bot_id": "B0001"}
                    }))
                }
            }
        }
        other => Json(json!({"ok": false, "error": format!("unknown_method {other}")})),
    }
}

/// The form body and headers of a slash command, signed with `secret` at `unix_secs`.
pub fn command(
    secret: &str,
    unix_secs: u64,
    command: &str,
    text: &str,
    channel_id: &str,
) -> (String, Vec<(&'static str, String)>) {
    let body = serde_urlencoded::to_string([
        ("token", "deprecated"),
        ("team_id", "T0001"),
        ("channel_id", channel_id),
        ("channel_name", "alerts"),
        ("user_id", "U0002"),
        ("user_name", "owner"),
        ("command", command),
        ("text", text),
    ])
    .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{unix_secs}:{body}").as_bytes());
    let signature = format!("v0={}", hex::encode(mac.finalize().into_bytes()));
    let headers = vec![
        ("x-slack-request-timestamp", unix_secs.to_string()),
        ("x-slack-signature", signature),
        (
            "content-type",
            "application/x-www-form-urlencoded".to_string(),
        ),
    ];
    (body, headers)
}
