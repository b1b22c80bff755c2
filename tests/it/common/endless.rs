//! A server on port 0 whose every answer is `200` with a body that does not end: the start it
//! is given, then `x` until the reader hangs up. It counts what it wrote and the hang-ups, so a
//! test can tell that the hub stopped reading rather than holding all of it. Written on a raw
//! socket, so nothing between it and the hub buffers or limits the stream.
//!
//! As a backstop for a hub that does read everything (today's bug, when checking that a test
//! fails without the fix), it stops after [`BACKSTOP`] bytes instead of filling the machine.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The most one answer writes.
pub const BACKSTOP: u64 = 512 * 1024 * 1024;

#[derive(Default)]
struct Counts {
    sent: AtomicU64,
    requests: AtomicUsize,
    hung_up: AtomicUsize,
}

#[derive(Clone)]
pub struct Endless {
    /// `http://127.0.0.1:<port>`; any path answers.
    pub url: String,
    counts: Arc<Counts>,
}

impl Endless {
    pub async fn start(start: &str) -> Endless {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let counts = Arc::new(Counts::default());
        let (shared, start) = (counts.clone(), start.as_bytes().to_vec());
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(answer(socket, start.clone(), shared.clone()));
            }
        });
        Endless { url, counts }
    }

    /// Body bytes written so far, over every answer.
    pub fn sent(&self) -> u64 {
        self.counts.sent.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> usize {
        self.counts.requests.load(Ordering::SeqCst)
    }

    /// Waits up to 5 s until every answer's reader has hung up; whether they all did.
    pub async fn all_hung_up(&self) -> bool {
        for _ in 0..100 {
            if self.counts.hung_up.load(Ordering::SeqCst) == self.requests() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }
}

async fn answer(mut socket: TcpStream, start: Vec<u8>, counts: Arc<Counts>) {
    if read_request(&mut socket).await.is_none() {
        return;
    }
    counts.requests.fetch_add(1, Ordering::SeqCst);
    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n";
    let chunk = vec![b'x'; 64 * 1024];
    let mut ok =
        socket.write_all(head.as_bytes()).await.is_ok() && socket.write_all(&start).await.is_ok();
    while ok && counts.sent.load(Ordering::SeqCst) < BACKSTOP {
        ok = socket.write_all(&chunk).await.is_ok();
        if ok {
            counts.sent.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        }
    }
    if !ok {
        counts.hung_up.fetch_add(1, Ordering::SeqCst);
    }
}

/// Reads one request's head and its `content-length` body, so the client is never left
/// blocked writing it.
async fn read_request(socket: &mut TcpStream) -> Option<()> {
    let mut seen = Vec::new();
    let mut buf = [0; 8192];
    let end = loop {
        let n = socket.read(&mut buf).await.ok().filter(|n| *n > 0)?;
        seen.extend_from_slice(&buf[..n]);
        if let Some(at) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = seen.len() - end;
    while body < length {
        body += socket.read(&mut buf).await.ok().filter(|n| *n > 0)?;
    }
    Some(())
}
