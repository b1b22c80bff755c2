//! What an operator sees: `/metrics` in the Prometheus format, a request id on the answer, the
//! execution and the log lines of a delivery, JSON logs — and, after a run that uses every
//! kind of secret, none of them anywhere in the logs, the data dir or an API answer.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::binary::{Binary, free_port};
use common::llm::{Llm, text};
use common::slack::{self, Slack};
use common::telegram::{self, Telegram};
use common::{Hub, Target, accepted_ids, github_signature};
use reqwest::Method;
use serde_json::Value;

fn yaml(target: &str) -> String {
    format!(
        r#"
server: {{ dataDir: "{{data}}" }}
admin: {{ token: test-admin-token }}
hooks:
  - id: m-hook
    triggerConfig: {{ webhookPath: m-hook, webhookSecret: s3cret }}
    action: webhook
    actionConfig: {{ webhookUrl: "{target}" }}
"#
    )
}

/// The value of the sample `name{labels}` in a Prometheus text page.
fn sample(page: &str, name_and_labels: &str) -> Option<f64> {
    page.lines()
        .find(|l| l.starts_with(name_and_labels))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_count_deliveries_executions_latency_and_queue() {
    let (hub, _target, _dir) = Hub::start_with_target(yaml).await;
    let id = accepted_ids(hub.deliver("m-hook", "s3cret", "{}").await)
        .await
        .remove(0);
    hub.wait_for_status(&id, "succeeded").await;
    assert_eq!(hub.deliver("m-hook", "wrong", "{}").await.status(), 401);

    let unauthenticated = hub
        .client
        .get(format!("{}/metrics", hub.url))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let response = hub.api(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let page = response.text().await.unwrap();
    let at_least_one = |series: &str| {
        assert!(
            sample(&page, series).is_some_and(|v| v >= 1.0),
            "{series} in:\n{page}"
        );
    };
    at_least_one(r#"hookhub_deliveries_total{hook="m-hook",result="accepted"}"#);
    at_least_one(r#"hookhub_deliveries_total{hook="m-hook",result="auth_invalid"}"#);
    at_least_one(r#"hookhub_executions_total{hook="m-hook",status="succeeded"}"#);
    at_least_one(r#"hookhub_action_duration_seconds_count{action="webhook"}"#);
    assert!(
        page.contains(r#"hookhub_action_duration_seconds_bucket{action="webhook",le="0.005"}"#)
    );
    // The accepted delivery waited for at least one journal sync.
    at_least_one("hookhub_journal_sync_seconds_count");
    assert!(page.contains(r#"hookhub_journal_sync_seconds_bucket{le="0.005"}"#));
    assert_eq!(
        sample(&page, r#"hookhub_queue_depth{hook="m-hook"}"#),
        Some(0.0)
    );
    assert!(page.contains("# TYPE hookhub_deliveries_total counter"));
    hub.stop().await;
}

#[tokio::test]
async fn a_delivery_carries_its_request_id_into_the_answer_and_the_execution() {
    let (hub, _target, _dir) = Hub::start_with_target(yaml).await;
    let response = hub.deliver("m-hook", "s3cret", "{}").await;
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(request_id.len(), 26, "a ULID: {request_id}");
    let id = accepted_ids(response).await.remove(0);
    let e = hub.wait_for_status(&id, "succeeded").await;
    assert_eq!(e["requestId"], request_id.as_str());
    // The stored headers are what the sender sent: no id the hub made up.
    assert_eq!(e["trigger"]["headers"].get("x-request-id"), None, "{e}");

    // A request id from the proxy in front is kept.
    let response = hub
        .client
        .post(format!("{}/api/webhooks/m-hook", hub.url))
        .header("x-request-id", "cf-ray-1234")
        .header("x-hub-signature-256", github_signature("s3cret", b"{}"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "cf-ray-1234");
    let id = accepted_ids(response).await.remove(0);
    let e = hub.wait_for_status(&id, "succeeded").await;
    assert_eq!(e["requestId"], "cf-ray-1234");
    assert_eq!(e["trigger"]["headers"]["x-request-id"], "cf-ray-1234");
    hub.stop().await;
}

/// A text log's lines of a request begin with it, as `request{id=… method=… path=…}:`, in
/// each `RUST_LOG` set-up: levels only (the request is carried without a span) and a span
/// directive (it is a span).
#[tokio::test]
async fn a_text_log_line_written_while_a_request_is_handled_names_the_request() {
    for (rust_log, debug) in [("hookhub=debug", true), ("info,[request]=info", false)] {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("hooks.yaml");
        std::fs::write(
            &config,
            format!(
                "server: {{ dataDir: \"{}\" }}\nhooks:\n  - id: gh\n    triggerConfig: {{ webhookPath: gh, webhookSecret: s3cret }}\n    action: webhook\n    actionConfig: {{ webhookUrl: \"http://127.0.0.1:9/x\" }}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let port = free_port();
        let hub =
            Binary::start_with_env(&config, port, dir.path(), &[("RUST_LOG", rust_log)]).await;
        let client = reqwest::Client::new();
        let refused = client
            .post(format!("{}/api/webhooks/gh", hub.url))
            .header("x-request-id", "cf-ray-\"7\"")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401);
        let missing = client
            .get(format!("{}/api/webhooks/nowhere?x=1", hub.url))
            .send()
            .await
            .unwrap();
        let missing_id = missing.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_string();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let log = hub.log_text();
        let expected = [
            r#" INFO request{id="cf-ray-\"7\"" method=POST path="/api/webhooks/gh"}: hookhub::ingress::record: delivery refused status=401"#.to_string(),
            format!(r#"DEBUG request{{id="{missing_id}" method=GET path="/api/webhooks/nowhere"}}: hookhub::serve::traced: request answered status="#),
        ];
        for line in &expected[..if debug { 2 } else { 1 }] {
            assert!(
                log.lines().any(|l| l
                    .get(27..)
                    .is_some_and(|rest| rest.starts_with(&format!(" {line}")))),
                "RUST_LOG={rust_log}: no line like\n{line}\nin\n{log}"
            );
        }
        let mut hub = hub;
        hub.kill();
    }
}

const SECRETS: [&str; 7] = [
    "admin-token-never-shown-8e1f",
    "webhook-secret-never-shown-5c2a",
    "whsec_Zm9yd2FyZC1rZXktbmV2ZXItc2hvd24=",
    telegram::TOKEN,
    slack::BOT_TOKEN,
    slack::SIGNING_SECRET,
    "sk-agent-key-never-shown-77d0",
];

fn every_file(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            every_file(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_in_logs_data_or_api_answers_after_a_full_run() {
    let (tg, sl, llm) = (
        Telegram::start().await,
        Slack::start().await,
        Llm::start(vec![text("fine")]).await,
    );
    let ok_target = Target::start(&[]).await;
    let failing_target = Target::start(&[400, 400, 400]).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("hooks.yaml");
    let [admin, hook_secret, signing, ..] = SECRETS;
    std::fs::write(
        &config,
        format!(
            r#"
server: {{ dataDir: "{data}" }}
admin: {{ token: {admin} }}
channels:
  telegram: {{ botToken: "{tg_token}", apiUrl: "{tg}" }}
  slack: {{ botToken: {sl_token}, signingSecret: {sl_secret}, apiUrl: "{sl}" }}
agent: {{ baseUrl: "{llm}", model: m, apiKey: {agent_key} }}
hooks:
  - id: fwd
    triggerConfig: {{ webhookPath: fwd, webhookSecret: {hook_secret} }}
    action: webhook
    actionConfig: {{ webhookUrl: "{ok}", sign: standard, signingSecret: "{signing}" }}
  - id: refused
    triggerConfig: {{ webhookPath: refused, webhookSecret: {hook_secret} }}
    action: webhook
    actionConfig: {{ webhookUrl: "{failing}" }}
  - id: tell
    triggerConfig: {{ webhookPath: tell, webhookSecret: {hook_secret} }}
    action: notify
    actionConfig: {{ notifyMessage: "got {{{{webhook.body.n}}}}" }}
  - id: ask
    triggerConfig: {{ webhookPath: ask, webhookSecret: {hook_secret} }}
    action: spawn_agent
    actionConfig: {{ agentPrompt: "Summarise.", notifyOwner: true }}
"#,
            data = data.display(),
            tg_token = telegram::TOKEN,
            tg = tg.url,
            sl_token = slack::BOT_TOKEN,
            sl_secret = slack::SIGNING_SECRET,
            sl = sl.url,
            llm = llm.url,
            agent_key = SECRETS[6],
            ok = ok_target.url,
            failing = failing_target.url,
        ),
    )
    .unwrap();
    let hub = Binary::start(&config, free_port(), dir.path()).await;
    let client = reqwest::Client::new();
    let mut answers: Vec<String> = Vec::new();
    let api = |method: Method, path: &str| {
        client
            .request(method, format!("{}{path}", hub.url))
            .bearer_auth(admin)
    };

    // Link the owner's Telegram chat through the API.
    tg.say(42, "owner", "/link");
    let reply = tg.wait_for_message(42, |t| t.contains("link code")).await;
    let code = telegram::code_in(&reply);
    let linked = api(Method::POST, "/api/channels/link")
        .json(&serde_json::json!({ "code": code }))
        .send()
        .await
        .unwrap();
    assert_eq!(linked.status(), 201);
    answers.push(linked.text().await.unwrap());

    let mut ids = Vec::new();
    for path in ["fwd", "refused", "tell", "ask"] {
        let body = r#"{"n":7}"#;
        let response = client
            .post(format!("{}/api/webhooks/{path}", hub.url))
            .header(
                "x-hub-signature-256",
                github_signature(hook_secret, body.as_bytes()),
            )
            .header("authorization", format!("Bearer {admin}"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "{path}");
        let answer = response.text().await.unwrap();
        let parsed: Value = serde_json::from_str(&answer).unwrap();
        ids.push(
            parsed["executions"][0]["executionId"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        answers.push(answer);
    }
    // A refused delivery, so the rejection ring has something (with its headers) to show.
    let wrong = client
        .post(format!("{}/api/webhooks/fwd", hub.url))
        .header("x-hub-signature-256", "sha256=00")
        .header("authorization", format!("Bearer {admin}"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    answers.push(wrong.text().await.unwrap());

    for id in &ids {
        for _ in 0..200 {
            let e = api(Method::GET, &format!("/api/executions/{id}"))
                .send()
                .await
                .unwrap();
            let text = e.text().await.unwrap();
            let status = serde_json::from_str::<Value>(&text).unwrap()["status"].clone();
            if status == "succeeded" || status == "failed" {
                answers.push(text);
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    for path in [
        "/api/hooks",
        "/api/hooks/fwd",
        "/api/hooks/fwd/executions",
        "/api/hooks/fwd/rejections",
        "/api/channels",
        "/api/config/status",
        "/metrics",
        "/healthz",
    ] {
        let response = api(Method::GET, path).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        answers.push(response.text().await.unwrap());
    }
    let mut hub = hub;
    hub.terminate();
    hub.wait_exit(Duration::from_secs(15)).await;

    // The same data dir again, with JSON logs (opt-in), which must stay as clean.
    let port = free_port();
    let log = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("hub.log"))
        .unwrap();
    let mut json_hub = std::process::Command::new(env!("CARGO_BIN_EXE_hookhub"))
        .args(["serve", "--log-format", "json", "--config"])
        .arg(&config)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stderr(log)
        .spawn()
        .unwrap();
    let client2 = reqwest::Client::new();
    for _ in 0..200 {
        if client2
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let body = r#"{"n":8}"#;
    let response = client2
        .post(format!("http://127.0.0.1:{port}/api/webhooks/refused"))
        .header(
            "x-hub-signature-256",
            github_signature(hook_secret, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    tokio::time::sleep(Duration::from_millis(500)).await;
    json_hub.kill().unwrap();
    json_hub.wait().unwrap();

    let log = std::fs::read_to_string(dir.path().join("hub.log")).unwrap();
    let json_lines: Vec<Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(!json_lines.is_empty(), "no JSON log lines:\n{log}");
    // The failed forward's log line names the delivery's request id.
    assert!(
        json_lines
            .iter()
            .any(|l| l.to_string().contains(&request_id)
                && l["fields"]["message"] == "execution failed"),
        "no log line of the delivery carries {request_id}:\n{log}"
    );

    let mut files = Vec::new();
    every_file(&data, &mut files);
    let mut places: Vec<(String, Vec<u8>)> = files
        .into_iter()
        .map(|f| (f.display().to_string(), std::fs::read(&f).unwrap()))
        .collect();
    places.push(("log".into(), log.into_bytes()));
    places.extend(
        answers
            .into_iter()
            .enumerate()
            .map(|(i, a)| (format!("answer {i}"), a.into_bytes())),
    );
    for secret in SECRETS {
        for (place, bytes) in &places {
            let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "secret {secret:?} found in {place}");
        }
    }
    // The run did what it should, so the scan saw real traffic.
    assert_eq!(ok_target.count(), 1);
    tg.wait_for_message(42, |t| t == "got 7").await;
    tg.wait_for_message(42, |t| t == "fine").await;
}
