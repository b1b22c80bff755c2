//! The README's "Recipes for common senders" (issue 19), read from README.md itself so the
//! documentation cannot drift from what is tested: each recipe's YAML is loaded as written and
//! sent deliveries signed the way its sender signs, computed here by hand. Overten-style
//! `sha256=` over `{timestamp}.{body}`, SuperAnnotate-style `X-Authorization-Content-SHA256`,
//! Overcut-style bearer with `?lockKey=` (one at a time, in order, against a target that holds
//! each request until released), and Hatchet-style CloudEvents in both modes.

use crate::common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use common::{Hub, Target, accepted_ids};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

const SECRET: &str = "whsec_recipe-test-secret";
const JSON: &str = "application/json";

/// The YAML blocks of the README's recipes section, in order.
fn recipes() -> Vec<String> {
    let readme = include_str!("../../README.md");
    let section = readme
        .split("### Recipes for common senders")
        .nth(1)
        .expect("README has a recipes section");
    let section = section.split("\n### ").next().unwrap_or(section);
    section
        .split("```yaml\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap().to_string())
        .collect()
}

/// Starts the hub with every recipe, URLs pointing at `target` and secrets set.
async fn start(target: &str) -> (Hub, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "server: {{ dataDir: \"{}\", shutdownGrace: 0s }}\nadmin: {{ token: test-admin-token }}\n\
         hooks:\n{}",
        dir.path().display(),
        recipes().concat()
    );
    let env = |name: &str| {
        Some(
            if name.ends_with("_URL") {
                target
            } else {
                SECRET
            }
            .to_string(),
        )
    };
    let config = hookhub::load_str(&yaml, "README.md", &env)
        .unwrap_or_else(|e| panic!("a README recipe does not load:\n{e}"));
    let hub = Hub::start_with_options(config, hookhub::RunOptions::default()).await;
    (hub, dir)
}

#[test]
fn the_readme_has_the_four_recipes() {
    let ids: Vec<String> = recipes()
        .iter()
        .map(|r| {
            r.trim_start()
                .trim_start_matches("- id: ")
                .lines()
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids, ["overten", "superannotate", "overcut", "hatchet"]);
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn hmac_hex(data: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

async fn post(
    hub: &Hub,
    path: &str,
    content_type: &str,
    headers: &[(&str, String)],
    body: &str,
) -> reqwest::Response {
    let mut request = hub
        .client
        .post(format!("{}/api/webhooks/{path}", hub.url))
        .header("content-type", content_type)
        .body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.send().await.unwrap()
}

async fn error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["error"]["code"].as_str().unwrap_or("").into())
}

/// Posts a delivery that must be accepted; the execution it made, as the API shows it.
async fn accepted(
    hub: &Hub,
    path: &str,
    content_type: &str,
    headers: &[(&str, String)],
    body: &str,
) -> Value {
    let response = post(hub, path, content_type, headers, body).await;
    let id = accepted_ids(response).await.remove(0);
    hub.get_json(&format!("/api/executions/{id}")).await
}

#[tokio::test]
async fn overten_signs_the_timestamp_and_body() {
    let target = Target::start(&[]).await;
    let (hub, _dir) = start(&target.url).await;
    let signed = |ts: u64, body: &str| {
        vec![
            ("x-overten-timestamp", ts.to_string()),
            (
                "x-overten-signature",
                format!("sha256={}", hmac_hex(&format!("{ts}.{body}"))),
            ),
        ]
    };
    let body = r#"{"event":"run.completed","run_id":"run_01HXYZ","task_id":"task_01HXYZ"}"#;
    let now = now_secs();
    let e = accepted(&hub, "overten", JSON, &signed(now, body), body).await;
    assert_eq!(e["eventType"], "run.completed");
    assert_eq!(e["deliveryId"], "run.completed:run_01HXYZ");
    hub.wait_for_status(e["id"].as_str().unwrap(), "succeeded")
        .await;
    assert_eq!(target.bodies(), [body]);

    // Overten retrying with a fresh timestamp is the same run's event: run once.
    let retry = post(&hub, "overten", JSON, &signed(now - 1, body), body).await;
    assert_eq!(retry.status(), 200);
    let tampered = body.replace("completed", "failed");
    let forged = post(&hub, "overten", JSON, &signed(now, body), &tampered).await;
    assert_eq!(error_code(forged).await, (401, "auth_invalid".into()));
    let stale = post(&hub, "overten", JSON, &signed(now - 600, body), body).await;
    assert_eq!(
        error_code(stale).await,
        (401, "timestamp_out_of_tolerance".into())
    );
    let other = r#"{"event":"run.started","run_id":"run_2"}"#;
    let e = accepted(&hub, "overten", JSON, &signed(now, other), other).await;
    assert_eq!(e["status"], "skipped");
    hub.stop().await;
}

#[tokio::test]
async fn superannotate_signs_the_body_in_x_authorization_content_sha256() {
    let target = Target::start(&[]).await;
    let (hub, _dir) = start(&target.url).await;
    let body = r#"{"before":null,"after":{"status":"Completed"},"project_id":7}"#;
    let headers = vec![
        ("x-event", "item_status_updated".to_string()),
        ("x-delivery", "1704335".to_string()),
        ("x-authorization-content-sha256", hmac_hex(body)),
    ];
    let e = accepted(&hub, "superannotate", JSON, &headers, body).await;
    assert_eq!(e["eventType"], "item_status_updated");
    assert_eq!(e["deliveryId"], "1704335");
    assert_eq!(e["trigger"]["body"]["project_id"], 7);

    let resent = post(&hub, "superannotate", JSON, &headers, body).await;
    assert_eq!(resent.status(), 200);
    let forged = post(&hub, "superannotate", JSON, &headers, "{}").await;
    assert_eq!(error_code(forged).await, (401, "auth_invalid".into()));
    hub.stop().await;
}

/// A forward target that records each request and holds it until released.
struct Gate {
    url: String,
    bodies: Arc<Mutex<Vec<String>>>,
    open: tokio::sync::watch::Sender<bool>,
}

impl Gate {
    async fn start() -> Gate {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let (open, opened) = tokio::sync::watch::channel(false);
        let seen = bodies.clone();
        let app = axum::Router::new().fallback(move |body: Bytes| {
            let (seen, mut opened) = (seen.clone(), opened.clone());
            async move {
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&body).into_owned());
                let _ = opened.wait_for(|open| *open).await;
                "done"
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Gate {
            url: format!("http://{addr}/deploy"),
            bodies,
            open,
        }
    }

    fn bodies(&self) -> Vec<String> {
        self.bodies.lock().unwrap().clone()
    }

    /// Waits until `n` requests have arrived (5 s at most).
    async fn wait_for(&self, n: usize) {
        for _ in 0..100 {
            if self.bodies().len() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected {n} requests, got {:?}", self.bodies());
    }
}

async fn overcut(hub: &Hub, lock_key: &str, body: &str, token: &str) -> reqwest::Response {
    hub.client
        .post(format!(
            "{}/api/webhooks/overcut?lockKey={lock_key}",
            hub.url
        ))
        .bearer_auth(token)
        .header("content-type", JSON)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn overcut_deliveries_with_one_lock_key_run_one_at_a_time_in_order() {
    let gate = Gate::start().await;
    let (hub, _dir) = start(&gate.url).await;
    let first = accepted_ids(overcut(&hub, "deploy-prod", r#"{"n":1}"#, SECRET).await).await;
    gate.wait_for(1).await;
    // The first is running (held by the target); the second with its key must wait for it.
    let second = accepted_ids(overcut(&hub, "deploy-prod", r#"{"n":2}"#, SECRET).await).await;
    // Another key runs beside them: it is the key, not a lack of workers, that holds one back.
    overcut(&hub, "deploy-staging", r#"{"n":3}"#, SECRET).await;
    gate.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let waiting = hub
        .get_json(&format!("/api/executions/{}", second[0]))
        .await;
    assert_eq!(waiting["status"], "queued", "{waiting}");
    assert_eq!(waiting["lockKey"], "deploy-prod");

    gate.open.send(true).unwrap();
    let a = hub.wait_for_status(&first[0], "succeeded").await;
    let b = hub.wait_for_status(&second[0], "succeeded").await;
    let at = |e: &Value, k: &str| hookhub::parse_rfc3339(e[k].as_str().unwrap()).unwrap();
    assert!(at(&b, "startedAt") >= at(&a, "finishedAt"), "{a}\n{b}");
    let order: Vec<Value> = gate
        .bodies()
        .iter()
        .map(|b| serde_json::from_str::<Value>(b).unwrap()["n"].clone())
        .collect();
    assert_eq!(order, [json!(1), json!(3), json!(2)]);

    let bad = overcut(&hub, "not%20a%20key!", "{}", SECRET).await;
    assert_eq!(error_code(bad).await, (400, "lock_key_invalid".into()));
    let wrong = overcut(&hub, "deploy-prod", "{}", "not-the-token").await;
    assert_eq!(wrong.status(), 401);
    hub.stop().await;
}

#[tokio::test]
async fn hatchet_cloudevents_arrive_structured_and_binary() {
    let target = Target::start(&[]).await;
    let (hub, _dir) = start(&target.url).await;
    let key = [("x-api-key", SECRET.to_string())];
    let envelope = json!({"specversion": "1.0", "type": "com.example.order.created",
                          "source": "/orders", "id": "evt-1", "data": {"order": 42}})
    .to_string();
    let structured = "application/cloudevents+json";
    let e = accepted(&hub, "hatchet", structured, &key, &envelope).await;
    assert_eq!(
        (&e["eventType"], &e["deliveryId"], &e["trigger"]["body"]),
        (
            &json!("com.example.order.created"),
            &json!("evt-1"),
            &json!({"order": 42})
        )
    );

    let mut binary = key.to_vec();
    for (name, value) in [
        ("ce-specversion", "1.0"),
        ("ce-type", "com.example.order.created"),
        ("ce-source", "/orders"),
        ("ce-id", "evt-2"),
    ] {
        binary.push((name, value.to_string()));
    }
    let e = accepted(&hub, "hatchet", JSON, &binary, r#"{"order":43}"#).await;
    assert_eq!(
        (&e["eventType"], &e["deliveryId"], &e["trigger"]["body"]),
        (
            &json!("com.example.order.created"),
            &json!("evt-2"),
            &json!({"order": 43})
        )
    );

    let resent = post(
        &hub,
        "hatchet",
        "application/cloudevents+json",
        &key,
        &envelope,
    )
    .await;
    assert_eq!(resent.status(), 200, "the same event id runs once");
    let refund = envelope
        .replace("order.created", "order.refunded")
        .replace("evt-1", "evt-3");
    let e = accepted(
        &hub,
        "hatchet",
        "application/cloudevents+json",
        &key,
        &refund,
    )
    .await;
    assert_eq!(e["status"], "skipped");
    let anonymous = post(
        &hub,
        "hatchet",
        "application/cloudevents+json",
        &[],
        &envelope,
    )
    .await;
    assert_eq!(anonymous.status(), 401);
    hub.stop().await;
}
