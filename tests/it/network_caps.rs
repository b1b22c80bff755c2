//! Issue 18, point 8 (SPEC §11, bounded work per delivery), as the attacker did it: a server
//! answering with a body that never ends, reached through the agent's `http_get` and standing in
//! for the model server. The hub reads up to its cap, says so, and hangs up; before the fix it
//! read until memory or the timeout ran out (a 1.5 GB answer took it from 214 MB to 4.6 GB).
//! The assertions are about behaviour, not memory: the run ends, the result says it was cut, and
//! the server saw the hub hang up after a bounded number of bytes.

use crate::common;

use common::endless::Endless;
use common::llm::{Llm, call, text};
use common::{Hub, accepted_ids};
use serde_json::{Value, json};

/// Far more than any cap plus what the two sockets' buffers hold, far less than the backstop.
const READ_BOUND: u64 = 64 * 1024 * 1024;

fn config(base_url: &str) -> String {
    format!(
        r#"
server: {{ dataDir: "{{data}}" }}
admin: {{ token: test-admin-token }}
agent:
  baseUrl: "{base_url}"
  model: m
  timeout: 60s
  httpAllowlist: [127.0.0.1]
  roles:
    web: {{ systemPrompt: You look things up., tools: [http_get] }}
hooks:
  - id: web
    triggerConfig: {{ webhookPath: web, webhookSecret: s3cret }}
    action: spawn_agent
    actionConfig: {{ agentPrompt: Look it up., orchestrated: true, agentTopic: web }}
  - id: ask
    triggerConfig: {{ webhookPath: ask, webhookSecret: s3cret }}
    action: spawn_agent
    actionConfig: {{ agentPrompt: Summarise. }}
"#
    )
}

async fn run(hub: &Hub, path: &str, status: &str) -> Value {
    let ids = accepted_ids(hub.deliver(path, "s3cret", "{}").await).await;
    hub.wait_for_status(&ids[0], status).await
}

/// The hub hung up on every answer after a bounded number of bytes.
async fn stopped_reading(endless: &Endless) {
    assert!(endless.all_hung_up().await, "the hub kept the answer open");
    let sent = endless.sent();
    assert!(sent < READ_BOUND, "{sent} bytes were sent");
}

#[tokio::test]
async fn issue18_8_http_get_reads_only_the_head_of_an_endless_answer() {
    let endless = Endless::start("start-of-body ").await;
    let url = format!("{}/huge", endless.url);
    let llm = Llm::start(vec![
        call("http_get", json!({ "url": url })),
        text("read it"),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::start(&config(&llm.url), dir.path(), None).await;

    let e = run(&hub, "web", "succeeded").await;
    assert_eq!(e["output"], "read it");
    let requests = llm.requests();
    let last = requests[1]["messages"].as_array().unwrap().last().unwrap();
    let answer = last["content"].as_str().unwrap();
    assert!(
        answer.starts_with("HTTP 200\nstart-of-body xxxx"),
        "{}",
        &answer[..40]
    );
    assert!(
        answer.ends_with("bytes, which are all that was read]"),
        "{}",
        &answer[answer.len() - 120..]
    );
    assert!(answer.len() < 17 * 1024, "{}", answer.len());
    stopped_reading(&endless).await;
    hub.stop().await;
}

#[tokio::test]
async fn issue18_8_a_model_answer_past_its_cap_is_refused_without_reading_on() {
    let start = r#"{"choices":[{"message":{"role":"assistant","content":""#;
    let endless = Endless::start(start).await;
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::start(&config(&format!("{}/v1", endless.url)), dir.path(), None).await;

    let e = run(&hub, "ask", "failed").await;
    let error = e["error"].as_str().unwrap();
    assert!(
        error.contains("the model server's answer is larger than 4 MiB"),
        "{}",
        &error[..error.len().min(300)]
    );
    assert_eq!(
        endless.requests(),
        1,
        "a too-large answer is not asked for again"
    );
    stopped_reading(&endless).await;
    hub.stop().await;
}
