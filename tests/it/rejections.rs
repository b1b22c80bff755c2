//! Issue 19, "the owner sees why" (SPEC §11 "Every refusal is visible"): a delivery refused at
//! any step — by the handler, the webhook route's timeout or the request guard — is kept, its
//! headers redacted, in one ring that `GET /api/rejections` pages across all paths; and every
//! delivery, accepted or refused, is one `info` line of the real binary's log.

use crate::common;

use std::time::Duration;

use common::binary::{Binary, free_port};
use common::{Hub, github_signature};
use hookhub::ManualClock;
use reqwest::Method;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "gh-secret-rejections-51c0";
const KEY: &str = "deploy-key-rejections-9e2d";
const WRONG_KEY: &str = "deploy-key-wrong-rejections-04aa";

const YAML: &str = r#"
server:
  dataDir: "{data}"
  maxBodyBytes: 1024
  rateLimit: { perSecond: 1, burst: 12 }
admin: { token: test-admin-token }
hooks:
  - id: github
    triggerConfig: { webhookPath: github, webhookSecret: gh-secret-rejections-51c0 }
    action: webhook
    actionConfig: { webhookUrl: "http://127.0.0.1:9/unused" }
  - id: keyed
    triggerConfig: { webhookPath: keyed, scheme: header, header: X-Deploy-Key, webhookSecret: deploy-key-rejections-9e2d }
    action: webhook
    actionConfig: { webhookUrl: "http://127.0.0.1:9/unused" }
  - id: office
    triggerConfig: { webhookPath: office, webhookSecret: gh-secret-rejections-51c0, ipAllowlist: [10.9.0.0/16] }
    action: webhook
    actionConfig: { webhookUrl: "http://127.0.0.1:9/unused" }
"#;

/// The hub on a frozen clock (so the rate limit refills only when told) with a short body
/// idle timeout.
async fn start(dir: &std::path::Path) -> Hub {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let text = YAML.replace("{data}", &dir.display().to_string());
    let config = hookhub::load_str(&text, "test.yaml", &|_| None).unwrap();
    let options = hookhub::RunOptions {
        clock: std::sync::Arc::new(ManualClock::starting_now()),
        limits: hookhub::Limits {
            body_idle_timeout: Duration::from_millis(300),
            ..Default::default()
        },
        ..Default::default()
    };
    Hub::start_with_options(config, options).await
}

fn post(hub: &Hub, path: &str) -> reqwest::RequestBuilder {
    hub.client
        .post(format!("{}/api/webhooks/{path}", hub.url))
        .header("content-type", "application/json")
}

/// A request whose body stops after its first byte: the guard cuts it with 408.
async fn stalled_body(hub: &Hub, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(hub.url.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!(
        "POST /api/webhooks/{path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\
         Authorization: Bearer {KEY}\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// Sends one delivery refused for each reason in turn; the statuses, in order.
async fn refuse_every_way(hub: &Hub) -> Vec<u16> {
    let mut statuses = Vec::new();
    // A wrong URL, carrying the keyed hook's real key and a bearer token.
    let wrong_url = post(hub, "no-such-hook")
        .header("x-deploy-key", KEY)
        .bearer_auth(KEY)
        .body("{}");
    // Bad JSON under a valid signature: refused only when it is parsed.
    let bad = "{not json";
    let bad_json = post(hub, "github")
        .header(
            "x-hub-signature-256",
            github_signature(SECRET, bad.as_bytes()),
        )
        .body(bad);
    let wrong_method = hub.client.get(format!("{}/api/webhooks/github", hub.url));
    let too_large = post(hub, "github").body("x".repeat(2048));
    let wrong_key = post(hub, "keyed")
        .header("x-deploy-key", WRONG_KEY)
        .body("{}");
    let not_allowed = post(hub, "office")
        .header("x-hub-signature-256", github_signature(SECRET, b"{}"))
        .body("{}");
    for request in [
        wrong_url,
        bad_json,
        wrong_method,
        too_large,
        wrong_key,
        not_allowed,
    ] {
        statuses.push(request.send().await.unwrap().status().as_u16());
    }
    let answer = stalled_body(hub, "keyed").await;
    statuses.push(answer[9..12].parse().unwrap());
    statuses
}

#[tokio::test]
async fn every_refusal_is_listed_across_paths_without_its_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start(dir.path()).await;
    let statuses = refuse_every_way(&hub).await;
    assert_eq!(statuses, [404, 400, 405, 413, 401, 403, 408]);
    // The burst of 12 is spent: the 13th delivery (from the same address) is refused.
    let mut flood = Vec::new();
    for _ in 0..6 {
        flood.push(
            post(&hub, "github")
                .body("{}")
                .send()
                .await
                .unwrap()
                .status(),
        );
    }
    assert_eq!(flood.last().unwrap().as_u16(), 429, "{flood:?}");

    let response = hub
        .api(Method::GET, "/api/rejections")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    for secret in [KEY, WRONG_KEY, SECRET] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    let listed: Value = serde_json::from_str(&text).unwrap();
    let all = listed["rejections"].as_array().unwrap();
    assert_eq!(all.len(), 13, "{listed:#}");
    assert_eq!(all[0]["code"], "rate_limited", "{listed:#}");
    assert_eq!(all[0]["status"], 429);
    // The five unsigned posts of the flood before it.
    assert!(all[1..6].iter().all(|r| r["status"] == 401));
    let expected = [
        (408, "request_timeout", "keyed", Some("keyed")),
        (403, "ip_not_allowed", "office", Some("office")),
        (401, "auth_invalid", "keyed", Some("keyed")),
        (413, "payload_too_large", "github", Some("github")),
        (405, "method_not_allowed", "github", Some("github")),
        (400, "payload_invalid", "github", Some("github")),
        (404, "hook_not_found", "no-such-hook", None),
    ];
    for (r, (status, code, path, hook)) in all[6..].iter().zip(expected) {
        assert_eq!(r["status"], status, "{r:#}");
        assert_eq!(r["code"], code, "{r:#}");
        assert_eq!(r["path"], path, "{r:#}");
        assert_eq!(r["hookId"], hook.map_or(Value::Null, Value::from), "{r:#}");
        assert_eq!(r["client"], "127.0.0.1", "{r:#}");
        assert!(!r["message"].as_str().unwrap().is_empty(), "{r:#}");
        assert!(hookhub::parse_rfc3339(r["at"].as_str().unwrap()).is_some());
    }
    let wrong_url = &all[12]["headers"];
    assert_eq!(wrong_url["x-deploy-key"], "[redacted]", "{wrong_url:#}");
    assert_eq!(wrong_url["authorization"], "[redacted]");
    assert_eq!(all[8]["headers"]["x-deploy-key"], "[redacted]");
    assert_eq!(all[6]["headers"]["authorization"], "[redacted]");
    hub.stop().await;
}

/// Deliveries reach ingress without the router (`app.rs`), all but one: `/api/webhooks/` with
/// no hook path is the router's 404, and is kept as a refused delivery all the same.
#[tokio::test]
async fn a_delivery_with_no_hook_path_is_refused_by_the_router_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start(dir.path()).await;
    let answer = post(&hub, "")
        .bearer_auth(KEY)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found", "{body:#}");
    let listed = hub.get_json("/api/rejections").await;
    let all = listed["rejections"].as_array().unwrap();
    assert_eq!(all.len(), 1, "{listed:#}");
    assert_eq!(all[0]["code"], "not_found", "{listed:#}");
    assert_eq!(all[0]["path"], "");
    assert_eq!(all[0]["hookId"], Value::Null);
    assert_eq!(all[0]["headers"]["authorization"], "[redacted]");
    hub.stop().await;
}

#[tokio::test]
async fn the_list_pages_newest_first_and_each_hook_sees_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start(dir.path()).await;
    refuse_every_way(&hub).await;
    let first = hub.get_json("/api/rejections?limit=3").await;
    let codes = |page: &Value| -> Vec<String> {
        page["rejections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["code"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        codes(&first),
        ["request_timeout", "ip_not_allowed", "auth_invalid"]
    );
    let cursor = first["nextCursor"].as_str().unwrap();
    let rest = hub
        .get_json(&format!("/api/rejections?limit=10&cursor={cursor}"))
        .await;
    assert_eq!(
        codes(&rest),
        [
            "payload_too_large",
            "method_not_allowed",
            "payload_invalid",
            "hook_not_found"
        ]
    );
    assert!(rest["nextCursor"].is_null());
    let bad_cursor = hub
        .api(Method::GET, "/api/rejections?cursor=later")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_cursor.status(), 422);

    let github = hub.get_json("/api/hooks/github/rejections").await;
    assert_eq!(github["path"], "github");
    assert_eq!(
        codes(&github),
        ["payload_too_large", "method_not_allowed", "payload_invalid"]
    );
    let unauthenticated = hub
        .client
        .get(format!("{}/api/rejections", hub.url))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    hub.stop().await;
}

#[tokio::test]
async fn each_delivery_is_one_line_refusals_at_info_accepted_at_debug() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hooks.yaml");
    let data = dir.path().join("data");
    std::fs::write(&config, YAML.replace("{data}", &data.display().to_string())).unwrap();
    // JSON lines, so the test reads fields rather than a terminal's formatting.
    // The accepted delivery's line is `debug`: asked for here, as an owner would.
    let env = [
        ("HOOKHUB_LOG_FORMAT", "json"),
        ("RUST_LOG", "info,hookhub::ingress=debug"),
    ];
    let hub = Binary::start_with_env(&config, free_port(), dir.path(), &env).await;
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}/api/webhooks/{path}", hub.url);
    let accepted = client
        .post(url("github"))
        .header("x-hub-signature-256", github_signature(SECRET, b"{}"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);
    let refused = client
        .post(url("keyed"))
        .header("x-deploy-key", WRONG_KEY)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let lost = client.post(url("nowhere")).body("{}").send().await.unwrap();
    assert_eq!(lost.status(), 404);
    // Not a delivery: no delivery line.
    let health = client.get(format!("{}/healthz", hub.url)).send().await;
    assert_eq!(health.unwrap().status(), 200);

    let log = hub.log_text();
    let lines: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| {
            let message = l["fields"]["message"].as_str().unwrap_or_default();
            message.starts_with("delivery ")
        })
        .collect();
    let seen: Vec<(String, String, u64, String)> = lines
        .iter()
        .map(|l| {
            let f = &l["fields"];
            (
                l["level"].as_str().unwrap().to_string(),
                f["message"].as_str().unwrap().to_string(),
                f["status"].as_u64().unwrap(),
                f["code"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect();
    let expected = [
        ("DEBUG", "delivery accepted", 202, "-"),
        ("INFO", "delivery refused", 401, "auth_invalid"),
        ("INFO", "delivery refused", 404, "hook_not_found"),
    ]
    .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c, d.to_string()));
    assert_eq!(seen, expected, "{log}");
    assert_eq!(lines[0]["fields"]["hook"], "github");
    assert_eq!(lines[1]["fields"]["client"], "127.0.0.1");
    let reason = lines[1]["fields"]["reason"].as_str().unwrap();
    assert!(reason.contains("X-Deploy-Key"), "{reason}");
    assert_eq!(lines[2]["fields"]["hook"], "-");
    for secret in [WRONG_KEY, SECRET, KEY] {
        assert!(!log.contains(secret), "{secret} in the log");
    }
}
