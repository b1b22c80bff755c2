//! `hookhub sign` (SPEC §1): the headers a sender of some scheme would attach to a body, to
//! test a hook by hand. It uses [`crate::verify::sign_headers_for`], the code the `webhook`
//! action signs with, for the trigger config the hub verifies with ([`super::recipe`]), so a
//! hook that accepts these accepts real senders too. `hookhub send` ([`super::send`]) signs
//! the same way.

use std::io::{IsTerminal, Read};

use super::SignArgs;
use crate::clock::{Clock, Millis, SystemClock};
use crate::model::TriggerConfig;
use crate::verify::sign_headers_for;

/// Header `(name, value)` pairs, as `sign_headers_for` returns them.
pub type Headers = Vec<(String, String)>;

/// Exit code for a usage mistake (unknown scheme, unreadable body), as clap uses.
pub const USAGE: i32 = 2;

/// Prints the headers a sender would attach, one `Name: value` per line.
pub fn run_sign(args: &SignArgs) -> i32 {
    let signed = recipe_and_body(args).and_then(|(config, body)| {
        let now = SystemClock.now_ms();
        sign(&config, args, &body, now)
    });
    match signed {
        Ok(headers) => {
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

/// The trigger config to sign as and the body. The config is checked first, so a scheme that
/// cannot be signed is refused before waiting on standard input for a body.
pub fn recipe_and_body(args: &SignArgs) -> Result<(TriggerConfig, Vec<u8>), String> {
    let config = super::recipe::trigger_config(args)?;
    Ok((config, read_body(args)?))
}

/// The headers signing `body` as `config` at `now_ms`.
pub fn sign(
    config: &TriggerConfig,
    args: &SignArgs,
    body: &[u8],
    now_ms: Millis,
) -> Result<Headers, String> {
    let message_id = format!("msg_{}", ulid::Ulid::new());
    sign_headers_for(config, &args.secret, body, now_ms, &message_id).map_err(|e| e.to_string())
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
