//! The hub on the public internet, attacked as issue 18 found it could be: replays that
//! sidestep dedupe, unsigned query parameters slipped into a signed body, and forged client
//! addresses. Each test drives the real hub over HTTP.

use crate::common;

use base64::Engine as _;
use common::{Hub, Target, accepted_ids, github_signature};
use hmac::{Hmac, Mac};
use hookhub::ManualClock;
use serde_json::{Value, json};
use sha2::Sha256;

const NOW: u64 = 1_700_000_000_000;
const SECRET: &str = "s3cret-for-replays";
/// `whsec_` + base64 of "standard-key-bytes".
const STANDARD_SECRET: &str = "whsec_c3RhbmRhcmQta2V5LWJ5dGVz";

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// The headers each timestamped sender attaches to `body` at `NOW`, computed here
/// independently of the hub's own signing code.
fn signed_headers(scheme: &str, body: &str) -> Vec<(String, String)> {
    let ts = (NOW / 1000).to_string();
    let hex_mac = |message: String| hex::encode(hmac_sha256(SECRET.as_bytes(), message.as_bytes()));
    let pairs: Vec<(&str, String)> = match scheme {
        "standard" => {
            let key = base64::engine::general_purpose::STANDARD
                .decode(STANDARD_SECRET.trim_start_matches("whsec_"))
                .unwrap();
            let mac = hmac_sha256(&key, format!("msg_1.{ts}.{body}").as_bytes());
            let signature = base64::engine::general_purpose::STANDARD.encode(mac);
            vec![
                ("webhook-id", "msg_1".to_string()),
                ("webhook-timestamp", ts),
                ("webhook-signature", format!("v1,{signature}")),
            ]
        }
        "stripe" => vec![(
            "stripe-signature",
            format!("t={ts},v1={}", hex_mac(format!("{ts}.{body}"))),
        )],
        "slack" => vec![
            ("x-slack-request-timestamp", ts.clone()),
            (
                "x-slack-signature",
                format!("v0={}", hex_mac(format!("v0:{ts}:{body}"))),
            ),
        ],
        "hmac" => vec![
            ("x-timestamp", ts.clone()),
            (
                "x-signature",
                format!("sha256={}", hex_mac(format!("{ts}.{body}"))),
            ),
        ],
        "linear" => vec![("linear-signature", hex_mac(body.to_string()))],
        other => panic!("no signer for {other}"),
    };
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn replay_config(target: &str) -> String {
    let mut yaml = String::from(
        "server: { dataDir: \"{data}\" }\nadmin: { token: test-admin-token }\nhooks:\n",
    );
    for scheme in ["standard", "stripe", "slack", "hmac", "linear"] {
        let (secret, extra) = match scheme {
            "standard" => (STANDARD_SECRET, ""),
            "hmac" => (
                SECRET,
                ", header: X-Signature, prefix: \"sha256=\", timestampHeader: X-Timestamp, \
                 signedPayload: \"{timestamp}.{body}\"",
            ),
            _ => (SECRET, ""),
        };
        yaml.push_str(&format!(
            "  - id: {scheme}\n    triggerConfig: {{ webhookPath: {scheme}, scheme: {scheme}, \
             webhookSecret: \"{secret}\"{extra} }}\n    action: webhook\n    \
             actionConfig: {{ webhookUrl: \"{target}?from={scheme}\" }}\n"
        ));
    }
    yaml
}

async fn post(
    hub: &Hub,
    path: &str,
    body: &str,
    headers: &[(String, String)],
) -> reqwest::Response {
    let mut request = hub
        .client
        .post(format!("{}/api/webhooks/{path}", hub.url))
        .header("content-type", "application/json")
        .body(body.to_string());
    for (k, v) in headers {
        request = request.header(k, v);
    }
    request.send().await.unwrap()
}

/// Issue 18, point 4: a captured Standard Webhooks delivery re-sent with an extra
/// `X-GitHub-Delivery` header ran again, and an exact Stripe (or Slack, hmac, Linear) replay
/// ran twice. Within the tolerance window a signature seen before is a duplicate, whatever
/// the unsigned headers say; a new signature over the same body is a new delivery.
#[tokio::test]
async fn replayed_signatures_run_once_whatever_their_unsigned_headers_say() {
    let target = Target::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let hub = Hub::start(&replay_config(&target.url), dir.path(), Some(clock.clone())).await;
    for scheme in ["standard", "stripe", "slack", "hmac", "linear"] {
        let body = format!(r#"{{"id":"evt_{scheme}","webhookTimestamp":{NOW}}}"#);
        let captured = signed_headers(scheme, &body);
        let first = accepted_ids(post(&hub, scheme, &body, &captured).await).await;
        hub.wait_for_status(&first[0], "succeeded").await;

        let mut altered = captured.clone();
        altered.push(("x-github-delivery".into(), format!("forged-{scheme}")));
        altered.push(("idempotency-key".into(), format!("forged-{scheme}")));
        for replay in [&captured, &altered] {
            let response = post(&hub, scheme, &body, replay).await;
            assert_eq!(
                response.status(),
                200,
                "{scheme}: a replay is not accepted again"
            );
            let answer: Value = response.json().await.unwrap();
            assert_eq!(answer["duplicate"], true, "{scheme}");
            assert_eq!(answer["executions"][0]["executionId"], first[0].as_str());
        }
    }
    // A minute later, each sender's next delivery of the same body is signed anew and runs.
    clock.advance(std::time::Duration::from_secs(60));
    let later_body = r#"{"id":"evt_stripe","webhookTimestamp":1700000000000}"#;
    let ts = ((NOW + 60_000) / 1000).to_string();
    let mac = hex::encode(hmac_sha256(
        SECRET.as_bytes(),
        format!("{ts}.{later_body}").as_bytes(),
    ));
    let fresh = vec![("stripe-signature".to_string(), format!("t={ts},v1={mac}"))];
    let later = accepted_ids(post(&hub, "stripe", later_body, &fresh).await).await;
    hub.wait_for_status(&later[0], "succeeded").await;
    let per_scheme = |scheme: &str| {
        target
            .received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| String::from_utf8_lossy(&r.body).contains(&format!("evt_{scheme}")))
            .count()
    };
    for scheme in ["standard", "slack", "hmac", "linear"] {
        assert_eq!(per_scheme(scheme), 1, "{scheme} ran once");
    }
    assert_eq!(
        per_scheme("stripe"),
        2,
        "the replay once, the new delivery once more"
    );
    hub.stop().await;
}

fn query_config() -> String {
    r#"
server: { dataDir: "{data}" }
admin: { token: test-admin-token }
tools:
  show-body:
    command: ["/bin/cat"]
    timeout: 10s
hooks:
  - id: signed
    triggerConfig: { webhookPath: signed, webhookSecret: s3cret }
    action: execute_tool
    actionConfig: { toolId: show-body }
  - id: signed-merging
    triggerConfig: { webhookPath: merging, webhookSecret: s3cret, mergeQuery: true }
    action: execute_tool
    actionConfig: { toolId: show-body }
  - id: token
    triggerConfig: { webhookPath: token, scheme: bearer, webhookSecret: tok3n-tok3n }
    action: execute_tool
    actionConfig: { toolId: show-body }
"#
    .to_string()
}

/// What the tool read on stdin (the body it was given), once the run succeeded.
async fn tool_saw(hub: &Hub, response: reqwest::Response) -> (Value, Value) {
    let ids = accepted_ids(response).await;
    let e = hub.wait_for_status(&ids[0], "succeeded").await;
    let stdout = e["output"]["stdout"].as_str().unwrap();
    (serde_json::from_str(stdout).unwrap(), e["trigger"].clone())
}

/// Issue 18, point 4: a captured GitHub delivery replayed with `?x=…` added had the unsigned
/// query merged into the body, and a tool ran with the attacker's value. The query is kept in
/// `query`; it joins the body only where it is authenticated (token schemes) or the owner
/// wrote `mergeQuery: true`.
#[tokio::test]
async fn an_unsigned_query_never_changes_what_a_signed_body_says() {
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::start(&query_config(), dir.path(), None).await;
    let body = r#"{"ref":"main"}"#;
    let signature = github_signature("s3cret", body.as_bytes());
    let send = |path: &str, query: &str| {
        hub.client
            .post(format!("{}/api/webhooks/{path}?{query}", hub.url))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature.clone())
            .body(body)
            .send()
    };
    let (seen, trigger) =
        tool_saw(&hub, send("signed", "ref=attacker&x=owned").await.unwrap()).await;
    assert_eq!(
        seen,
        json!({"ref": "main"}),
        "the tool sees only the signed body"
    );
    assert_eq!(trigger["body"], json!({"ref": "main"}));
    assert_eq!(trigger["query"], json!({"ref": "attacker", "x": "owned"}));

    let (seen, _) = tool_saw(&hub, send("merging", "x=chosen").await.unwrap()).await;
    assert_eq!(
        seen,
        json!({"ref": "main", "x": "chosen"}),
        "mergeQuery: true"
    );

    let response = hub
        .client
        .post(format!("{}/api/webhooks/token?env=prod&ref=query", hub.url))
        .header("content-type", "application/json")
        .bearer_auth("tok3n-tok3n")
        .body(body)
        .send()
        .await
        .unwrap();
    let (seen, _) = tool_saw(&hub, response).await;
    assert_eq!(
        seen,
        json!({"ref": "main", "env": "prod"}),
        "a token scheme merges, body wins"
    );
    hub.stop().await;
}

fn proxy_config(header: &str) -> String {
    format!(
        r#"
server:
  dataDir: "{{data}}"
  trustedProxies: [127.0.0.1/32]
  {header}
  rateLimit: {{ perSecond: 1, burst: 2 }}
admin: {{ token: test-admin-token }}
hooks:
  - id: office
    triggerConfig: {{ webhookPath: office, webhookSecret: s3cret, ipAllowlist: [203.0.113.0/24] }}
    action: webhook
    actionConfig: {{ webhookUrl: "http://127.0.0.1:9/unused" }}
  - id: open
    triggerConfig: {{ webhookPath: open, webhookSecret: s3cret }}
    action: webhook
    actionConfig: {{ webhookUrl: "http://127.0.0.1:9/unused" }}
"#
    )
}

async fn from(hub: &Hub, path: &str, headers: &[(&str, &str)]) -> u16 {
    let body = r#"{"n":1}"#;
    let mut request = hub
        .client
        .post(format!("{}/api/webhooks/{path}", hub.url))
        .header("content-type", "application/json")
        .header(
            "x-hub-signature-256",
            github_signature("s3cret", body.as_bytes()),
        )
        .body(body);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.send().await.unwrap().status().as_u16()
}

/// Issue 18, point 3: behind nginx (which passes a client-sent `CF-Connecting-IP` through),
/// that header was believed, so the IP allowlist and the rate limit could be bypassed. Only
/// the header `server.clientIpHeader` names is read from a trusted proxy.
#[tokio::test]
async fn only_the_configured_client_address_header_is_believed() {
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::start(&proxy_config(""), dir.path(), None).await;
    let forged = [
        ("cf-connecting-ip", "203.0.113.5"),
        ("x-forwarded-for", "198.51.100.1"),
    ];
    assert_eq!(
        from(&hub, "office", &forged).await,
        403,
        "allowlist not bypassed"
    );
    let genuine = [("x-forwarded-for", "203.0.113.5")];
    assert_eq!(from(&hub, "office", &genuine).await, 202);
    // One address rotating a forged header is still one address to the rate limit.
    let mut statuses = Vec::new();
    for n in 0..4 {
        let spoofed = format!("192.0.2.{n}");
        let headers = [
            ("cf-connecting-ip", spoofed.as_str()),
            ("x-real-ip", spoofed.as_str()),
            ("x-forwarded-for", "198.51.100.9"),
        ];
        statuses.push(from(&hub, "open", &headers).await);
    }
    assert_eq!(statuses, [202, 202, 429, 429]);
    hub.stop().await;

    // Behind cloudflared the owner names Cloudflare's header, and X-Forwarded-For is the
    // client's own say-so.
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::start(
        &proxy_config("clientIpHeader: cf-connecting-ip"),
        dir.path(),
        None,
    )
    .await;
    assert_eq!(from(&hub, "office", &forged).await, 202);
    assert_eq!(from(&hub, "office", &genuine).await, 403);
    hub.stop().await;
}

const SLOW_YAML: &str = r#"
server:
  dataDir: "{data}"
  trustedProxies: [127.0.0.3/32]
  rateLimit: { perSecond: 0 }
admin: { token: test-admin-token }
hooks:
  - id: ping
    triggerConfig: { webhookPath: ping, webhookSecret: s3cret }
    action: webhook
    actionConfig: { webhookUrl: "http://127.0.0.1:9/unused" }
"#;

/// More connections than the hub's whole pool had before (1,024), as the attacker opened.
const ATTACKERS: usize = 1_100;

async fn start_slow_hub() -> (Hub, tempfile::TempDir) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let text = SLOW_YAML.replace("{data}", &dir.path().display().to_string());
    let config = hookhub::load_str(&text, "test.yaml", &|_| None).unwrap();
    let options = hookhub::RunOptions {
        limits: hookhub::Limits {
            body_idle_timeout: std::time::Duration::from_secs(1),
            ..Default::default()
        },
        ..Default::default()
    };
    // The attack and the hub share this process's open-file limit.
    hookhub::connections_that_fit(usize::MAX);
    (Hub::start_with_options(config, options).await, dir)
}

/// A connection to the hub from `source`, one of the loopback addresses 127.0.0.0/8.
async fn connect_from(hub: &Hub, source: &str) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(format!("{source}:0").parse().unwrap())?;
    socket
        .connect(hub.url.trim_start_matches("http://").parse().unwrap())
        .await
}

/// A signed delivery from 127.0.0.1 must be answered 202 within 2 s.
async fn signed_delivery_gets_through(hub: &Hub) {
    let started = std::time::Instant::now();
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(2))
        .build()
        .unwrap();
    let body = r#"{"n":1}"#;
    let response = client
        .post(format!("{}/api/webhooks/ping", hub.url))
        .header("content-type", "application/json")
        .header(
            "x-hub-signature-256",
            github_signature("s3cret", body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .expect("the signed delivery was answered within 2 s");
    assert_eq!(response.status(), 202);
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

/// What a connection had been sent when it closed, read for at most `wait`.
async fn answer_of(stream: &mut tokio::net::TcpStream, wait: std::time::Duration) -> String {
    use tokio::io::AsyncReadExt as _;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(wait, stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// Issue 18, point 1: 1,100 connections from one address, idle, trickling headers, or
/// trickling a large body to `POST /api/session`, held every connection slot, and signed
/// deliveries timed out. One address now holds at most `maxConnectionsPerClient` (64); the
/// rest are turned away with 429 at once.
#[tokio::test]
async fn slow_and_idle_connections_from_one_address_cannot_stop_deliveries() {
    use tokio::io::AsyncWriteExt as _;
    let (hub, _dir) = start_slow_hub().await;
    let mut held = Vec::new();
    for n in 0..ATTACKERS {
        let Ok(mut stream) = connect_from(&hub, "127.0.0.2").await else {
            continue;
        };
        let opening: &[u8] = match n % 3 {
            0 => b"",
            1 => b"POST /api/session HTTP/1.1\r\nHost: hub\r\nX-Slow: ",
            _ => b"POST /api/session HTTP/1.1\r\nHost: hub\r\nContent-Length: 100000\r\n\r\n{",
        };
        let _ = stream.write_all(opening).await;
        held.push(stream);
    }
    signed_delivery_gets_through(&hub).await;
    let mut late = connect_from(&hub, "127.0.0.2").await.unwrap();
    let answer = answer_of(&mut late, std::time::Duration::from_secs(2)).await;
    assert!(
        answer.starts_with("HTTP/1.1 429") && answer.contains("too_many_connections"),
        "{answer}"
    );
    drop(held);
    hub.stop().await;
}

/// Issue 18, point 1, through a trusted proxy: 1,100 requests from distinct client addresses,
/// each trickling a body. None is refused for its client's share, but each must keep moving:
/// a body that sends nothing for the idle timeout is cut with 408, and meanwhile the pool has
/// room for signed deliveries.
#[tokio::test]
async fn slow_requests_through_a_proxy_cannot_stop_deliveries() {
    use tokio::io::AsyncWriteExt as _;
    let (hub, _dir) = start_slow_hub().await;
    let mut held = Vec::new();
    for n in 0..ATTACKERS {
        let Ok(mut stream) = connect_from(&hub, "127.0.0.3").await else {
            continue;
        };
        let head = format!(
            "POST /api/session HTTP/1.1\r\nHost: hub\r\nX-Forwarded-For: 10.{}.{}.{}\r\n\
             Content-Length: 1000\r\n\r\n{{",
            n / 65536,
            (n / 256) % 256,
            n % 256
        );
        let _ = stream.write_all(head.as_bytes()).await;
        held.push(stream);
    }
    signed_delivery_gets_through(&hub).await;
    let answer = answer_of(&mut held[0], std::time::Duration::from_secs(5)).await;
    assert!(
        answer.starts_with("HTTP/1.1 408") && answer.contains("request_timeout"),
        "{answer}"
    );
    hub.stop().await;
}

/// One proxied client is held to its share of requests, like a direct one to its connections;
/// and routes open before sign-in read at most 16 KB.
#[tokio::test]
async fn a_proxied_client_has_its_share_and_open_routes_take_little() {
    use tokio::io::AsyncWriteExt as _;
    let (hub, _dir) = start_slow_hub().await;
    let mut held = Vec::new();
    for _ in 0..64 {
        let mut stream = connect_from(&hub, "127.0.0.3").await.unwrap();
        let head = "POST /api/session HTTP/1.1\r\nHost: hub\r\nX-Forwarded-For: 198.51.100.7\r\n\
                    Content-Length: 1000\r\n\r\n{";
        stream.write_all(head.as_bytes()).await.unwrap();
        held.push(stream);
    }
    // Let the hub take them all in.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut one_more = connect_from(&hub, "127.0.0.3").await.unwrap();
    let head = "POST /api/session HTTP/1.1\r\nHost: hub\r\nX-Forwarded-For: 198.51.100.7\r\n\
                Content-Length: 2\r\n\r\n{}";
    one_more.write_all(head.as_bytes()).await.unwrap();
    let answer = answer_of(&mut one_more, std::time::Duration::from_millis(500)).await;
    assert!(
        answer.starts_with("HTTP/1.1 429") && answer.contains("too_many_connections"),
        "{answer}"
    );
    // A delivery from that client is turned away the same way by the webhook route, which
    // admits requests itself (`app::Deliveries`), and is listed as a refused delivery.
    let mut delivery = connect_from(&hub, "127.0.0.3").await.unwrap();
    let head = "POST /api/webhooks/ping HTTP/1.1\r\nHost: hub\r\n\
                X-Forwarded-For: 198.51.100.7\r\nContent-Length: 2\r\n\r\n{}";
    delivery.write_all(head.as_bytes()).await.unwrap();
    let answer = answer_of(&mut delivery, std::time::Duration::from_millis(500)).await;
    assert!(
        answer.starts_with("HTTP/1.1 429") && answer.contains("too_many_connections"),
        "{answer}"
    );
    let listed: Value = hub
        .api(reqwest::Method::GET, "/api/rejections")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refused = &listed["rejections"][0];
    assert_eq!(refused["code"], "too_many_connections", "{listed:#}");
    assert_eq!(refused["path"], "ping", "{listed:#}");
    assert_eq!(refused["client"], "198.51.100.7", "{listed:#}");
    drop(held);

    let big = format!(r#"{{"token":"{}"}}"#, "x".repeat(20 * 1024));
    let response = hub
        .client
        .post(format!("{}/api/session", hub.url))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let response = hub
        .client
        .post(format!("{}/api/channels/slack/commands", hub.url))
        .body(vec![b'a'; 20 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    hub.stop().await;
}
