//! A client for OpenAI-compatible `/chat/completions` (OpenAI, Ollama, llama.cpp, vLLM,
//! OpenRouter), with function calling.
//!
//! A 429, a 5xx or a network failure is tried again here, up to three more times after 1 s,
//! 2 s and 4 s (or the server's `Retry-After`, up to 30 s): one model call is safe to repeat,
//! while repeating the whole execution would repeat the tools it already ran. Other 4xx
//! (a wrong key, an unknown model) fail at once. The API key goes only into the
//! `Authorization` header; no error text carries it.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::machine::{Message, ToolSpec};
use crate::config::AgentConfig;
use crate::queue::retry::parse_retry_after;

/// Waits before the retries of one call.
const BACKOFF: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];
/// The longest `Retry-After` obeyed within one call.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// How much of an error answer is quoted.
const ERROR_KEEP: usize = 300;

/// The model's answer to one call.
#[derive(Debug, Clone)]
pub struct Reply {
    pub message: Message,
    pub usage: Usage,
    /// How many HTTP requests the call took (retries included).
    pub requests: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    #[serde(default, alias = "prompt_tokens")]
    pub prompt_tokens: u64,
    #[serde(default, alias = "completion_tokens")]
    pub completion_tokens: u64,
    #[serde(default, alias = "total_tokens")]
    pub total_tokens: u64,
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
}

/// Calls the configured server.
pub struct Provider<'a> {
    pub http: &'a reqwest::Client,
    pub config: &'a AgentConfig,
}

impl Provider<'_> {
    /// One completion of `messages` by `model`, offering `tools` when there are any.
    pub async fn complete(
        &self,
        model: &str,
        messages: &[Message],
        tools: &[ToolSpec],
    ) -> Result<Reply, String> {
        let mut body = json!({ "model": model, "messages": messages });
        if !tools.is_empty() {
            let tools: Vec<Value> = tools
                .iter()
                .map(|t| {
                    json!({"type": "function", "function": {
                        "name": t.name, "description": t.description, "parameters": t.parameters,
                    }})
                })
                .collect();
            body["tools"] = Value::Array(tools);
            body["tool_choice"] = json!("auto");
        }
        let url = format!(
            "{}/chat/completions",
            self.config.base_url.trim_end_matches('/')
        );
        let mut requests = 0;
        loop {
            requests += 1;
            let wait = match self.post(&url, &body).await {
                Ok(mut reply) => {
                    reply.requests = requests;
                    return Ok(reply);
                }
                Err(Failure::Final(error)) => return Err(error),
                Err(Failure::Transient { error, retry_after }) => {
                    let Some(backoff) = BACKOFF.get(requests as usize - 1) else {
                        return Err(format!("{error} (after {requests} tries)"));
                    };
                    retry_after.map_or(*backoff, |r| r.min(MAX_RETRY_AFTER).max(*backoff))
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    async fn post(&self, url: &str, body: &Value) -> Result<Reply, Failure> {
        let mut request = self.http.post(url).json(body).timeout(self.config.timeout);
        if !self.config.api_key.is_empty() {
            request = request.bearer_auth(&self.config.api_key);
        }
        let response = request.send().await.map_err(|e| Failure::Transient {
            error: describe(&e, self.config.timeout),
            retry_after: None,
        })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                parse_retry_after(v, crate::clock::system_ms(std::time::SystemTime::now()))
            });
        let text = response.text().await.map_err(|e| Failure::Transient {
            error: describe(&e, self.config.timeout),
            retry_after: None,
        })?;
        if !status.is_success() {
            let error = format!(
                "the model server answered {status}: {}",
                text.chars().take(ERROR_KEEP).collect::<String>()
            );
            return Err(if status.as_u16() == 429 || status.is_server_error() {
                Failure::Transient { error, retry_after }
            } else {
                Failure::Final(error)
            });
        }
        let completion: Completion = serde_json::from_str(&text).map_err(|e| {
            Failure::Final(format!(
                "the model server's answer is not a chat completion ({e}): {}",
                text.chars().take(ERROR_KEEP).collect::<String>()
            ))
        })?;
        let choice = completion
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| Failure::Final("the model server answered no choices".into()))?;
        Ok(Reply {
            message: choice.message,
            usage: completion.usage.unwrap_or_default(),
            requests: 1,
        })
    }
}

enum Failure {
    Transient {
        error: String,
        retry_after: Option<Duration>,
    },
    Final(String),
}

fn describe(error: &reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        return format!(
            "the model server did not answer within {}",
            humantime::format_duration(timeout)
        );
    }
    let mut root = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        root = cause.to_string();
        source = cause.source();
    }
    format!("could not reach the model server: {root}")
}
