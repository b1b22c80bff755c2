//! Hostile input through the real hub (issue 7): payload values that try shell injection, hook
//! paths that try to climb out of `/api/webhooks/`, enormous JSON nesting, bytes that are not
//! UTF-8, and header floods. Each is refused with a clear answer or handled literally, and the
//! hub keeps serving afterwards. Requests whose path must reach the hub unnormalised are
//! written by hand on a TCP socket: an HTTP client would resolve `..` before sending.

use crate::common;

use common::{ADMIN_TOKEN, Hub, Target, accepted_ids, github_signature};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "s3cret";

fn config(target: &str) -> String {
    format!(
        r#"
server: {{ dataDir: "{{data}}" }}
admin: {{ token: test-admin-token }}
tools:
  argv:
    command: ["/bin/sh", "-c", "printf '%s|' \"$#\"; printf '[%s]' \"$@\"", "sh", "{{{{webhook.body.v}}}}", "{{{{webhook.query.q}}}}"]
    timeout: 10s
  shelled:
    command: ["printf '[%s]' {{{{webhook.body.v}}}} {{{{webhook.query.q}}}}"]
    shell: true
    timeout: 10s
hooks:
  - id: argv
    triggerConfig: {{ webhookPath: tools/argv, webhookSecret: {SECRET} }}
    action: execute_tool
    actionConfig: {{ toolId: argv, concurrency: 4 }}
  - id: shelled
    triggerConfig: {{ webhookPath: tools/shell, webhookSecret: {SECRET} }}
    action: execute_tool
    actionConfig: {{ toolId: shelled, concurrency: 4 }}
  - id: deploy
    triggerConfig: {{ webhookPath: team/deploy, webhookSecret: {SECRET} }}
    action: webhook
    actionConfig: {{ webhookUrl: "{target}" }}
  - id: team
    triggerConfig: {{ webhookPath: team, webhookSecret: {SECRET} }}
    action: webhook
    actionConfig: {{ webhookUrl: "{target}" }}
"#
    )
}

async fn start() -> (Hub, Target, tempfile::TempDir) {
    Hub::start_with_target(config).await
}

/// POSTs raw `body` bytes signed with the hook secret, with optional content type.
async fn post(hub: &Hub, path: &str, content_type: Option<&str>, body: &[u8]) -> reqwest::Response {
    let mut request = hub
        .client
        .post(format!("{}/api/webhooks/{path}", hub.url))
        .header("x-hub-signature-256", github_signature(SECRET, body))
        .body(body.to_vec());
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.send().await.unwrap()
}

async fn error_of(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    let text = |k: &str| body["error"][k].as_str().unwrap_or_default().to_string();
    (status, text("code"), text("message"))
}

/// Writes `head` (request line and headers, without the final blank line) and `body` on a fresh
/// connection and returns the status code and the whole answer.
async fn raw_request(hub: &Hub, head: &str, body: &[u8]) -> (u16, String) {
    let addr = hub.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!(
        "{head}\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    // The hub may answer and close before a refused request is written whole.
    let _ = stream.write_all(&request).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer to {head:?}: {answer:?}"));
    (status, answer)
}

async fn still_serving(hub: &Hub) {
    let health = hub
        .client
        .get(format!("{}/healthz", hub.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "the hub stopped serving");
    let ids = accepted_ids(post(hub, "team", Some("application/json"), b"{\"ok\":1}").await).await;
    assert_eq!(ids.len(), 1, "a normal delivery is still accepted");
}

/// Values a stranger might send hoping a tool's command line runs them. Option-like values
/// (`--output=…`) are refused before anything runs: tests/it/tool_safety.rs.
const INJECTIONS: &[&str] = &[
    "$(touch {marker})",
    "`touch {marker}`",
    "; touch {marker}",
    "| touch {marker}",
    "&& touch {marker} &&",
    "x\ntouch {marker}",
    "'; touch {marker}; '",
    "\"; touch {marker}; \"",
    "${IFS}touch${IFS}{marker}",
    "* ~ ?",
    "",
];

#[tokio::test]
async fn shell_injection_in_payload_values_stays_one_literal_argument() {
    let (hub, _target, dir) = start().await;
    let marker = dir.path().join("pwned");
    let marker = marker.to_str().unwrap();
    let query = "%24%28touch%20x%29%20%27q%27";
    let mut runs = Vec::new();
    for template in INJECTIONS {
        let value = template.replace("{marker}", marker);
        let body = serde_json::to_vec(&json!({ "v": value })).unwrap();
        for path in ["tools/argv", "tools/shell"] {
            let url = format!("{path}?q={query}");
            let ids = accepted_ids(post(&hub, &url, Some("application/json"), &body).await).await;
            runs.push((path, value.clone(), ids[0].clone()));
        }
    }
    for (path, value, id) in runs {
        let execution = hub.wait_for_status(&id, "succeeded").await;
        let stdout = execution["output"]["stdout"].as_str().unwrap();
        // Both tools print every argument they got in brackets; the argv tool also counts them.
        let expected = if path == "tools/argv" {
            format!("2|[{value}][$(touch x) 'q']")
        } else {
            format!("[{value}][$(touch x) 'q']")
        };
        assert_eq!(stdout, expected, "{path} with {value:?}");
    }
    assert!(
        !std::path::Path::new(marker).exists(),
        "a payload value ran as a command"
    );
    hub.stop().await;
}

#[tokio::test]
async fn a_nul_byte_in_an_argument_fails_the_run_without_running_anything() {
    let (hub, _target, _dir) = start().await;
    let body = serde_json::to_vec(&json!({ "v": "a\u{0}b" })).unwrap();
    let ids = accepted_ids(post(&hub, "tools/argv", Some("application/json"), &body).await).await;
    let execution = hub.wait_for_status(&ids[0], "failed").await;
    let error = execution["error"].as_str().unwrap();
    assert!(error.to_lowercase().contains("nul"), "{error}");
    still_serving(&hub).await;
    hub.stop().await;
}

#[tokio::test]
async fn traversal_in_hook_paths_is_404_and_reaches_no_hook() {
    let (hub, target, _dir) = start().await;
    let body = br#"{"ref":"main"}"#;
    let signature = github_signature(SECRET, body);
    let paths = [
        "/api/webhooks/../webhooks/team",
        "/api/webhooks/team/../team/deploy",
        "/api/webhooks/team/deploy/..",
        "/api/webhooks/team/./deploy",
        "/api/webhooks/team/%2e%2e/team",
        "/api/webhooks/%2e%2e/webhooks/team",
        "/api/webhooks/%2E%2E%2Fhooks",
        "/api/webhooks/team%2Fdeploy",
        "/api/webhooks/team%2fdeploy",
        "/api/webhooks/team%252Fdeploy",
        "/api/webhooks/team%5Cdeploy",
        "/api/webhooks//team",
        "/api/webhooks/team//deploy",
        "/api/webhooks/team/deploy/",
        "/api/webhooks/t%65am",
        "/api/webhooks/team%00",
        "/api/webhooks/%FF%FE",
        "/api/webhooks/../hooks",
        "/api/webhooks/../../healthz",
    ];
    for path in paths {
        let head = format!(
            "POST {path} HTTP/1.1\r\nContent-Type: application/json\r\nX-Hub-Signature-256: {signature}"
        );
        let (status, answer) = raw_request(&hub, &head, body).await;
        assert_eq!(status, 404, "{path}: {answer}");
        assert!(answer.contains("hook_not_found"), "{path}: {answer}");
    }
    assert_eq!(target.count(), 0, "a traversal reached a hook");
    for hook in ["team", "deploy"] {
        let list = hub.get_json(&format!("/api/hooks/{hook}/executions")).await;
        assert_eq!(list["executions"], json!([]), "{hook} ran");
    }
    // The same request on the hook's own path is accepted: the refusals were about the path.
    let head = format!(
        "POST /api/webhooks/team/deploy HTTP/1.1\r\nContent-Type: application/json\r\n\
         X-Hub-Signature-256: {signature}"
    );
    assert_eq!(raw_request(&hub, &head, body).await.0, 202);
    hub.stop().await;
}

#[tokio::test]
async fn enormous_json_nesting_is_a_clear_400_and_the_hub_stays_up() {
    let (hub, target, _dir) = start().await;
    let arrays = "[".repeat(100_000);
    let objects = r#"{"a":"#.repeat(50_000);
    let cloud_event = format!(r#"{{"specversion":"1.0","type":"t","id":"1","data":{arrays}"#);
    let form = format!("payload={}", "%5B".repeat(50_000));
    let cases = [
        ("application/json", arrays.as_str()),
        ("application/json", objects.as_str()),
        ("application/cloudevents+json", cloud_event.as_str()),
        ("application/x-www-form-urlencoded", form.as_str()),
    ];
    for (content_type, body) in cases {
        let response = post(&hub, "team", Some(content_type), body.as_bytes()).await;
        let (status, code, message) = error_of(response).await;
        assert_eq!(
            (status, code.as_str()),
            (400, "payload_invalid"),
            "{content_type}"
        );
        assert!(
            message.contains("recursion limit"),
            "{content_type}: {message}"
        );
    }
    // Without a JSON type the same bytes are just text: accepted, kept, forwarded unchanged.
    let ids = accepted_ids(post(&hub, "team", None, arrays.as_bytes()).await).await;
    hub.wait_for_status(&ids[0], "succeeded").await;
    // Nesting a real sender would use is fine.
    let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
    let ids =
        accepted_ids(post(&hub, "team", Some("application/json"), deep.as_bytes()).await).await;
    hub.wait_for_status(&ids[0], "succeeded").await;
    assert_eq!(target.bodies(), vec![arrays, deep]);
    still_serving(&hub).await;
    hub.stop().await;
}

#[tokio::test]
async fn bodies_that_are_not_utf8_are_kept_byte_for_byte_or_refused_clearly() {
    let (hub, target, _dir) = start().await;
    let binary: &[u8] = b"\xff\xfe\x00\x01binary\x80\xc3\x28";
    let ids =
        accepted_ids(post(&hub, "team", Some("application/octet-stream"), binary).await).await;
    let execution = hub.wait_for_status(&ids[0], "succeeded").await;
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(binary);
    assert_eq!(
        execution["trigger"]["rawBody"],
        json!({ "base64": encoded })
    );
    assert_eq!(
        target.received.lock().unwrap()[0].body.as_ref(),
        binary,
        "forwarded byte for byte"
    );

    // A JSON body must be UTF-8.
    let bad_json = b"{\"a\":\"\xff\"}";
    let (status, code, message) =
        error_of(post(&hub, "team", Some("application/json"), bad_json).await).await;
    assert_eq!(
        (status, code.as_str()),
        (400, "payload_invalid"),
        "{message}"
    );

    // Form fields percent-decode to text, with bytes that are not UTF-8 replaced.
    let ids = accepted_ids(
        post(
            &hub,
            "team",
            Some("application/x-www-form-urlencoded"),
            b"a=%FF%FEx&b=\xff",
        )
        .await,
    )
    .await;
    let execution = hub.wait_for_status(&ids[0], "succeeded").await;
    assert_eq!(execution["trigger"]["body"]["a"], "\u{FFFD}\u{FFFD}x");
    still_serving(&hub).await;
    hub.stop().await;
}

#[tokio::test]
async fn header_values_that_are_not_utf8_are_refused_or_kept_lossily() {
    let (hub, _target, _dir) = start().await;
    let body = br#"{"a":1}"#;
    let url = format!("{}/api/webhooks/team", hub.url);
    let latin1 = reqwest::header::HeaderValue::from_bytes(b"caf\xe9").unwrap();

    // In the signature header: 401 naming the header, not a crash and not a pass.
    let response = hub
        .client
        .post(&url)
        .header("x-hub-signature-256", latin1.clone())
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let (status, code, message) = error_of(response).await;
    assert_eq!((status, code.as_str()), (401, "auth_invalid"));
    let message = message.to_lowercase();
    assert!(
        message.contains("x-hub-signature-256 is malformed"),
        "{message}"
    );

    // Elsewhere it is recorded as text with the odd byte replaced; an event header that is
    // not text gives no event type.
    let response = hub
        .client
        .post(&url)
        .header("x-hub-signature-256", github_signature(SECRET, body))
        .header("x-note", latin1.clone())
        .header("x-github-event", latin1)
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let ids = accepted_ids(response).await;
    let execution = hub.wait_for_status(&ids[0], "succeeded").await;
    assert_eq!(execution["trigger"]["headers"]["x-note"], "caf\u{FFFD}");
    assert_eq!(execution["eventType"], Value::Null);
    still_serving(&hub).await;
    hub.stop().await;
}

#[tokio::test]
async fn header_floods_are_refused_before_the_handler() {
    let (hub, target, _dir) = start().await;
    let signature = github_signature(SECRET, b"{}");
    let start = format!("POST /api/webhooks/team HTTP/1.1\r\nX-Hub-Signature-256: {signature}");

    let many: String = (0..500).map(|i| format!("\r\nX-Flood-{i}: v")).collect();
    let (status, answer) = raw_request(&hub, &format!("{start}{many}"), b"{}").await;
    assert_eq!(status, 431, "{answer}");

    let huge = format!("{start}\r\nX-Huge: {}", "a".repeat(1 << 20));
    let (status, answer) = raw_request(&hub, &huge, b"{}").await;
    assert_eq!(status, 431, "{answer}");

    assert_eq!(target.count(), 0);
    let rejections = hub.get_json("/api/hooks/team/rejections").await;
    assert_eq!(
        rejections["rejections"],
        json!([]),
        "refused before the hub saw them"
    );
    still_serving(&hub).await;
    // The admin API is guarded by the same limits.
    let head = format!("GET /api/hooks HTTP/1.1\r\nAuthorization: Bearer {ADMIN_TOKEN}{many}");
    assert_eq!(raw_request(&hub, &head, b"").await.0, 431);
    hub.stop().await;
}
