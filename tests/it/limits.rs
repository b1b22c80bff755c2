//! The limits a public endpoint needs, against the real hub: a per-client rate limit on
//! webhooks, slow-loris and trickling clients cut off, oversized headers refused, and a flood
//! of unsigned requests that leaves signed deliveries served.

use crate::common;

use std::time::{Duration, Instant};

use common::{Hub, accepted_ids};
use hookhub::ManualClock;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const YAML: &str = r#"
server:
  dataDir: "{data}"
  trustedProxies: [127.0.0.1/32]
  rateLimit: { perSecond: 1, burst: 3 }
admin: { token: test-admin-token }
hooks:
  - id: ping
    triggerConfig: { webhookPath: ping, webhookSecret: s3cret }
    action: webhook
    actionConfig: { webhookUrl: "http://127.0.0.1:9/unused" }
    enabled: true
"#;

async fn start(yaml: &str, limits: hookhub::Limits) -> (Hub, tempfile::TempDir, ManualClock) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::starting_now();
    let text = yaml.replace("{data}", &dir.path().display().to_string());
    let config = hookhub::load_str(&text, "test.yaml", &|_| None).unwrap();
    let options = hookhub::RunOptions {
        clock: std::sync::Arc::new(clock.clone()),
        limits,
        ..Default::default()
    };
    (Hub::start_with_options(config, options).await, dir, clock)
}

async fn post_from(hub: &Hub, client: &str) -> reqwest::Response {
    hub.client
        .post(format!("{}/api/webhooks/ping", hub.url))
        .header("x-forwarded-for", client)
        .body("{}")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn each_client_address_gets_its_own_rate_limit() {
    let (hub, _dir, clock) = start(YAML, Default::default()).await;
    for _ in 0..3 {
        // Unsigned, so 401: refused deliveries count too, or a flood would cost nothing.
        assert_eq!(post_from(&hub, "198.51.100.7").await.status(), 401);
    }
    let limited = post_from(&hub, "198.51.100.7").await;
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "1");
    let body: serde_json::Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("198.51.100.7")
    );

    // Someone else is not affected, and the first client gets a token back each second.
    assert_eq!(post_from(&hub, "198.51.100.8").await.status(), 401);
    clock.advance(Duration::from_millis(1_000));
    assert_eq!(post_from(&hub, "198.51.100.7").await.status(), 401);
    assert_eq!(post_from(&hub, "198.51.100.7").await.status(), 429);
    hub.stop().await;
}

/// The config without a rate limit.
fn unlimited() -> String {
    YAML.replace(
        "rateLimit: { perSecond: 1, burst: 3 }",
        "rateLimit: { perSecond: 0 }\n  idleTimeout: 1s",
    )
}

fn quick_limits() -> hookhub::Limits {
    hookhub::Limits {
        header_timeout: Duration::from_millis(500),
        body_idle_timeout: Duration::from_millis(800),
        ..Default::default()
    }
}

async fn connect(hub: &Hub) -> TcpStream {
    TcpStream::connect(hub.url.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads until the server closes the connection (or 5 s pass), returning what it sent.
async fn read_until_closed(stream: &mut TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let yaml = unlimited();
    let (hub, _dir, _clock) = start(&yaml, quick_limits()).await;
    let mut stream = connect(&hub).await;
    stream
        .write_all(b"POST /api/webhooks/ping HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let (_, waited) = read_until_closed(&mut stream).await;
    assert!(waited < Duration::from_secs(4), "closed after {waited:?}");

    // An idle keep-alive connection goes the same way.
    let mut idle = connect(&hub).await;
    let (_, waited) = read_until_closed(&mut idle).await;
    assert!(waited < Duration::from_secs(4), "closed after {waited:?}");
    hub.stop().await;
}

/// Reads one answer (head and a `Content-Length` body) from a kept-alive connection.
async fn read_answer(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"\r\n\r\n") {
        assert_eq!(
            stream.read(&mut byte).await.unwrap(),
            1,
            "closed mid-answer"
        );
        answer.push(byte[0]);
    }
    let head = String::from_utf8(answer).unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .map_or(0, |n| n.trim().parse().unwrap());
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.unwrap();
    head + &String::from_utf8_lossy(&body)
}

#[tokio::test]
async fn a_connection_closes_once_idle_for_the_idle_timeout_and_not_while_in_use() {
    // idleTimeout: 1s. Requests 400 ms apart keep one connection for 2.4 s.
    let yaml = unlimited();
    let (hub, _dir, _clock) = start(&yaml, quick_limits()).await;
    let mut stream = connect(&hub).await;
    for _ in 0..6 {
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let answer = read_answer(&mut stream).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    // Then nothing: closed after the idle timeout (less the 400 ms just waited), not before.
    let (rest, waited) = read_until_closed(&mut stream).await;
    assert_eq!(rest, "");
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_secs(4),
        "closed {waited:?} after the last answer and a 400 ms pause"
    );

    // An event stream sends keep-alive comments often enough not to look idle.
    let mut events = hub
        .api(reqwest::Method::GET, "/api/executions/stream")
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    let opened = Instant::now();
    let mut seen = String::new();
    while opened.elapsed() < Duration::from_millis(2_500) {
        let chunk = tokio::time::timeout(Duration::from_secs(2), events.chunk())
            .await
            .expect("the stream sends something each half idle timeout")
            .expect("the stream is not cut")
            .unwrap_or_else(|| panic!("the stream ended after {:?}: {seen}", opened.elapsed()));
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("event: ready"), "{seen}");
    hub.stop().await;
}

#[tokio::test]
async fn a_client_trickling_its_body_gets_408() {
    let yaml = unlimited();
    let (hub, _dir, _clock) = start(&yaml, quick_limits()).await;
    let mut stream = connect(&hub).await;
    stream
        .write_all(b"POST /api/webhooks/ping HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        .await
        .unwrap();
    let (answer, _) = read_until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    hub.stop().await;
}

#[tokio::test]
async fn oversized_headers_are_refused_before_any_work() {
    let (hub, _dir, _clock) = start(YAML, Default::default()).await;
    let huge = "a".repeat(100 * 1024);
    let response = hub
        .client
        .post(format!("{}/api/webhooks/ping", hub.url))
        .header("x-huge", huge)
        .body("{}")
        .send()
        .await;
    match response {
        Ok(r) => assert_eq!(r.status(), 431),
        // hyper may close the connection before the request is fully written.
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    let mut request = hub.client.post(format!("{}/api/webhooks/ping", hub.url));
    for i in 0..150 {
        request = request.header(format!("x-h{i}"), "v");
    }
    match request.body("{}").send().await {
        Ok(r) => assert_eq!(r.status(), 431),
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    // The hub is fine.
    let ok = hub
        .client
        .get(format!("{}/healthz", hub.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    hub.stop().await;
}

#[tokio::test]
async fn a_flood_of_unsigned_requests_leaves_signed_deliveries_served() {
    let yaml = unlimited();
    let (hub, _dir, _clock) = start(&yaml, Default::default()).await;
    let url = format!("{}/api/webhooks/ping", hub.url);
    let body = "x".repeat(2 * 1024 * 1024);
    let flood: Vec<_> = (0..400)
        .map(|i| {
            let client = hub.client.clone();
            let url = url.clone();
            // Half unsigned, half far over maxBodyBytes.
            let body = if i % 2 == 0 {
                "{}".to_string()
            } else {
                body.clone()
            };
            tokio::spawn(
                async move { client.post(url).body(body).send().await.map(|r| r.status()) },
            )
        })
        .collect();
    let signed = accepted_ids(hub.deliver("ping", "s3cret", "{}").await).await;
    assert_eq!(signed.len(), 1);
    for request in flood {
        if let Ok(status) = request.await.unwrap() {
            assert!([401, 413].contains(&status.as_u16()), "{status}");
        }
    }
    let rejections = hub.get_json("/api/hooks/ping/rejections").await;
    assert!(rejections["rejections"].as_array().unwrap().len() <= 50);
    hub.stop().await;
}
