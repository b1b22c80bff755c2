//! Two hub processes on one PostgreSQL database (SPEC section 12): the same config file, each
//! hub with its own data dir and port, both with `store: { backend: postgres, url }` naming one
//! fresh database. Work accepted by either runs once across the two, is visible from both, keeps
//! per-hook `concurrency` and `lockKey` order across the two, outlives a hub killed with SIGKILL
//! (its leases run out and the other hub takes its work), and a schedule fires once per tick.
//! [`tables`]: a browser signed in on one hub is signed in on the other, a link code made on
//! one is redeemed through the other, and each lists the other's refused deliveries.
//!
//! Each test would fail against hubs that kept to their own data dirs: an execution accepted
//! by one hub would be unknown to the other, each would run its own share of a hook's work
//! beside the other's, and each would fire every tick.

use crate::common;

/// Sessions, link codes and refused deliveries, shared by the two hubs.
mod tables;

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderMap;
use common::binary::{Binary, free_port};
use common::github_signature;
use common::pg::fresh_database;
use hookhub::parse_rfc3339;
use serde_json::Value;

const TOKEN: &str = "test-admin-token";
/// With `sign: standard` each forward carries `webhook-id`: its execution's id.
const SIGNING_SECRET: &str = "whsec_c2VjcmV0LWtleS1mb3ItdGVzdHM=";

/// Two hubs on one database, and the directory holding their config, data dirs and logs.
struct Pair {
    hubs: [Binary; 2],
    client: reqwest::Client,
    dir: tempfile::TempDir,
    /// The database's URL.
    database: String,
}

/// Starts two hubs at once (so they race for the schema migrations, as two hubs behind a load
/// balancer do) on one config file with `hooks` (YAML list items) and a fresh database;
/// `store` adds fields to the `store` block.
async fn two_hubs(hooks: &str, store: &str) -> Pair {
    two_hubs_with(hooks, store, "").await
}

/// [`two_hubs`] with `extra` (top-level YAML, such as a `channels` block) in the config.
async fn two_hubs_with(hooks: &str, store: &str, extra: &str) -> Pair {
    pair(hooks, store, extra, &format!("admin: {{ token: {TOKEN} }}")).await
}

/// Two hubs on one fresh database, the config's `admin` block being `admin`.
async fn pair(hooks: &str, store: &str, extra: &str, admin: &str) -> Pair {
    let database = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hooks.yaml");
    std::fs::write(
        &config,
        format!(
            r#"
server: {{ rateLimit: {{ perSecond: 0 }} }}
{admin}
store: {{ backend: postgres, url: "{database}"{store} }}
{extra}
hooks:
{hooks}
"#
        ),
    )
    .unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    // Hubs on one database seal API hooks' secrets with one key: each data dir gets a copy.
    let key: [u8; 32] = rand::random();
    for hub in [&a, &b] {
        let data = hub.join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(data.join("secret.key"), key).unwrap();
        std::fs::set_permissions(
            data.join("secret.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    let (a, b) = tokio::join!(start(&config, &a), start(&config, &b));
    Pair {
        hubs: [a, b],
        client: reqwest::Client::new(),
        dir,
        database,
    }
}

/// `hookhub serve` with `config`, its data dir and logs in `dir`.
async fn start(config: &Path, dir: &Path) -> Binary {
    std::fs::create_dir_all(dir).unwrap();
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_hookhub"));
    command
        .args(["serve", "--config"])
        .arg(config)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.join("data"));
    Binary::start_command(command, port, dir).await
}

/// What the forward target has seen.
#[derive(Default)]
struct Seen {
    /// How many times each `webhook-id` (the execution's id) arrived.
    times: HashMap<String, usize>,
    /// The ids in order of arrival.
    order: Vec<String>,
    /// The bodies in order of arrival.
    bodies: Vec<Value>,
    /// Requests being answered now, and the most ever at once.
    in_flight: usize,
    most_in_flight: usize,
    /// The same per body `key`.
    key_in_flight: HashMap<String, usize>,
    most_per_key: usize,
}

/// A forward target that takes `delay` to answer each request and records it in [`Seen`].
async fn target(delay: Duration) -> (String, Arc<Mutex<Seen>>) {
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let shared = seen.clone();
    let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
        let seen = shared.clone();
        async move {
            let id = headers["webhook-id"].to_str().unwrap().to_string();
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let key = body["key"].as_str().map(str::to_string);
            {
                let mut s = seen.lock().unwrap();
                *s.times.entry(id.clone()).or_default() += 1;
                s.order.push(id);
                s.bodies.push(body);
                s.in_flight += 1;
                s.most_in_flight = s.most_in_flight.max(s.in_flight);
                if let Some(key) = &key {
                    let now = {
                        let n = s.key_in_flight.entry(key.clone()).or_default();
                        *n += 1;
                        *n
                    };
                    s.most_per_key = s.most_per_key.max(now);
                }
            }
            // Counted down when the answer goes or the hub hangs up (the future is dropped).
            let _leave = Leave { seen, key };
            tokio::time::sleep(delay).await;
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

/// Takes a request out of the in-flight counts when it ends, answered or abandoned.
struct Leave {
    seen: Arc<Mutex<Seen>>,
    key: Option<String>,
}

impl Drop for Leave {
    fn drop(&mut self) {
        let mut s = self.seen.lock().unwrap();
        s.in_flight -= 1;
        if let Some(n) = self.key.as_ref().and_then(|k| s.key_in_flight.get_mut(k)) {
            *n -= 1;
        }
    }
}

/// Sends `body` to `path` on the hub at `url`, GitHub-signed with `s3cret`; the status and
/// the answer, or None when the hub cannot be reached.
async fn send(
    client: &reqwest::Client,
    url: &str,
    path: &str,
    body: &str,
    extra: &[(&str, &str)],
) -> Option<(u16, Value)> {
    let mut request = client
        .post(format!("{url}/api/webhooks/{path}"))
        .header("content-type", "application/json")
        .header(
            "x-hub-signature-256",
            github_signature("s3cret", body.as_bytes()),
        )
        .body(body.to_string());
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let response = request.send().await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.json().await.unwrap_or(Value::Null)))
}

/// The execution id of a 202, retrying while the hub answers otherwise (503 while its queue
/// is full) for up to 10 s.
async fn accepted(client: &reqwest::Client, url: &str, path: &str, body: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = send(client, url, path, body, &[]).await;
        if let Some((202, answer)) = &answer {
            return answer["executions"][0]["executionId"]
                .as_str()
                .unwrap()
                .to_string();
        }
        assert!(
            Instant::now() < deadline,
            "{url} did not accept {body}: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Six senders at once, each sending `each` deliveries to `path`, alternating between the
/// hubs; the execution id of each 202 and the hub (0 or 1) that gave it.
async fn spread(pair: &Pair, path: &'static str, each: usize) -> Vec<(String, usize)> {
    let senders: Vec<_> = (0..6)
        .map(|s| {
            let client = pair.client.clone();
            let urls = pair.hubs.each_ref().map(|h| h.url.clone());
            tokio::spawn(async move {
                let mut taken = Vec::new();
                for n in 0..each {
                    let hub = (s + n) % 2;
                    let body = format!(r#"{{"sender":{s},"n":{n}}}"#);
                    taken.push((accepted(&client, &urls[hub], path, &body).await, hub));
                }
                taken
            })
        })
        .collect();
    let mut taken = Vec::new();
    for sender in senders {
        taken.extend(sender.await.unwrap());
    }
    taken
}

async fn execution(client: &reqwest::Client, url: &str, id: &str) -> Value {
    match client
        .get(format!("{url}/api/executions/{id}"))
        .bearer_auth(TOKEN)
        .send()
        .await
    {
        Ok(response) => response.json().await.unwrap_or(Value::Null),
        Err(e) => Value::String(format!("no answer: {e}")),
    }
}

/// The execution as the hub at `url` shows it once it is final, or as it stands at `deadline`.
async fn settled(client: &reqwest::Client, url: &str, id: &str, deadline: Instant) -> Value {
    loop {
        let e = execution(client, url, id).await;
        let done = ["succeeded", "failed", "skipped"].contains(&e["status"].as_str().unwrap_or(""));
        if done || Instant::now() >= deadline {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A webhook hook forwarding to `target`, signed so each request carries its execution's id.
fn forward_hook(id: &str, target: &str, trigger: &str, concurrency: usize) -> String {
    format!(
        r#"  - id: {id}
    triggerConfig: {{ webhookPath: {id}, webhookSecret: s3cret{trigger} }}
    action: webhook
    actionConfig: {{ webhookUrl: "{target}", sign: standard, signingSecret: {SIGNING_SECRET}, concurrency: {concurrency} }}
"#
    )
}

/// Asserts each of `ids` reached the target exactly once, and nothing else did.
fn assert_each_ran_once(seen: &Seen, ids: &[String]) {
    let missing: Vec<_> = ids
        .iter()
        .filter(|id| !seen.times.contains_key(*id))
        .collect();
    assert!(missing.is_empty(), "accepted but never run: {missing:?}");
    let repeated: Vec<_> = seen.times.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "run more than once: {repeated:?}");
    assert_eq!(
        seen.times.len(),
        ids.len(),
        "the target saw executions nobody sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_delivery_runs_once_whichever_hub_took_it_and_both_hubs_show_it() {
    let (url, seen) = target(Duration::from_millis(5)).await;
    let pair = two_hubs(&forward_hook("fwd", &url, "", 4), "").await;
    let client = &pair.client;

    let taken = spread(&pair, "fwd", 10).await;

    // Each is readable, and succeeded, from the hub that did not take it and the one that did.
    let deadline = Instant::now() + Duration::from_secs(20);
    for (id, hub) in &taken {
        let other = settled(client, &pair.hubs[1 - hub].url, id, deadline).await;
        assert_eq!(
            other["status"], "succeeded",
            "{id}, taken by hub {hub}, as the other hub shows it: {other:#}"
        );
        let own = execution(client, &pair.hubs[*hub].url, id).await;
        assert_eq!(own["status"], "succeeded", "{id} on hub {hub}: {own:#}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ids: Vec<String> = taken.into_iter().map(|(id, _)| id).collect();
    assert_each_ran_once(&seen.lock().unwrap(), &ids);

    // A delivery id claimed through one hub is a duplicate through the other.
    let delivery = [("x-github-delivery", "6f1a0b4e-2c1d-4e63-9a55-0d7e5b3c9f21")];
    let body = r#"{"once":true}"#;
    let first = send(client, &pair.hubs[0].url, "fwd", body, &delivery).await;
    let Some((202, first)) = first else {
        panic!("not accepted by hub 0: {first:?}")
    };
    let again = send(client, &pair.hubs[1].url, "fwd", body, &delivery).await;
    let Some((200, again)) = again else {
        panic!("hub 1 did not answer the repeat as a duplicate: {again:?}")
    };
    assert_eq!(again["duplicate"], true);
    assert_eq!(
        again["executions"][0]["executionId"],
        first["executions"][0]["executionId"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_one_holds_across_both_hubs() {
    let (url, seen) = target(Duration::from_millis(40)).await;
    let pair = two_hubs(&forward_hook("serial", &url, "", 1), "").await;
    let client = &pair.client;

    // Both hubs hold queued work for the hook at once.
    let taken = spread(&pair, "serial", 5).await;

    let deadline = Instant::now() + Duration::from_secs(20);
    for (id, hub) in &taken {
        let e = settled(client, &pair.hubs[*hub].url, id, deadline).await;
        assert_eq!(e["status"], "succeeded", "{id} on hub {hub}: {e:#}");
    }
    let ids: Vec<String> = taken.into_iter().map(|(id, _)| id).collect();
    let seen = seen.lock().unwrap();
    assert_each_ran_once(&seen, &ids);
    assert_eq!(
        seen.most_in_flight, 1,
        "concurrency: 1, yet the target had requests from both hubs at once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_key_order_holds_across_both_hubs() {
    let (url, seen) = target(Duration::from_millis(150)).await;
    let lock_key = r#", lockKey: "{{webhook.body.key}}""#;
    let pair = two_hubs(&forward_hook("keyed", &url, lock_key, 4), "").await;
    let client = &pair.client;

    // One at a time, so the order of the 202s is the order of acceptance: four keys in turn,
    // each key's deliveries alternating between the hubs.
    let mut taken: Vec<(String, u64, String, usize)> = Vec::new();
    for n in 0..8u64 {
        for k in 0..4usize {
            let hub = (n as usize + k) % 2;
            let key = format!("k{k}");
            let body = format!(r#"{{"key":"{key}","n":{n}}}"#);
            let id = accepted(client, &pair.hubs[hub].url, "keyed", &body).await;
            taken.push((key, n, id, hub));
        }
    }

    // Each runs, or collapses into an earlier one of its key that had not started yet.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut ran: HashMap<String, Vec<u64>> = HashMap::new();
    let mut ids = Vec::new();
    for (key, n, id, hub) in &taken {
        let e = settled(client, &pair.hubs[*hub].url, id, deadline).await;
        match e["status"].as_str() {
            Some("succeeded") => {
                ran.entry(key.clone()).or_default().push(*n);
                ids.push(id.clone());
            }
            Some("skipped") if e["collapsedInto"].is_string() => {}
            _ => panic!("{key} #{n} ({id}, hub {hub}) did not run: {e:#}"),
        }
    }
    let seen = seen.lock().unwrap();
    assert_each_ran_once(&seen, &ids);
    assert_eq!(
        seen.most_per_key, 1,
        "two executions of one lockKey ran at once"
    );
    let mut arrived: HashMap<String, Vec<u64>> = HashMap::new();
    for body in &seen.bodies {
        let key = body["key"].as_str().unwrap().to_string();
        arrived
            .entry(key)
            .or_default()
            .push(body["n"].as_u64().unwrap());
    }
    assert_eq!(
        arrived, ran,
        "each key's bodies, in order of arrival at the target, against the order of acceptance"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_killed_under_load_leaves_its_work_to_the_other() {
    let (url, seen) = target(Duration::from_millis(100)).await;
    let mut pair = two_hubs(&forward_hook("fwd", &url, "", 4), ", lease: 2s").await;
    let client = pair.client.clone();

    // Senders keep both hubs busy until hub 0 is killed; each remembers what got a 202.
    let taken: Arc<Mutex<Vec<String>>> = Arc::default();
    let senders: Vec<_> = (0..8)
        .map(|s| {
            let (client, taken) = (client.clone(), taken.clone());
            let urls = pair.hubs.each_ref().map(|h| h.url.clone());
            tokio::spawn(async move {
                for n in 0usize.. {
                    let body = format!(r#"{{"sender":{s},"n":{n}}}"#);
                    match send(&client, &urls[(s + n) % 2], "fwd", &body, &[]).await {
                        Some((202, answer)) => taken.lock().unwrap().push(
                            answer["executions"][0]["executionId"]
                                .as_str()
                                .unwrap()
                                .to_string(),
                        ),
                        // 503 while a queue is full, or the hub is gone: keep trying.
                        _ => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(15);
    while taken.lock().unwrap().len() < 80 {
        assert!(
            Instant::now() < deadline,
            "the hubs did not take 80 deliveries in 15 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let running = seen.lock().unwrap().in_flight;
    pair.hubs[0].kill();
    tokio::time::sleep(Duration::from_millis(100)).await;
    senders.iter().for_each(|s| s.abort());
    let taken = taken.lock().unwrap().clone();
    eprintln!(
        "killed hub 0 with {running} forwards in flight, {} accepted",
        taken.len()
    );

    // Forwards are retried after a crash (SPEC section 7): all of them succeed, through hub 1,
    // the killed hub's leased ones once their 2 s leases have run out.
    let survivor = &pair.hubs[1].url;
    let deadline = Instant::now() + Duration::from_secs(30);
    for id in &taken {
        let e = settled(&client, survivor, id, deadline).await;
        assert_eq!(e["status"], "succeeded", "{id}, after the kill: {e:#}");
    }
    let seen = seen.lock().unwrap();
    let missing: Vec<_> = taken
        .iter()
        .filter(|id| !seen.times.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "accepted but never delivered: {missing:?}"
    );
    // One in flight at the kill may arrive twice, with the same webhook-id; no more than the
    // killed hub's share of the hook's concurrency can be.
    let repeated: Vec<_> = seen.times.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        repeated.len() <= 4,
        "delivered more than once: {repeated:?}"
    );
    assert!(seen.times.values().all(|n| *n <= 2), "{repeated:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_fires_once_per_tick_across_both_hubs() {
    let (url, seen) = target(Duration::ZERO).await;
    let hook = format!(
        r#"  - id: tick
    trigger: schedule
    triggerConfig: {{ cron: "* * * * * *" }}
    action: webhook
    actionConfig: {{ webhookUrl: "{url}", sign: standard, signingSecret: {SIGNING_SECRET} }}
"#
    );
    let pair = two_hubs(&hook, "").await;
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let order = seen.lock().unwrap().order.clone();

    // The tick of each run is the second it was fired in (`receivedAt`), as whichever hub knows
    // the execution says.
    let mut ticks: HashMap<u64, Vec<&String>> = HashMap::new();
    for id in &order {
        let mut shown = Value::Null;
        for hub in &pair.hubs {
            shown = execution(&pair.client, &hub.url, id).await;
            if shown["receivedAt"].is_string() {
                break;
            }
        }
        let fired = shown["receivedAt"]
            .as_str()
            .and_then(parse_rfc3339)
            .unwrap_or_else(|| panic!("neither hub shows the run {id}: {shown:#}"));
        ticks.entry(fired / 1000).or_default().push(id);
    }
    let twice: Vec<_> = ticks.iter().filter(|(_, ids)| ids.len() > 1).collect();
    assert!(twice.is_empty(), "ticks fired more than once: {twice:?}");
    let distinct: HashSet<&String> = order.iter().collect();
    assert_eq!(
        distinct.len(),
        order.len(),
        "a run reached the target twice: {order:?}"
    );
    assert!(
        ticks.len() >= 3,
        "a schedule of every second fired {} times in 4.5 s",
        ticks.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_log_of_one_hub_shows_what_the_other_accepted_and_ran() {
    let (url, _seen) = target(Duration::from_millis(5)).await;
    let pair = two_hubs(&forward_hook("fwd", &url, "", 2), "").await;
    let client = &pair.client;
    let mut stream = client
        .get(format!(
            "{}/api/hooks/fwd/executions/stream",
            pair.hubs[1].url
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut seen = String::new();
    common::read_until(&mut stream, &mut seen, |s| s.contains("event: ready")).await;

    let id = accepted(client, &pair.hubs[0].url, "fwd", r#"{"n":1}"#).await;
    common::read_until(&mut stream, &mut seen, |s| {
        s.lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .any(|v| v["id"] == id.as_str() && v["status"] == "succeeded")
    })
    .await;
}

/// The status of `GET /api/hooks` on `url` with `token`.
async fn with_token(client: &reqwest::Client, url: &str, token: &str) -> u16 {
    client
        .get(format!("{url}/api/hooks"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The `hh_…` token a command or a hub printed.
fn printed_token(text: &str) -> Option<String> {
    text.split_whitespace()
        .find(|w| w.starts_with("hh_"))
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_generated_admin_token_and_a_reset_reach_every_hub() {
    let (url, _seen) = target(Duration::from_millis(5)).await;
    let pair = pair(
        &forward_hook("fwd", &url, "", 2),
        "",
        "",
        "admin: { token: \"\" }",
    )
    .await;
    let client = &pair.client;
    // Started together on an empty database: one of them generated the token, and both use it.
    let printed: Vec<String> = pair
        .hubs
        .iter()
        .filter_map(|h| printed_token(&h.out_text()))
        .collect();
    assert_eq!(printed.len(), 1, "one hub printed a token: {printed:?}");
    let first = &printed[0];
    for hub in &pair.hubs {
        assert_eq!(with_token(client, &hub.url, first).await, 200);
    }

    // Reset through the command on hub 0's machine: both hubs take the new token.
    let out = Command::new(env!("CARGO_BIN_EXE_hookhub"))
        .args(["admin", "reset-token", "--config"])
        .arg(pair.dir.path().join("hooks.yaml"))
        .arg("--data-dir")
        .arg(pair.dir.path().join("a/data"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new = printed_token(&text).expect("the command printed the new token");
    let deadline = Instant::now() + Duration::from_secs(5);
    for hub in &pair.hubs {
        while with_token(client, &hub.url, &new).await != 200 {
            assert!(
                Instant::now() < deadline,
                "{} did not take the new token",
                hub.url
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(with_token(client, &hub.url, first).await, 401);
    }
}

/// The JSON answer to an admin API request.
async fn admin_json(request: reqwest::RequestBuilder) -> Value {
    let response = request.bearer_auth(TOKEN).send().await.unwrap();
    response.json().await.unwrap()
}

/// The status of a signed delivery to `path` on the hub at `url` once it is `want`, sending
/// again for up to 5 s (the other hub's change reaches this one through PostgreSQL); the last
/// status when it never is.
async fn status_becomes(client: &reqwest::Client, url: &str, path: &str, want: u16) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = send(client, url, path, r#"{"n":1}"#, &[])
            .await
            .map_or(0, |(status, _)| status);
        if status == want || Instant::now() >= deadline {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_made_edited_or_deleted_through_one_hub_is_in_force_on_the_other() {
    let (url, seen) = target(Duration::ZERO).await;
    let pair = two_hubs(&forward_hook("fwd", &url, "", 4), "").await;
    let client = &pair.client;
    let [made_on, other] = pair.hubs.each_ref().map(|h| h.url.clone());
    let hook = serde_json::json!({
        "id": "made",
        "triggerConfig": { "webhookPath": "made", "webhookSecret": "s3cret" },
        "action": "webhook",
        "actionConfig": { "webhookUrl": url, "sign": "standard", "signingSecret": SIGNING_SECRET },
    });
    let create = || async {
        let request = client.post(format!("{made_on}/api/hooks")).json(&hook);
        request.bearer_auth(TOKEN).send().await.unwrap()
    };
    let created = create().await;
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());

    // The other hub takes its deliveries, and they run.
    assert_eq!(status_becomes(client, &other, "made", 202).await, 202);
    let id = accepted(client, &other, "made", r#"{"n":2}"#).await;
    let run = settled(
        client,
        &other,
        &id,
        Instant::now() + Duration::from_secs(10),
    )
    .await;
    assert_eq!(run["status"], "succeeded", "{run:#}");
    assert!(seen.lock().unwrap().times.contains_key(&id));

    // A new path given through the first hub: the other answers on it, and not on the old.
    let rotated = admin_json(client.post(format!("{made_on}/api/hooks/made/rotate-path"))).await;
    let path = rotated["webhookPath"].as_str().unwrap().to_string();
    assert_eq!(status_becomes(client, &other, &path, 202).await, 202);
    assert_eq!(status_becomes(client, &other, "made", 404).await, 404);

    // Deleted through the first hub: gone from the other too.
    let deleted = client
        .delete(format!("{made_on}/api/hooks/made"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(status_becomes(client, &other, &path, 404).await, 404);
    let listed = admin_json(client.get(format!("{other}/api/hooks"))).await;
    let ids: Vec<&str> = listed["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["id"].as_str())
        .collect();
    assert_eq!(ids, ["fwd"]);

    // Made while the other hub's listening connection is down, so it is never told: it reads
    // the set again once listening anew.
    let (db, connection) = tokio_postgres::connect(&pair.database, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let cut = db
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND query LIKE 'LISTEN%'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(cut, 2, "each hub had one listening connection");
    assert_eq!(create().await.status(), 201);
    assert_eq!(status_becomes(client, &other, "made", 202).await, 202);
}
