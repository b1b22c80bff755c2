//! Payload parsing on arbitrary bodies, content types, CloudEvents headers and query strings:
//! JSON, form (with GitHub's `payload=`), CloudEvents structured and binary mode, untyped text.
//! It must answer a payload or a `PayloadError`, never panic; and what it read on arrival it
//! must read the same way again from the recorded delivery ([`body_of`], used by
//! replay and the API), so a replay never sees another body than the first run did.
//!
//! Input: header lines, where a line `?a=1&b=2` is the query string, a blank line, the body.

#![no_main]

#[path = "common.rs"]
mod common;

use std::collections::BTreeMap;

use hookhub::{RawBody, Trigger};
use hookhub::{body_of, merge_query, payload_label, read_payload};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (lines, body) = common::split(data);
    let (queries, header_lines): (Vec<&[u8]>, Vec<&[u8]>) =
        lines.into_iter().partition(|l| l.starts_with(b"?"));
    let headers = common::headers(header_lines);
    let query: BTreeMap<String, String> = queries
        .iter()
        .flat_map(|q| {
            serde_urlencoded::from_bytes::<Vec<(String, String)>>(&q[1..]).unwrap_or_default()
        })
        .collect();

    let Ok(read) = read_payload(&headers, body) else {
        return;
    };
    let _ = payload_label(&read.body);
    // The query joined to the body, as ingress does for a hook whose scheme authenticates it.
    let mut merged = read.body.clone();
    merge_query(&mut merged, &query);

    // Recorded as ingress records them (`ingress::redact::headers`): lower-cased names, one
    // value a name (the last), lossy UTF-8.
    let recorded = headers
        .iter()
        .map(|(n, v)| {
            let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
            (n.as_str().to_string(), value)
        })
        .collect();
    let trigger = Trigger {
        path: "fuzz".into(),
        method: "POST".into(),
        headers: recorded,
        query,
        query_in_body: true,
        body: merged.clone(),
        raw_body: RawBody(body.to_vec()),
    };
    assert_eq!(body_of(&trigger), merged, "a replay reads another body");
    // The execution log writes the raw body as text or base64 and reads it back byte for byte.
    let json = serde_json::to_string(&trigger).expect("a trigger serialises");
    let back: Trigger = serde_json::from_str(&json).expect("a recorded trigger reads back");
    assert_eq!(back.raw_body, trigger.raw_body);
});
