//! The ceiling hookhub's ingress is measured against (see `BENCHMARKS.md`, `bench/run.sh`).
//!
//! A minimal axum server doing only the work the hub cannot avoid for one webhook:
//!
//! - `--mode nostore`: verify the GitHub signature (`X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256
//!   of the body, compared in constant time) and answer 202. The ceiling of HTTP + HMAC alone.
//! - `--mode durable`: the same, then append the body to `--file` and answer 202 only after an
//!   `fdatasync` that concurrent requests share. One thread takes every request waiting, writes
//!   all their bodies, syncs once, and answers them all: the group commit discipline of
//!   `src/store/journal.rs`, without sled, parsing, queueing or actions. The ceiling of a
//!   durable hub.
//!
//! Both serve `POST /api/webhooks/bench` (the hub's path for the bench hook), `POST /sink`
//! (answers 200 without verification: the fast receiver the bench hook forwards to) and
//! `GET /healthz`.
//!
//! `cargo run --release --example ceiling -- --mode nostore|durable --listen 127.0.0.1:PORT
//! [--file PATH] [--secret S]`

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, mpsc};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokio::sync::oneshot;

/// A body to make durable, and where to say it is.
type Job = (Bytes, oneshot::Sender<std::io::Result<()>>);

struct Ceiling {
    secret: Vec<u8>,
    /// `None` in `nostore` mode.
    commit: Option<mpsc::Sender<Job>>,
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let mode = flag("--mode").unwrap_or_else(|| "nostore".into());
    let listen: SocketAddr = flag("--listen")
        .unwrap_or_else(|| "127.0.0.1:3099".into())
        .parse()
        .expect("--listen HOST:PORT");
    let secret = flag("--secret").unwrap_or_else(|| "bench-secret".into());
    let commit = match mode.as_str() {
        "nostore" => None,
        "durable" => {
            let path = flag("--file").expect("--mode durable needs --file PATH");
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap_or_else(|e| panic!("opening {path}: {e}"));
            let (tx, rx) = mpsc::channel::<Job>();
            std::thread::Builder::new()
                .name("ceiling-commit".into())
                .spawn(move || commit_loop(file, &rx))
                .expect("spawning the commit thread");
            Some(tx)
        }
        other => panic!("--mode must be nostore or durable, not {other}"),
    };
    let state = Arc::new(Ceiling {
        secret: secret.into_bytes(),
        commit,
    });
    let app = Router::new()
        .route("/api/webhooks/bench", post(receive))
        .route("/sink", post(|| async { StatusCode::OK }))
        .route("/healthz", get(|| async { "ok" }))
        // The hub's bench config allows 2 MiB bodies; allow the same here.
        .layer(DefaultBodyLimit::max(2 << 20))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {listen}: {e}"));
    eprintln!("ceiling ({mode}) listening on http://{listen}");
    axum::serve(listener, app).await.expect("serving");
}

async fn receive(State(c): State<Arc<Ceiling>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if !verified(&c.secret, &headers, &body) {
        return StatusCode::UNAUTHORIZED;
    }
    let Some(commit) = &c.commit else {
        return StatusCode::ACCEPTED;
    };
    let (done, wait) = oneshot::channel();
    if commit.send((body, done)).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    match wait.await {
        Ok(Ok(())) => StatusCode::ACCEPTED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// GitHub's scheme: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`.
fn verified(secret: &[u8], headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(given) = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha256="))
        .and_then(|hex_sig| hex::decode(hex_sig).ok())
    else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    bool::from(expected.as_slice().ct_eq(&given))
}

/// Each round takes every job queued so far, appends all their bodies, syncs once, and answers
/// them all; requests that arrive during a sync wait for the next round.
fn commit_loop(mut file: File, rx: &mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        jobs.extend(rx.try_iter());
        let result = jobs
            .iter()
            .try_for_each(|(body, _)| {
                file.write_all(body)?;
                file.write_all(b"\n")
            })
            .and_then(|()| file.sync_data());
        for (_, done) in jobs {
            let _ = done.send(
                result
                    .as_ref()
                    .map(|_| ())
                    .map_err(|e| std::io::Error::new(e.kind(), e.to_string())),
            );
        }
    }
}
