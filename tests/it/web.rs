//! The web UI's server side over HTTP: embedded assets with their headers, browser sessions
//! (cookie flags, expiry by sign-out, sign-in rate limit), the CSRF check on cookie requests,
//! and the live execution stream.

use crate::common;

use std::time::Duration;

use common::{ADMIN_TOKEN, Hub, Target};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

fn config(target: &str) -> String {
    format!(
        r#"
server: {{ dataDir: "{{data}}", trustedProxies: ["127.0.0.1/32"] }}
admin: {{ token: test-admin-token }}
hooks:
  - id: alpha
    triggerConfig: {{ webhookPath: alpha, webhookSecret: alpha-secret }}
    action: webhook
    actionConfig: {{ webhookUrl: "{target}" }}
  - id: beta
    triggerConfig: {{ webhookPath: beta, webhookSecret: beta-secret }}
    action: webhook
    actionConfig: {{ webhookUrl: "{target}" }}
"#
    )
}

async fn start() -> (Hub, Target, tempfile::TempDir) {
    Hub::start_with_target(config).await
}

/// A GET without credentials.
async fn plain_get(hub: &Hub, path: &str) -> reqwest::Response {
    let url = format!("{}{path}", hub.url);
    hub.client.get(url).send().await.unwrap()
}

async fn sign_in(hub: &Hub, token: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut request = hub
        .client
        .post(format!("{}/api/session", hub.url))
        .json(&json!({ "token": token }));
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// Signs in and returns the `Cookie` header to send and the session's CSRF token.
async fn session(hub: &Hub) -> (String, String) {
    let answer = sign_in(hub, ADMIN_TOKEN, &[]).await;
    assert_eq!(answer.status(), 200);
    let cookie = answer.headers()[header::SET_COOKIE].to_str().unwrap();
    let pair = cookie.split(';').next().unwrap().to_string();
    let body: Value = answer.json().await.unwrap();
    (pair, body["csrfToken"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn the_page_is_served_with_its_type_an_etag_and_a_strict_policy() {
    let (hub, _target, _dir) = start().await;
    let page = plain_get(&hub, "/").await;
    assert_eq!(page.status(), 200);
    let h = page.headers().clone();
    assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
    let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    for part in [
        "default-src 'self'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(h[header::CACHE_CONTROL], "no-cache");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<script type="module" src="/js/app.js">"#));
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "nothing inline"
    );

    let script = plain_get(&hub, "/js/app.js").await;
    assert_eq!(
        script.headers()[header::CONTENT_TYPE],
        "text/javascript; charset=utf-8"
    );
    let etag = script.headers()[header::ETAG].clone();
    assert_ne!(etag, h[header::ETAG], "each file has its own tag");
    let again = hub
        .client
        .get(format!("{}/js/app.js", hub.url))
        .header(header::IF_NONE_MATCH, etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()[header::ETAG], etag);
    assert!(again.bytes().await.unwrap().is_empty());
    let css = plain_get(&hub, "/app.css").await;
    assert_eq!(
        css.headers()[header::CONTENT_TYPE],
        "text/css; charset=utf-8"
    );

    // A bookmarked route gets the page; a missing file and an unknown API route do not.
    let deep = plain_get(&hub, "/hooks/alpha").await;
    assert_eq!(
        deep.headers()[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    let missing = plain_get(&hub, "/nope.js").await;
    assert_eq!(missing.status(), 404);
    let api = plain_get(&hub, "/api/nope").await;
    assert_eq!(api.status(), 404);
    let body: Value = api.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    hub.stop().await;
}

#[tokio::test]
async fn a_session_cookie_signs_in_until_sign_out() {
    let (hub, _target, _dir) = start().await;
    let wrong = sign_in(&hub, "not-the-token", &[]).await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get(header::SET_COOKIE).is_none());
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_token");

    let right = sign_in(&hub, ADMIN_TOKEN, &[]).await;
    let cookie = right.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("hookhub_session="), "{cookie}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain http from a client: {cookie}"
    );
    assert!(!cookie.contains(ADMIN_TOKEN));
    let pair = cookie.split(';').next().unwrap();
    let get = |path: &str| {
        hub.client
            .get(format!("{}{path}", hub.url))
            .header(header::COOKIE, pair)
    };
    let status: Value = get("/api/session")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["signedIn"], true);
    assert!(status["csrfToken"].as_str().unwrap().len() >= 32);
    assert_eq!(get("/api/hooks").send().await.unwrap().status(), 200);

    let out = hub
        .client
        .delete(format!("{}/api/session", hub.url))
        .header(header::COOKIE, pair)
        .header("x-csrf-token", status["csrfToken"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    assert!(
        out.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(get("/api/hooks").send().await.unwrap().status(), 401);
    let status: Value = get("/api/session")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status, json!({"signedIn": false}));
    hub.stop().await;
}

#[tokio::test]
async fn the_cookie_is_secure_behind_a_trusted_https_proxy() {
    let (hub, _target, _dir) = start().await;
    let proxied = sign_in(&hub, ADMIN_TOKEN, &[("x-forwarded-proto", "https")]).await;
    let cookie = proxied.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
    hub.stop().await;
}

#[tokio::test]
async fn sign_in_attempts_are_limited() {
    let (hub, _target, _dir) = start().await;
    for _ in 0..10 {
        assert_eq!(sign_in(&hub, "guess", &[]).await.status(), 401);
    }
    let limited = sign_in(&hub, ADMIN_TOKEN, &[]).await;
    assert_eq!(limited.status(), 429, "even the right token waits");
    assert!(limited.headers().contains_key(header::RETRY_AFTER));
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_attempts");
    // Wrong sign-ins and wrong Bearer tokens count together: this address waits for both.
    let bearer = hub.api(Method::GET, "/api/hooks").send().await.unwrap();
    assert_eq!(bearer.status(), 429);
    // Another client (behind the trusted proxy) is not held back.
    let elsewhere = [("x-forwarded-for", "203.0.113.7")];
    assert_eq!(sign_in(&hub, ADMIN_TOKEN, &elsewhere).await.status(), 200);
    hub.stop().await;
}

#[tokio::test]
async fn cookie_requests_that_change_state_need_the_csrf_token() {
    let (hub, target, _dir) = start().await;
    let (cookie, csrf) = session(&hub).await;
    let hook = |id: &str| {
        json!({"id": id, "triggerConfig": {"webhookPath": id}, "action": "webhook",
               "actionConfig": {"webhookUrl": target.url}})
    };
    let post = |body: Value| {
        hub.client
            .post(format!("{}/api/hooks", hub.url))
            .header(header::COOKIE, &cookie)
            .json(&body)
    };
    let bare = post(hook("no-token")).send().await.unwrap();
    assert_eq!(bare.status(), 403);
    let body: Value = bare.json().await.unwrap();
    assert_eq!(body["error"]["code"], "csrf_failed");
    let forged = post(hook("wrong-token"))
        .header("x-csrf-token", "forged")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let hooks = hub.get_json("/api/hooks").await;
    assert_eq!(
        hooks["hooks"].as_array().unwrap().len(),
        2,
        "nothing was created"
    );

    let good = post(hook("with-token"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(good.status(), 201);
    // Bearer requests carry no cookie and need no CSRF token.
    let bearer = hub
        .api(Method::POST, "/api/hooks")
        .json(&hook("bearer"))
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 201);
    hub.stop().await;
}

#[tokio::test]
async fn the_execution_stream_sends_a_hooks_executions_as_they_change() {
    let (hub, _target, _dir) = start().await;
    let url = format!("{}/api/hooks/alpha/executions/stream", hub.url);
    assert_eq!(hub.client.get(&url).send().await.unwrap().status(), 401);
    let mut stream = hub
        .api(Method::GET, "/api/hooks/alpha/executions/stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut seen = String::new();
    common::read_until(&mut stream, &mut seen, |s| s.contains("event: ready")).await;

    let other = common::accepted_ids(hub.deliver("beta", "beta-secret", "{}").await).await;
    let ours = common::accepted_ids(hub.deliver("alpha", "alpha-secret", r#"{"n":1}"#).await).await;
    common::read_until(&mut stream, &mut seen, |s| {
        s.contains("\"status\":\"succeeded\"")
    })
    .await;
    assert!(
        !seen.contains(&other[0]),
        "another hook's execution is not sent:\n{seen}"
    );
    let events: Vec<Value> = seen
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str(d).ok())
        .filter(|v: &Value| v.get("id").is_some())
        .collect();
    assert_eq!(events[0]["id"], ours[0].as_str());
    assert_eq!(events[0]["status"], "queued");
    let last = events.last().unwrap();
    assert_eq!(last["status"], "succeeded");
    assert_eq!(last["attemptCount"], 1);
    assert!(
        last.get("trigger").and_then(|t| t.get("body")).is_none(),
        "no payload"
    );

    // An open stream does not hold up the hub's shutdown.
    tokio::time::timeout(Duration::from_secs(10), hub.stop())
        .await
        .expect("the hub stopped with a stream open");
}
