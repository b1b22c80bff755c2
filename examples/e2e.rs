//! End-to-end latency of a forward: sends signed deliveries to a running hub at a fixed rate
//! (open loop: a late answer never slows the sender down) and runs the forward target itself,
//! so it measures from the moment a delivery is sent to the moment its forward arrives.
//!
//! ```text
//! cargo run --release --example e2e -- --hub http://127.0.0.1:3005/api/webhooks/bench \
//!     --sink-listen 127.0.0.1:9900 --secret bench-secret --rate 1000 --seconds 20
//! ```
//! The hub's hook must forward to `http://<sink-listen>/sink` with the body unchanged. Prints
//! one line of JSON: sent, accepted (202), forwarded, p50/p90/p99/max of the forward's arrival
//! in ms, and `ack_p50_ms`/`ack_p99_ms`: how long the 202 took (the durable write), so a slow
//! tail can be told apart from a slow worker.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use hmac::{Hmac, Mac};
use sha2::Sha256;

struct Args {
    hub: String,
    sink_listen: String,
    secret: String,
    rate: u64,
    seconds: u64,
    body_bytes: usize,
}

fn args() -> Args {
    let mut args = Args {
        hub: "http://127.0.0.1:3005/api/webhooks/bench".into(),
        sink_listen: "127.0.0.1:9900".into(),
        secret: "bench-secret".into(),
        rate: 1000,
        seconds: 20,
        body_bytes: 1024,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--hub" => args.hub = value,
            "--sink-listen" => args.sink_listen = value,
            "--secret" => args.secret = value,
            "--rate" => args.rate = value.parse().expect("--rate is a number"),
            "--seconds" => args.seconds = value.parse().expect("--seconds is a number"),
            "--body-bytes" => args.body_bytes = value.parse().expect("--body-bytes is a number"),
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

/// Send times by sequence number, and the latencies of the forwards that arrived.
#[derive(Default)]
struct Book {
    sent: HashMap<u64, Instant>,
    latencies: Vec<Duration>,
    acks: Vec<Duration>,
}

fn body(seq: u64, size: usize) -> String {
    let head = format!(r#"{{"seq":{seq},"pad":""#);
    let pad = size.saturating_sub(head.len() + 2);
    format!("{head}{}\"}}", "x".repeat(pad))
}

fn seq_of(body: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(body).ok()?;
    let rest = text.strip_prefix(r#"{"seq":"#)?;
    rest.split(',').next()?.parse().ok()
}

/// The sender and the sink each run on a thread of their own (one single-threaded runtime
/// each), so a forward's arrival is stamped the moment it is read, not when the sender lets
/// the runtime get to it, and neither adds thread hand-offs of its own to what is measured.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = args();
    let book: Arc<Mutex<Book>> = Arc::default();
    let sink_book = book.clone();
    let sink = axum::Router::new().route(
        "/sink",
        axum::routing::post(move |body: Bytes| {
            let book = sink_book.clone();
            async move {
                let arrived = Instant::now();
                if let Some(seq) = seq_of(&body) {
                    let mut book = book.lock().unwrap();
                    if let Some(sent) = book.sent.get(&seq).copied() {
                        book.latencies.push(arrived - sent);
                    }
                }
                "ok"
            }
        }),
    );
    let listener = std::net::TcpListener::bind(&args.sink_listen).unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, sink).await.unwrap();
        });
    });

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let accepted = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let period = Duration::from_nanos(1_000_000_000 / args.rate.max(1));
    let total = args.rate * args.seconds;
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sends = Vec::with_capacity(total as usize);
    for seq in 0..total {
        tick.tick().await;
        let text = body(seq, args.body_bytes);
        let mut mac = Hmac::<Sha256>::new_from_slice(args.secret.as_bytes()).unwrap();
        mac.update(text.as_bytes());
        let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        let request = client
            .post(&args.hub)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(text);
        let sent = Instant::now();
        book.lock().unwrap().sent.insert(seq, sent);
        let accepted = accepted.clone();
        let ack_book = book.clone();
        sends.push(tokio::spawn(async move {
            if let Ok(r) = request.send().await
                && r.status() == 202
            {
                ack_book.lock().unwrap().acks.push(sent.elapsed());
                accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }));
    }
    for send in sends {
        let _ = send.await;
    }
    // Let the last forwards arrive.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (mut latencies, mut acks) = {
        let book = book.lock().unwrap();
        (book.latencies.clone(), book.acks.clone())
    };
    latencies.sort();
    acks.sort();
    let at = |sorted: &[Duration], q: f64| {
        sorted
            .get(((sorted.len() as f64 * q) as usize).min(sorted.len().saturating_sub(1)))
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        r#"{{"rate":{},"seconds":{},"sent":{total},"accepted":{},"forwarded":{},"p50_ms":{:.2},"p90_ms":{:.2},"p99_ms":{:.2},"max_ms":{:.2},"ack_p50_ms":{:.2},"ack_p99_ms":{:.2}}}"#,
        args.rate,
        args.seconds,
        accepted.load(std::sync::atomic::Ordering::Relaxed),
        latencies.len(),
        at(&latencies, 0.50),
        at(&latencies, 0.90),
        at(&latencies, 0.99),
        at(&latencies, 1.0),
        at(&acks, 0.50),
        at(&acks, 0.99),
    );
}
