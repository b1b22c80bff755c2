//! Issue 18, point 2: the admin token as an attacker meets it (SPEC §11, §1). Wrong tokens, by
//! Bearer or sign-in, are counted per client address and answered 429 past ten a minute, the
//! right one included; nobody else's failures lock the owner out; a weak configured token is a
//! warning; `hookhub admin reset-token` replaces a leaked token with the hub stopped or
//! running, and refuses when the config's `admin.token` would override it.

use crate::common;

use std::net::IpAddr;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::binary::{Binary, free_port};
use common::{ADMIN_TOKEN, Hub};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

fn config(server: &str) -> String {
    format!(
        "server: {{ dataDir: \"{{data}}\"{server} }}\nadmin: {{ token: {ADMIN_TOKEN} }}\nhooks: []\n"
    )
}

/// A client whose connections come from `ip` (any 127.x.y.z reaches the hub on loopback).
fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from(ip))
        .build()
        .unwrap()
}

async fn bearer(client: &reqwest::Client, url: &str, token: &str) -> reqwest::Response {
    client.get(url).bearer_auth(token).send().await.unwrap()
}

async fn sign_in(
    client: &reqwest::Client,
    hub: &str,
    token: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut request = client
        .post(format!("{hub}/api/session"))
        .json(&json!({ "token": token }));
    if let Some(ip) = forwarded_for {
        request = request.header("x-forwarded-for", ip);
    }
    request.send().await.unwrap()
}

/// Asserts a `429 too_many_attempts` with a `Retry-After` within the minute.
async fn assert_too_many(response: reqwest::Response, what: &str) {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "{what}");
    let wait: u64 = response.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{what}: Retry-After {wait}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_attempts", "{what}");
}

#[tokio::test]
async fn wrong_bearer_tokens_from_one_address_get_429_and_then_so_does_the_right_one() {
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::start(&config(""), dir.path(), None).await;
    // As the attacker did: guesses all at once, on any admin route, /metrics included.
    let mut guesses = tokio::task::JoinSet::new();
    for i in 0..30 {
        let (client, path) = (hub.client.clone(), ["/api/hooks", "/metrics"][i % 2]);
        let url = format!("{}{path}", hub.url);
        guesses.spawn(async move { bearer(&client, &url, &format!("guess-{i}")).await });
    }
    let mut refused = Vec::new();
    let mut wrong = 0;
    while let Some(answer) = guesses.join_next().await {
        let answer = answer.unwrap();
        match answer.status().as_u16() {
            401 => wrong += 1,
            429 => refused.push(answer),
            other => panic!("a guess got {other}"),
        }
    }
    assert_eq!(
        wrong, 10,
        "ten guesses a minute are answered, however concurrent"
    );
    assert_too_many(refused.pop().unwrap(), "the 11th guess").await;

    // Were the right token let through now, 200 against 429 would tell the guesser.
    for path in ["/api/hooks", "/metrics"] {
        let right = hub.api(Method::GET, path).send().await.unwrap();
        assert_too_many(right, &format!("the right token on {path}")).await;
    }
    let right = sign_in(&hub.client, &hub.url, ADMIN_TOKEN, None).await;
    assert_too_many(right, "signing in with the right token").await;

    // The owner elsewhere is not held back by this address's failures.
    let owner = client_from([127, 0, 0, 2]);
    let url = format!("{}/api/hooks", hub.url);
    assert_eq!(bearer(&owner, &url, ADMIN_TOKEN).await.status(), 200);
    hub.stop().await;
}

#[tokio::test]
async fn failures_from_many_addresses_never_lock_the_owner_out() {
    let dir = tempfile::tempdir().unwrap();
    let server = r#", trustedProxies: ["127.0.0.1/32"]"#;
    let hub = Hub::start(&config(server), dir.path(), None).await;
    let mut answers = Vec::new();
    for i in 0..60 {
        let ip = format!("198.51.100.{i}");
        answers.push(
            sign_in(&hub.client, &hub.url, "guess", Some(&ip))
                .await
                .status(),
        );
    }
    let hooks = format!("{}/api/hooks", hub.url);
    for i in 0..6 {
        for _ in 0..10 {
            let guess = hub.client.get(&hooks).bearer_auth("guess");
            let guess = guess.header("x-forwarded-for", format!("192.0.2.{i}"));
            answers.push(guess.send().await.unwrap().status());
        }
    }

    let owner = Some("203.0.113.7");
    let signed_in = sign_in(&hub.client, &hub.url, ADMIN_TOKEN, owner).await;
    assert_eq!(
        signed_in.status(),
        200,
        "the owner signs in after 120 failures elsewhere"
    );
    let with_bearer = hub.client.get(&hooks).bearer_auth(ADMIN_TOKEN);
    let with_bearer = with_bearer.header("x-forwarded-for", "203.0.113.7");
    assert_eq!(with_bearer.send().await.unwrap().status(), 200);
    // The proxy's own address is a client like any other.
    assert_eq!(bearer(&hub.client, &hooks, ADMIN_TOKEN).await.status(), 200);
    assert!(
        answers.iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "no address failed more than ten times, so none waits: {answers:?}"
    );
    hub.stop().await;
}

const WEAK: &str = "letmein";

/// A config file with a weak `admin.token`, its data dir beside it.
fn weak_config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("hooks.yaml");
    let data = dir.join("data");
    let text = format!(
        "server: {{ dataDir: \"{}\" }}\nadmin: {{ token: {WEAK} }}\nhooks: []\n",
        data.display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn a_weak_configured_token_is_a_warning_everywhere_the_owner_looks() {
    let dir = tempfile::tempdir().unwrap();
    let path = weak_config(dir.path());
    let hub = Hub::start_with_file(&path, None).await;
    let status = hub
        .client
        .get(format!("{}/api/config/status", hub.url))
        .bearer_auth(WEAK)
        .send()
        .await
        .unwrap();
    let status: Value = status.json().await.unwrap();
    let warnings = status["warnings"].to_string();
    assert!(warnings.contains("admin.token: is weak"), "{status:#}");
    assert!(
        !warnings.contains(WEAK),
        "the token itself is never shown: {warnings}"
    );
    hub.stop().await;

    let check = hookhub(
        dir.path(),
        &["check", "--config", &path.display().to_string()],
    )
    .await;
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert_eq!(
        check.status.code(),
        Some(0),
        "a warning, not an error: {stderr}"
    );
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("warning: ") && l.contains("admin.token: is weak")),
        "{stderr}"
    );
    assert!(!stderr.contains(WEAK) && !String::from_utf8_lossy(&check.stdout).contains(WEAK));

    let mut binary = Binary::start(&path, free_port(), dir.path()).await;
    binary.terminate();
    binary.wait_exit(Duration::from_secs(10)).await;
    let log = binary.log_text();
    assert!(
        log.contains("WARN") && log.contains("admin.token: is weak"),
        "{log}"
    );
    assert!(!log.contains(WEAK), "{log}");
}

/// Runs the real binary with `args` in `dir`, where no config is found unless named.
async fn hookhub(dir: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_hookhub"))
        .args(args)
        .current_dir(dir)
        .env_remove("HOOKHUB_CONFIG")
        .output()
        .await
        .unwrap()
}

/// `hookhub admin reset-token --config <config>`: the new token, after asserting success.
async fn reset_token(config: &Path) -> String {
    let args = [
        "admin",
        "reset-token",
        "--config",
        &config.display().to_string(),
    ];
    let out = hookhub(config.parent().unwrap(), &args).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    printed_token(&stdout).unwrap_or_else(|| panic!("no token printed:\n{stdout}"))
}

/// The `hh_…` token on a line of its own in `text`.
fn printed_token(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with("hh_"))
        .map(str::to_string)
}

/// A config file without `admin.token`, so the hub generates one and keeps its hash.
fn generated_config(dir: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("hooks.yaml");
    let text = format!(
        "server: {{ dataDir: \"{}\" }}\nhooks: []\n",
        dir.join("data").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

async fn stop(mut binary: Binary) {
    binary.terminate();
    assert_eq!(binary.wait_exit(Duration::from_secs(10)).await, Some(0));
}

async fn status_with(hub: &Binary, token: &str) -> u16 {
    let client = reqwest::Client::new();
    let url = format!("{}/api/hooks", hub.url);
    bearer(&client, &url, token).await.status().as_u16()
}

#[tokio::test]
async fn reset_token_with_the_hub_stopped_replaces_the_token_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = generated_config(dir.path());
    let hub = Binary::start(&config, free_port(), dir.path()).await;
    let first = printed_token(&hub.out_text()).expect("the first start prints a token");
    assert_eq!(status_with(&hub, &first).await, 200);
    stop(hub).await;

    let new = reset_token(&config).await;
    assert_ne!(new, first);
    let hub = Binary::start(&config, free_port(), dir.path()).await;
    assert_eq!(
        status_with(&hub, &first).await,
        401,
        "the old token is gone"
    );
    assert_eq!(status_with(&hub, &new).await, 200);
    assert!(!hub.log_text().contains(&new), "the token is never logged");
    stop(hub).await;
}

#[tokio::test]
async fn reset_token_while_the_hub_runs_ends_the_old_token_and_every_session() {
    let dir = tempfile::tempdir().unwrap();
    let config = generated_config(dir.path());
    let hub = Binary::start(&config, free_port(), dir.path()).await;
    let old = printed_token(&hub.out_text()).unwrap();
    let client = reqwest::Client::new();
    let signed_in = sign_in(&client, &hub.url, &old, None).await;
    let cookie = signed_in.headers()[header::SET_COOKIE].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let with_cookie = || {
        let url = format!("{}/api/hooks", hub.url);
        client.get(url).header(header::COOKIE, &cookie).send()
    };
    assert_eq!(with_cookie().await.unwrap().status(), 200);

    let new = reset_token(&config).await;
    assert_eq!(status_with(&hub, &old).await, 401, "the old Bearer token");
    assert_eq!(
        with_cookie().await.unwrap().status(),
        401,
        "the old session"
    );
    assert_eq!(status_with(&hub, &new).await, 200);
    let log = hub.log_text();
    assert!(log.contains("the admin token was reset"), "{log}");
    assert!(!log.contains(&new), "{log}");
    let left: Vec<_> = std::fs::read_dir(dir.path().join("data"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("reset"))
        .collect();
    assert!(left.is_empty(), "the request files are gone: {left:?}");

    // Stored, not only in memory: the next start keeps it.
    stop(hub).await;
    let hub = Binary::start(&config, free_port(), dir.path()).await;
    assert_eq!(status_with(&hub, &new).await, 200);
    assert_eq!(status_with(&hub, &old).await, 401);
    stop(hub).await;
}

#[tokio::test]
async fn reset_token_refuses_when_the_config_sets_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let path = weak_config(dir.path());
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let args = [
        "admin",
        "reset-token",
        "--config",
        &path.display().to_string(),
    ];
    let out = hookhub(dir.path(), &args).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("admin.token is set"), "{stderr}");
    assert!(
        stderr.contains("restart the hub"),
        "it says what to do: {stderr}"
    );
    assert!(printed_token(&String::from_utf8_lossy(&out.stdout)).is_none());

    // A running hub whose config sets it refuses too, even when the command was given a
    // config without it: the hub's own config is what decides.
    let hub = Hub::start_with_file(&path, None).await;
    let other = generated_config(&dir.path().join("other"));
    let data = dir.path().join("data");
    let out = hookhub(
        dir.path(),
        &[
            "admin",
            "reset-token",
            "--config",
            &other.display().to_string(),
            "--data-dir",
            &data.display().to_string(),
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the running hub refused the reset"),
        "{stderr}"
    );
    assert!(printed_token(&String::from_utf8_lossy(&out.stdout)).is_none());
    let url = format!("{}/api/hooks", hub.url);
    assert_eq!(bearer(&hub.client, &url, WEAK).await.status(), 200);
    hub.stop().await;
}

#[tokio::test]
async fn reset_token_fails_clearly_when_no_hub_takes_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.display().to_string();
    let args = ["admin", "reset-token", "--data-dir", "/nonexistent/hub"];
    let missing = hookhub(dir.path(), &args).await;
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no data dir at /nonexistent/hub"));

    // The database is held open by something that is not a hub: nobody takes the request.
    let store = hookhub::Store::open(&data).unwrap();
    let out = hookhub(
        dir.path(),
        &["admin", "reset-token", "--data-dir", &data_arg],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no hub took the new token"), "{stderr}");
    assert!(printed_token(&String::from_utf8_lossy(&out.stdout)).is_none());
    assert!(
        !data.join(hookhub::TOKEN_RESET_REQUEST).exists(),
        "withdrawn"
    );
    drop(store);
}
