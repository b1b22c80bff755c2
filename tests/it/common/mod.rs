//! Shared test harness: the real hub on 127.0.0.1:0 with a temporary data dir, and a local
//! forward target that records what it receives and answers what it is told; `pg` gives a
//! test a fresh PostgreSQL database.

pub mod binary;
pub mod endless;
pub mod llm;
pub mod pg;
pub mod slack;
pub mod telegram;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use hmac::{Hmac, Mac};
use hookhub::ManualClock;
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const ADMIN_TOKEN: &str = "test-admin-token";

/// A running hub.
pub struct Hub {
    pub url: String,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), hookhub::RunError>>>,
}

impl Hub {
    /// Starts the hub with `yaml` (after `{data}` is replaced by `data_dir`), on a manual clock
    /// when one is given.
    pub async fn start(yaml: &str, data_dir: &Path, clock: Option<ManualClock>) -> Hub {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let text = yaml.replace("{data}", &data_dir.display().to_string());
        let config = hookhub::load_str(&text, "test.yaml", &|_| None)
            .unwrap_or_else(|e| panic!("test config is invalid:\n{e}"));
        let mut options = hookhub::RunOptions::default();
        if let Some(clock) = clock {
            options.clock = Arc::new(clock);
        }
        Self::start_with_options(config, options).await
    }

    /// Starts a forward target that answers 200, and the hub with `config(target_url)` in a
    /// fresh data dir (kept alive by the returned `TempDir`).
    pub async fn start_with_target(
        config: impl Fn(&str) -> String,
    ) -> (Hub, Target, tempfile::TempDir) {
        let target = Target::start(&[]).await;
        let dir = tempfile::tempdir().unwrap();
        let hub = Hub::start(&config(&target.url), dir.path(), None).await;
        (hub, target, dir)
    }

    /// Starts the hub from the config file at `path`, which it watches and reloads (the file's
    /// `server.dataDir` must point into a temporary directory).
    pub async fn start_with_file(path: &Path, clock: Option<ManualClock>) -> Hub {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config =
            hookhub::load_file(path).unwrap_or_else(|e| panic!("test config is invalid:\n{e}"));
        let mut options = hookhub::RunOptions {
            config_path: Some(path.to_path_buf()),
            ..hookhub::RunOptions::default()
        };
        if let Some(clock) = clock {
            options.clock = Arc::new(clock);
        }
        Self::start_with_options(config, options).await
    }

    /// Starts the hub with a loaded config and options.
    pub async fn start_with_options(config: hookhub::Config, options: hookhub::RunOptions) -> Hub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(hookhub::run_with(
            config,
            listener,
            async move {
                let _ = stopped.await;
            },
            options,
        ));
        let hub = Hub {
            url: format!("http://{addr}"),
            client: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
        };
        hub.wait_until_ready().await
    }

    /// Waits for `/healthz`, failing with the hub's own error if it stopped instead.
    async fn wait_until_ready(mut self) -> Hub {
        for _ in 0..200 {
            if self.task.as_ref().unwrap().is_finished() {
                let result = self.task.take().unwrap().await.unwrap();
                panic!("the hub stopped while starting: {result:?}");
            }
            let health = self
                .client
                .get(format!("{}/healthz", self.url))
                .send()
                .await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return self;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the hub did not become ready in 5 s");
    }

    /// Stops the hub and waits until it has let go of its data dir.
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        // Close pooled keep-alive connections so graceful shutdown does not wait on them.
        self.client = reqwest::Client::new();
        self.task.take().unwrap().await.unwrap().unwrap();
    }

    /// POSTs `body` to `/api/webhooks/<path>` signed GitHub-style with `secret`.
    pub async fn deliver(&self, path: &str, secret: &str, body: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/api/webhooks/{path}", self.url))
            .header("content-type", "application/json")
            .header("x-github-event", "push")
            .header(
                "x-hub-signature-256",
                github_signature(secret, body.as_bytes()),
            )
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    pub fn api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(ADMIN_TOKEN)
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.api(reqwest::Method::GET, path).send().await.unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    /// Polls an execution until `done` holds for it (10 s at most).
    pub async fn wait_for_execution(&self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        for _ in 0..200 {
            last = self.get_json(&format!("/api/executions/{id}")).await;
            if done(&last) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("execution {id} never reached the expected state; last seen:\n{last:#}");
    }

    /// Waits until the execution's status is `status`.
    pub async fn wait_for_status(&self, id: &str, status: &str) -> Value {
        self.wait_for_execution(id, |e| e["status"] == status).await
    }
}

/// `sha256=<hex HMAC-SHA256>`, computed here independently of the hub's code.
pub fn github_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The execution ids of a 202 answer.
pub async fn accepted_ids(response: reqwest::Response) -> Vec<String> {
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    body["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["executionId"].as_str().unwrap().to_string())
        .collect()
}

/// One request the target received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The path and query it was sent to.
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A forward target on 127.0.0.1:0: answers from a script of statuses (then 200 forever).
#[derive(Clone)]
pub struct Target {
    pub url: String,
    pub received: Arc<Mutex<Vec<Received>>>,
}

impl Target {
    pub async fn start(script: &[u16]) -> Target {
        let received = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script.iter().copied().collect::<VecDeque<_>>()));
        let (r, s) = (received.clone(), script);
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let (r, s) = (r.clone(), s.clone());
            async move {
                r.lock().unwrap().push(Received { uri, headers, body });
                let status = s.lock().unwrap().pop_front().unwrap_or(200);
                (
                    StatusCode::from_u16(status).unwrap(),
                    format!("target said {status}"),
                )
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Target {
            url: format!("http://{addr}/hook"),
            received,
        }
    }

    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    pub fn bodies(&self) -> Vec<String> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect()
    }
}

/// A hook as `GET /api/hooks/:id` showed it, ready to be sent back: without the fields only the
/// API adds, as the web UI sends it.
pub fn as_sent_back(mut shown: Value) -> Value {
    for field in [
        "source",
        "readOnly",
        "url",
        "hasSecret",
        "queued",
        "lastExecution",
    ] {
        shown.as_object_mut().unwrap().remove(field);
    }
    shown
}

/// Every file under `dir` whose bytes contain `needle`.
pub fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if std::fs::read(&path)
            .unwrap()
            .windows(needle.len())
            .any(|w| w == needle)
        {
            found.push(path);
        }
    }
    found
}

/// Reads the event stream until `found` holds for the text read so far (5 s at most).
pub async fn read_until(
    stream: &mut reqwest::Response,
    seen: &mut String,
    found: impl Fn(&str) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !found(seen) {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .unwrap_or_else(|_| panic!("the stream did not send it in 5 s; got:\n{seen}"))
            .unwrap()
            .expect("the stream ended early");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}
