//! `hookhub sign` and `hookhub send` (SPEC §1): sign a body as a sender of some scheme would,
//! to test a hook by hand. Both use [`crate::verify::sign_headers`], the same code the
//! `webhook` action signs with, so a hook that accepts these accepts real senders too.

use std::io::{IsTerminal, Read};
use std::time::Duration;

use super::{SendArgs, SignArgs};
use crate::clock::{Clock, SystemClock};
use crate::verify::{SIGNABLE, sign_headers};

/// Header `(name, value)` pairs, as `sign_headers` returns them.
type Headers = Vec<(String, String)>;

/// Exit code for a usage mistake (unknown scheme, unreadable body), as clap uses.
const USAGE: i32 = 2;
/// How long `send` waits for the hub to answer.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Prints the headers a sender would attach, one `Name: value` per line.
pub fn run_sign(args: &SignArgs) -> i32 {
    match signed(args) {
        Ok((headers, _)) => {
            for (name, value) in headers {
                println!("{name}: {value}");
            }
            0
        }
        Err(message) => {
            eprintln!("hookhub sign: {message}");
            USAGE
        }
    }
}

/// Signs the body and POSTs it to the URL; prints `HTTP <status>` and the response body.
/// Exit 0 for a 2xx answer, 1 otherwise.
pub fn run_send(args: &SendArgs) -> i32 {
    let (headers, body) = match signed(&args.sign) {
        Ok(signed) => signed,
        Err(message) => {
            eprintln!("hookhub send: {message}");
            return USAGE;
        }
    };
    // `main` is synchronous; one request needs no more than a single-threaded runtime.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("hookhub send: cannot start the async runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(post(&args.url, headers, body)) {
        Ok((status, text)) => {
            println!("HTTP {status}");
            println!("{text}");
            if (200..300).contains(&status) { 0 } else { 1 }
        }
        Err(e) => {
            eprintln!("hookhub send: {}: {}", args.url, with_causes(&e));
            1
        }
    }
}

/// An error and its causes, since reqwest's own text ("error sending request") hides
/// whether the connection was refused, timed out or failed TLS.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The signed headers and the body they sign.
fn signed(args: &SignArgs) -> Result<(Headers, Vec<u8>), String> {
    // Refuse a scheme that cannot be signed before waiting on standard input for a body.
    if !SIGNABLE.contains(&args.scheme.as_str()) {
        return Err(sign_headers(&args.scheme, "", b"", 0, "")
            .err()
            .unwrap_or_else(|| format!("cannot sign for scheme `{}`", args.scheme)));
    }
    let body = read_body(args)?;
    let message_id = format!("msg_{}", ulid::Ulid::new());
    let headers = sign_headers(
        &args.scheme,
        &args.secret,
        &body,
        SystemClock.now_ms(),
        &message_id,
    )?;
    Ok((headers, body))
}

/// The body from `--data`, `--file`, or standard input when neither is given.
fn read_body(args: &SignArgs) -> Result<Vec<u8>, String> {
    if let Some(data) = &args.data {
        return Ok(data.as_bytes().to_vec());
    }
    if let Some(path) = &args.file {
        return std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()));
    }
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        // Without this, a forgotten --data looks like a hang.
        eprintln!("reading the body from standard input; end it with Ctrl-D");
    }
    let mut body = Vec::new();
    stdin
        .read_to_end(&mut body)
        .map_err(|e| format!("cannot read standard input: {e}"))?;
    Ok(body)
}

/// POSTs the signed JSON body; the status code and the response text.
async fn post(url: &str, headers: Headers, body: Vec<u8>) -> Result<(u16, String), reqwest::Error> {
    // A process-wide crypto provider must be chosen before rustls builds a client; `serve`
    // does the same, and a second install is a harmless no-op error.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().timeout(SEND_TIMEOUT).build()?;
    let mut request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}
