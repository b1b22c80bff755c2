//! What a 202 promises, shown against the real binary: killed with SIGKILL in the middle of a
//! burst, restarted, every accepted delivery still runs to the end; stopped with SIGTERM, it
//! refuses new connections, lets the running action finish and leaves the rest queued.

use crate::common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use common::binary::{Binary, free_port};
use common::github_signature;
use serde_json::Value;

const TOKEN: &str = "test-admin-token";

/// A forward target that takes a few milliseconds per request and counts each `webhook-id`.
async fn counting_target() -> (String, Arc<Mutex<HashMap<String, usize>>>) {
    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let counts = seen.clone();
    let app = axum::Router::new().fallback(move |headers: HeaderMap| {
        let counts = counts.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let id = headers["webhook-id"].to_str().unwrap().to_string();
            *counts.lock().unwrap().entry(id).or_default() += 1;
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

async fn deliver(client: &reqwest::Client, url: &str, path: &str, body: &str) -> Option<String> {
    let response = client
        .post(format!("{url}/api/webhooks/{path}"))
        .header("content-type", "application/json")
        .header(
            "x-hub-signature-256",
            github_signature("s3cret", body.as_bytes()),
        )
        .body(body.to_string())
        .send()
        .await
        .ok()?;
    if response.status() != 202 {
        return None;
    }
    let body: Value = response.json().await.ok()?;
    Some(body["executions"][0]["executionId"].as_str()?.to_string())
}

/// An admin API answer, as JSON.
async fn admin_get(client: &reqwest::Client, url: &str, path: &str) -> Value {
    client
        .get(format!("{url}{path}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn execution(client: &reqwest::Client, url: &str, id: &str) -> Value {
    admin_get(client, url, &format!("/api/executions/{id}")).await
}

/// The ids the `log` hook's executions list, newest first.
async fn listed(client: &reqwest::Client, url: &str) -> Vec<String> {
    let page = admin_get(client, url, "/api/hooks/log/executions?limit=1000").await;
    page["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

/// The execution once it has succeeded, or as it stands after 10 s.
async fn succeeded(client: &reqwest::Client, url: &str, id: &str) -> Value {
    let mut e = execution(client, url, id).await;
    for _ in 0..400 {
        if e["status"] == "succeeded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        e = execution(client, url, id).await;
    }
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_accepted_delivery_survives_a_sigkill() {
    let (target, seen) = counting_target().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hooks.yaml");
    std::fs::write(
        &config,
        format!(
            r#"
server: {{ dataDir: "{data}", rateLimit: {{ perSecond: 0 }} }}
admin: {{ token: {TOKEN} }}
hooks:
  - id: fwd
    triggerConfig: {{ webhookPath: fwd, webhookSecret: s3cret }}
    action: webhook
    actionConfig: {{ webhookUrl: "{target}", sign: standard, signingSecret: whsec_c2VjcmV0LWtleS1mb3ItdGVzdHM=, concurrency: 20 }}
"#,
            data = dir.path().join("data").display()
        ),
    )
    .unwrap();
    let port = free_port();
    let mut hub = Binary::start(&config, port, dir.path()).await;
    let client = reqwest::Client::new();

    // Senders keep going until the kill; each remembers what was acknowledged with 202. One
    // body in four is 20 KB (journaled, then filed by the applier) and one in four 50 KB
    // (staged: written beside the journal at ingest), among the small.
    let accepted: Arc<Mutex<Vec<(String, usize)>>> = Arc::default();
    let senders: Vec<_> = (0..16)
        .map(|s| {
            let (client, url, accepted) = (client.clone(), hub.url.clone(), accepted.clone());
            tokio::spawn(async move {
                for n in 0.. {
                    let pad = match n % 4 {
                        0 => 20_000,
                        2 => 50_000,
                        _ => 0,
                    };
                    let body = format!(r#"{{"sender":{s},"n":{n},"pad":"{}"}}"#, "x".repeat(pad));
                    match deliver(&client, &url, "fwd", &body).await {
                        Some(id) => accepted.lock().unwrap().push((id, pad)),
                        // 503 while the queue is full, or the hub is gone: keep trying.
                        None => tokio::time::sleep(Duration::from_millis(5)).await,
                    }
                }
            })
        })
        .collect();
    while accepted.lock().unwrap().len() < 300 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    hub.kill();
    tokio::time::sleep(Duration::from_millis(100)).await;
    senders.iter().for_each(|s| s.abort());
    let accepted = accepted.lock().unwrap().clone();

    let hub = Binary::start(&config, port, dir.path()).await;
    for (id, pad) in &accepted {
        let e = succeeded(&client, &hub.url, id).await;
        assert_eq!(e["status"], "succeeded", "accepted {id} never ran: {e:#}");
        let stored = e["trigger"]["body"]["pad"].as_str().map(str::len);
        assert_eq!(stored, Some(*pad), "{id}: payload not as sent");
    }
    let seen = seen.lock().unwrap().clone();
    let missing: Vec<&String> = accepted
        .iter()
        .map(|(id, _)| id)
        .filter(|id| !seen.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "accepted but never delivered: {missing:?}"
    );
    // A forward in flight at the kill may arrive twice — always with the same webhook-id, so a
    // receiver can drop the repeat. No more than the hook's concurrency can be in flight.
    let repeated = seen.values().filter(|&&n| n > 1).count();
    assert!(
        repeated <= 20,
        "{repeated} deliveries arrived more than once"
    );
    assert!(seen.values().all(|&n| n <= 2), "{seen:?}");
    eprintln!("accepted {}, delivered twice {repeated}", accepted.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_running_action_and_keeps_the_rest_queued() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hooks.yaml");
    std::fs::write(
        &config,
        format!(
            r#"
server: {{ dataDir: "{data}" }}
admin: {{ token: {TOKEN} }}
tools:
  slow: {{ command: ["/bin/sleep", "1"], timeout: 10s }}
hooks:
  - id: slow
    triggerConfig: {{ webhookPath: slow, webhookSecret: s3cret }}
    action: execute_tool
    actionConfig: {{ toolId: slow, concurrency: 1 }}
"#,
            data = dir.path().join("data").display()
        ),
    )
    .unwrap();
    let port = free_port();
    let mut hub = Binary::start(&config, port, dir.path()).await;
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(
            deliver(&client, &hub.url, "slow", &format!("{{\"n\":{n}}}"))
                .await
                .unwrap(),
        );
    }
    for _ in 0..100 {
        if execution(&client, &hub.url, &ids[0]).await["status"] == "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    hub.terminate();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // No longer accepting, while the running tool finishes.
    let refused = reqwest::Client::new()
        .get(format!("{}/healthz", hub.url))
        .send()
        .await;
    assert!(refused.is_err(), "still accepting after SIGTERM");
    assert_eq!(hub.wait_exit(Duration::from_secs(10)).await, Some(0));
    assert!(hub.log_text().contains("shutting down"));
    // Everything is in sled, durably: the journal is gone, so the next start replays nothing.
    let journals: Vec<_> = std::fs::read_dir(dir.path().join("data"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".wal"))
        .collect();
    assert!(journals.is_empty(), "left to replay: {journals:?}");

    let hub = Binary::start(&config, port, dir.path()).await;
    assert!(!hub.log_text().contains("replayed the journal"));
    let first = execution(&client, &hub.url, &ids[0]).await;
    assert_eq!(first["status"], "succeeded", "{first:#}");
    // The other two had not started: they run now, once each, instead of failing as
    // interrupted.
    for id in &ids[1..] {
        let e = succeeded(&client, &hub.url, id).await;
        assert_eq!(e["status"], "succeeded", "{e:#}");
        assert_eq!(e["attempts"].as_array().unwrap().len(), 1);
    }
}

/// The log's saves after the first hold only what changed (`log.table.<number>` beside
/// `log.table`). Across enough journal files for several saves, with retention pruning the
/// oldest, a SIGKILL and a restart read the whole save, its deltas and the journal back: the
/// log lists what it listed before the kill, each execution with its payload; a clean stop
/// and another start do too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_survives_a_sigkill_after_saves_of_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("hooks.yaml");
    std::fs::write(
        &config,
        format!(
            r#"
server: {{ dataDir: "{data}", rateLimit: {{ perSecond: 0 }}, retention: {{ maxPerHook: 150 }} }}
admin: {{ token: {TOKEN} }}
hooks:
  - id: log
    triggerConfig: {{ webhookPath: log, webhookSecret: s3cret, events: [never-sent] }}
    action: webhook
    actionConfig: {{ webhookUrl: "http://127.0.0.1:9/x" }}
"#,
            data = data.display()
        ),
    )
    .unwrap();
    let port = free_port();
    let mut hub = Binary::start(&config, port, dir.path()).await;
    let client = reqwest::Client::new();
    // 24 KB bodies, under the size staged beside the journal: ~170 fill a 4 MiB journal
    // file, so 520 make three checkpoints, each saving the table.
    let mut sent = 0;
    let deltas = || {
        std::fs::read_dir(&data)
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().starts_with("log.table.0")
            })
            .count()
    };
    while sent < 520 || deltas() == 0 {
        assert!(sent < 2_000, "no delta saved after {sent} deliveries");
        let sends: Vec<_> = (0..8)
            .map(|s| {
                let body = format!(r#"{{"n":{},"pad":"{}"}}"#, sent + s, "x".repeat(24_000));
                let (client, url) = (client.clone(), hub.url.clone());
                tokio::spawn(async move { deliver(&client, &url, "log", &body).await })
            })
            .collect();
        for send in sends {
            assert!(send.await.unwrap().is_some(), "a delivery was refused");
        }
        sent += 8;
    }
    // Retention prunes once the hook has gained its margin (100) past its limit; the log is
    // read once it holds still, then the hub is killed.
    let mut before = listed(&client, &hub.url).await;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = listed(&client, &hub.url).await;
        if now == before {
            break;
        }
        before = now;
    }
    assert!(
        (150..=250).contains(&before.len()),
        "{} listed",
        before.len()
    );
    hub.kill();

    // A start prunes each hook back to its limit, in the background: the newest 150 are left.
    before.truncate(150);
    let mut hub = Binary::start(&config, port, dir.path()).await;
    let mut after = listed(&client, &hub.url).await;
    for _ in 0..200 {
        if after.len() <= 150 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        after = listed(&client, &hub.url).await;
    }
    assert_eq!(after, before, "the log after the kill");
    for id in &before {
        let e = execution(&client, &hub.url, id).await;
        assert_eq!(e["status"], "skipped", "{e:#}");
        assert_eq!(
            e["trigger"]["body"]["pad"].as_str().map(str::len),
            Some(24_000)
        );
    }
    hub.terminate();
    assert_eq!(hub.wait_exit(Duration::from_secs(10)).await, Some(0));
    let hub = Binary::start(&config, port, dir.path()).await;
    assert_eq!(
        listed(&client, &hub.url).await,
        before,
        "the log after a clean stop"
    );
}
