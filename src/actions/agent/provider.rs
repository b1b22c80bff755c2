//! A client for OpenAI-compatible `/chat/completions` (OpenAI, Ollama, llama.cpp, vLLM,
//! OpenRouter), with function calling.
//!
//! A 429, a 5xx or a network failure is tried again here, up to three more times after 1 s,
//! 2 s and 4 s (or the server's `Retry-After`, up to 30 s): one model call is safe to repeat,
//! while repeating the whole execution would repeat the tools it already ran. Other 4xx
//! (a wrong key, an unknown model) fail at once. The API key goes only into the
//! `Authorization` header; no error text carries it.
//!
//! An answer is read up to [`ANSWER_CAP`] and no further (SPEC §11): a misconfigured or hostile
//! server could otherwise send gigabytes that the hub would hold in memory before parsing.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::machine::{Message, ToolSpec};
use crate::config::AgentConfig;
use crate::outbound::{parse_retry_after, read_capped};

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
/// The largest chat completion read. Real ones, even with long tool-call arguments, are tens of
/// kilobytes; 4 MiB leaves room for any model while bounding what one call can cost.
const ANSWER_CAP: usize = 4 * 1024 * 1024;
/// How much of an error answer is read: enough to quote [`ERROR_KEEP`] characters of it.
const ERROR_READ: usize = 4 * 1024;

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
    ) -> Result<Reply, CallError> {
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
                Err(Failure::Final(error)) => return Err(CallError::Refused(error)),
                Err(Failure::Transient { error, retry_after }) => {
                    let Some(backoff) = BACKOFF.get(requests as usize - 1) else {
                        return Err(CallError::GaveUp { error, requests });
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
        let (body, more) = read_answer(response, status.is_success(), self.config.timeout).await?;
        let completion = parse_answer(status, retry_after, &body, more)?;
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

/// The body of an answer, read up to [`ANSWER_CAP`] (or [`ERROR_READ`] for an error status,
/// of which only the start is quoted), and whether it went on past that.
async fn read_answer(
    mut response: reqwest::Response,
    success: bool,
    timeout: Duration,
) -> Result<(Vec<u8>, bool), Failure> {
    let cap = if success { ANSWER_CAP } else { ERROR_READ };
    read_capped(&mut response, cap)
        .await
        .map_err(|e| Failure::Transient {
            error: describe(&e, timeout),
            retry_after: None,
        })
}

/// What an answer of `status` with `body` (cut short when `more`) means for the call.
fn parse_answer(
    status: reqwest::StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
    more: bool,
) -> Result<Completion, Failure> {
    if !status.is_success() {
        let error = format!("the model server answered {status}: {}", quote(body));
        return Err(if status.as_u16() == 429 || status.is_server_error() {
            Failure::Transient { error, retry_after }
        } else {
            Failure::Final(error)
        });
    }
    if more {
        // Not retried: asking again would only read another ANSWER_CAP of the same.
        return Err(Failure::Final(format!(
            "the model server's answer is larger than {} MiB, which no chat completion is; it \
             was not read further (check agent.baseUrl): {}",
            ANSWER_CAP / (1024 * 1024),
            quote(body)
        )));
    }
    serde_json::from_slice(body).map_err(|e| {
        Failure::Final(format!(
            "the model server's answer is not a chat completion ({e}): {}",
            quote(body)
        ))
    })
}

/// The start of an answer, for an error message.
fn quote(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .take(ERROR_KEEP)
        .collect()
}

/// Why a completion did not come back; the text goes to the execution log.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// An answer that trying again would not change.
    #[error("{0}")]
    Refused(String),
    /// Still failing after the last retry.
    #[error("{error} (after {requests} tries)")]
    GaveUp { error: String, requests: u32 },
}

/// One request's failure, and whether another request may succeed.
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
