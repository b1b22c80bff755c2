//! A scripted OpenAI-compatible chat-completions server on port 0: it answers each request
//! with the next scripted reply (canned text, tool calls, or an HTTP error) and records every
//! request it received, so tests can read the exact prompt and tools the hub sent.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    Text(String),
    /// Tool calls: (function name, arguments object).
    Tools(Vec<(String, Value)>),
    /// An HTTP error with an OpenAI-style error body.
    Status(u16),
    /// Text, after holding the request this many seconds.
    Slow(u64, String),
}

pub fn text(t: &str) -> Reply {
    Reply::Text(t.into())
}

pub fn call(name: &str, arguments: Value) -> Reply {
    Reply::Tools(vec![(name.into(), arguments)])
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Reply>,
    /// Answer once the script is used up.
    otherwise: Option<Reply>,
    requests: Vec<(HeaderMap, Value)>,
}

#[derive(Clone)]
pub struct Llm {
    /// What to put in `agent.baseUrl` (ends in `/v1`).
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl Llm {
    pub async fn start(script: Vec<Reply>) -> Llm {
        let inner = Arc::new(Mutex::new(Inner {
            script: script.into(),
            ..Default::default()
        }));
        let app = axum::Router::new()
            .route("/v1/chat/completions", axum::routing::post(complete))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Llm {
            url: format!("http://{addr}/v1"),
            inner,
        }
    }

    /// The reply given whenever the script has run out.
    pub fn otherwise(&self, reply: Reply) {
        self.inner.lock().unwrap().otherwise = Some(reply);
    }

    /// Every request body received, in order.
    pub fn requests(&self) -> Vec<Value> {
        let inner = self.inner.lock().unwrap();
        inner
            .requests
            .iter()
            .map(|(_, body)| body.clone())
            .collect()
    }

    /// The `Authorization` header of each request.
    pub fn authorizations(&self) -> Vec<Option<String>> {
        let inner = self.inner.lock().unwrap();
        inner
            .requests
            .iter()
            .map(|(h, _)| {
                h.get("authorization")
                    .map(|v| v.to_str().unwrap().to_string())
            })
            .collect()
    }
}

async fn complete(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let (n, reply) = {
        let mut inner = inner.lock().unwrap();
        let n = inner.requests.len();
        inner.requests.push((headers, body.clone()));
        let reply = inner
            .script
            .pop_front()
            .or_else(|| inner.otherwise.clone())
            .unwrap_or_else(|| text("done"));
        (n, reply)
    };
    let reply = match reply {
        Reply::Slow(secs, content) => {
            tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
            Reply::Text(content)
        }
        other => other,
    };
    let message = match reply {
        Reply::Status(code) => {
            let error = json!({"error": {"message": format!("scripted {code}"), "type": "test"}});
            return (StatusCode::from_u16(code).unwrap(), Json(error));
        }
        Reply::Text(content) | Reply::Slow(_, content) => {
            json!({"role": "assistant", "content": content})
        }
        Reply::Tools(calls) => {
            let calls: Vec<Value> = calls
                .into_iter()
                .enumerate()
                .map(|(i, (name, arguments))| {
                    json!({"id": format!("call_{n}_{i}"), "type": "function",
                           "function": {"name": name, "arguments": arguments.to_string()}})
                })
                .collect();
            json!({"role": "assistant", "content": null, "tool_calls": calls})
        }
    };
    let finish = if message["tool_calls"].is_array() {
        "tool_calls"
    } else {
        "stop"
    };
    (
        StatusCode::OK,
        Json(json!({
            "id": format!("chatcmpl-{n}"),
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
        })),
    )
}
