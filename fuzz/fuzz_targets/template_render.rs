//! Template rendering with arbitrary templates and payload values. Templates come from the
//! operator's config, values from strangers, so:
//! - `render` and `render_shell` answer text or an error for any template, never panic;
//! - every string in the payload, rendered by `render_shell`, is exactly one shell word whose
//!   unquoted text is the string itself, whatever quotes, `$()`, backticks, newlines or NULs
//!   it holds;
//! - `render` of a value is the value itself (nothing escaped, nothing cut).
//!
//! Input: the template, a NUL byte, then the payload body as JSON (a fixed realistic body
//! when it does not parse); the body's text itself is also tried as a value.

#![no_main]

use hookhub::{render, render_shell, shell_quote};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

/// Reads one POSIX shell word made only of single-quoted parts and `\'`, as `sh` would.
fn unquote_word(word: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = word;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("\\'") {
            out.push('\'');
            rest = after;
        } else if let Some(after) = rest.strip_prefix('\'') {
            let end = after.find('\'')?;
            out.push_str(&after[..end]);
            rest = &after[end + 1..];
        } else {
            return None;
        }
    }
    Some(out)
}

/// Every string in `value`, keys included.
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(fields) => {
            for (k, v) in fields {
                out.push(k.clone());
                strings(v, out);
            }
        }
        _ => {}
    }
}

fn check_value(text: &str) {
    let context = json!({ "x": text });
    assert_eq!(render("{{x}}", &context).as_deref(), Ok(text));
    let quoted = render_shell("{{x}}", &context, true).expect("a plain value renders");
    assert_eq!(quoted, shell_quote(text));
    assert_eq!(
        unquote_word(&quoted).as_deref(),
        Some(text),
        "not one word: {quoted}"
    );
}

fuzz_target!(|data: &[u8]| {
    let (template, body) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(template) = std::str::from_utf8(template) else {
        return;
    };
    let body_text = String::from_utf8_lossy(body);
    let parsed = serde_json::from_slice::<Value>(body).ok();
    let body = parsed.clone().unwrap_or_else(
        || json!({"ref": "refs/heads/main", "commits": [{"id": "a1", "message": "fix"}], "n": 3}),
    );
    let context = json!({
        "webhook": { "body": body, "headers": {"x-event": "push"}, "query": {"env": "prod"},
                     "path": "p", "method": "POST", "eventType": "push", "deliveryId": "d-1" },
        "hook": { "id": "h", "name": "Hook" },
        "execution": { "id": "exe_1", "attempt": 1 },
    });
    let _ = render(template, &context);
    let _ = render_shell(template, &context, false);

    check_value(&body_text);
    let mut found = Vec::new();
    if let Some(parsed) = &parsed {
        strings(parsed, &mut found);
    }
    found.iter().for_each(|s| check_value(s));
});
