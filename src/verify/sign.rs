//! Signing as a sender would: the headers a delivery of each scheme carries. Used by the
//! `webhook` action to sign forwarded requests and by `hookhub sign`/`send` to test a hook
//! by hand, so what hookhub sends is exactly what its own verifiers accept.

use super::{github, standard};
use crate::clock::Millis;

/// The headers a real sender of `scheme` attaches to `body`, in the casing that sender uses
/// (such as `X-Hub-Signature-256`). `now_ms` stamps the timestamped schemes; `message_id` is
/// the delivery id for schemes that sign one (`standard`). The error text explains why the
/// scheme cannot be signed (unknown name, a secret that is not valid for it).
pub fn sign_headers(
    scheme: &str,
    secret: &str,
    body: &[u8],
    now_ms: Millis,
    message_id: &str,
) -> Result<Vec<(String, String)>, String> {
    match scheme {
        "github" => Ok(github::sign_github(secret, body)),
        "gitea" => Ok(github::sign_gitea(secret, body)),
        "standard" => standard::sign(secret, body, now_ms, message_id),
        other => Err(format!(
            "cannot sign for scheme `{other}`; signable: {}",
            SIGNABLE.join(", ")
        )),
    }
}

/// The scheme names [`sign_headers`] can sign for.
pub const SIGNABLE: &[&str] = &["github", "gitea", "standard"];
