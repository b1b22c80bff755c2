//! Turning a delivery's bytes into the payload that filters and templates see (SPEC §4 step 5),
//! and reading the event type, delivery id and run label out of it. Pure functions: ingress
//! calls them on arrival, and nothing here touches the network or the store.

use std::borrow::Cow;
use std::collections::BTreeMap;

use axum::http::{HeaderMap, HeaderName};
use serde_json::{Map, Value};

/// Why a payload could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("body is not valid JSON ({0})")]
    Json(String),
    #[error("body is not valid form data ({0})")]
    Form(String),
    #[error("more than one Content-Type header; send exactly one")]
    ContentTypes,
}

/// A delivery's payload and what it says about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    /// What filters and templates see as `body`.
    pub body: Value,
    pub event_type: Option<String>,
    pub delivery_id: Option<String>,
    /// A short label for the run (see [`label`]).
    pub label: Option<String>,
}

/// Reads a delivery: the body by its content type, CloudEvents in structured mode
/// (`application/cloudevents+json`: `body` is the event's `data`) and binary mode (`ce-*`
/// headers), the event type, delivery id and label. The query is not merged here: whether it
/// may be is each hook's to say ([`merge_query`]).
pub fn read(headers: &HeaderMap, raw: &[u8]) -> Result<Payload, PayloadError> {
    // Readers disagree on which of several would count (this one reads the first, the log
    // keeps the last), so a replay could parse the body another way: refuse the ambiguity.
    if several_content_types(headers) {
        return Err(PayloadError::ContentTypes);
    }
    let content_type = content_type(headers);
    if mime(content_type) == "application/cloudevents+json" {
        return read_structured_cloud_event(raw);
    }
    let body = parse(content_type, raw)?;
    let mut delivery_id = delivery_id(headers);
    if delivery_id.is_none() && headers.contains_key(&CE_SPECVERSION) {
        delivery_id = header_text(headers, "ce-id");
    }
    Ok(Payload {
        event_type: event_type(headers, &body),
        label: label(&body),
        delivery_id,
        body,
    })
}

/// [`read`] for a delivery no hook needs the parsed body of: a JSON body is checked as `read`
/// checks it, and only the fields the event type and label come from are kept; `body` is left
/// `Null` (a stored execution's body is read again from its raw bytes, [`body_of`]). Building
/// the whole value was a tenth of the request path's instructions at 1 KB, and at 1 MB a copy
/// of the body. Other content types are read by `read`.
pub fn read_summary(headers: &HeaderMap, raw: &[u8]) -> Result<Payload, PayloadError> {
    let mime = mime(content_type(headers));
    let plain_json = is_json(&mime) && mime != "application/cloudevents+json";
    if !plain_json
        || raw.iter().all(u8::is_ascii_whitespace)
        || headers.contains_key(&CE_SPECVERSION)
        || several_content_types(headers)
    {
        return read(headers, raw);
    }
    let summary = serde_json::from_slice::<Summary>(raw)
        .map_err(|e| PayloadError::Json(e.to_string()))?
        .0;
    let summary = Value::Object(summary);
    Ok(Payload {
        event_type: event_type(headers, &summary),
        label: label(&summary),
        delivery_id: delivery_id(headers),
        body: Value::Null,
    })
}

/// The top-level fields of a JSON body that [`event_type`] and [`label`] read; the rest of the
/// document is checked and skipped without being built.
struct Summary(Map<String, Value>);

impl<'de> serde::Deserialize<'de> for Summary {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SummaryVisitor)
    }
}

struct SummaryVisitor;

/// The visitor methods of JSON's scalars, each answering `$value`.
macro_rules! scalars_are {
    ($value:expr, $ty:ty) => {
        fn visit_bool<E>(self, _: bool) -> Result<$ty, E> {
            Ok($value)
        }
        fn visit_i64<E>(self, _: i64) -> Result<$ty, E> {
            Ok($value)
        }
        fn visit_u64<E>(self, _: u64) -> Result<$ty, E> {
            Ok($value)
        }
        fn visit_f64<E>(self, _: f64) -> Result<$ty, E> {
            Ok($value)
        }
        fn visit_str<E>(self, _: &str) -> Result<$ty, E> {
            Ok($value)
        }
        fn visit_unit<E>(self) -> Result<$ty, E> {
            Ok($value)
        }
    };
}

impl<'de> serde::de::Visitor<'de> for SummaryVisitor {
    type Value = Summary;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Summary, A::Error> {
        let mut fields = Map::new();
        while let Some(SummaryKey(key)) = map.next_key()? {
            match key {
                // A repeated field: the last one counts, as in a parsed body.
                Some(name) => {
                    fields.insert(name.to_string(), map.next_value()?);
                }
                None => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(Summary(fields))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Summary, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Summary(Map::new()))
    }

    scalars_are!(Summary(Map::new()), Summary);
}

/// Any JSON value, checked and dropped. Unlike serde's `IgnoredAny` it is read through
/// `deserialize_any`, so the parser's nesting limit refuses what it refuses in a parsed body.
struct Skip;

impl<'de> serde::Deserialize<'de> for Skip {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(Skip)
    }
}

impl<'de> serde::de::Visitor<'de> for Skip {
    type Value = Skip;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(Skip)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }

    scalars_are!(Skip, Skip);
}

/// A top-level key: one of [`EVENT_FIELDS`] or [`LABEL_FIELDS`], or `None` for any other (not
/// copied).
struct SummaryKey(Option<&'static str>);

impl<'de> serde::Deserialize<'de> for SummaryKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(SummaryKeyVisitor)
    }
}

struct SummaryKeyVisitor;

impl serde::de::Visitor<'_> for SummaryKeyVisitor {
    type Value = SummaryKey;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E>(self, key: &str) -> Result<SummaryKey, E> {
        let mut fields = EVENT_FIELDS.iter().chain(&LABEL_FIELDS);
        Ok(SummaryKey(fields.find(|f| **f == key).copied()))
    }
}

/// A structured-mode CloudEvent: the envelope's `data` (or decoded `data_base64`) is the body;
/// `type` and `id` are the event type and delivery id.
fn read_structured_cloud_event(raw: &[u8]) -> Result<Payload, PayloadError> {
    let envelope: Value =
        serde_json::from_slice(raw).map_err(|e| PayloadError::Json(e.to_string()))?;
    let text = |k: &str| envelope.get(k).and_then(Value::as_str).map(str::to_string);
    let body = match (envelope.get("data"), envelope.get("data_base64")) {
        (Some(data), _) => data.clone(),
        (None, Some(Value::String(encoded))) => {
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|e| PayloadError::Json(format!("data_base64 is not base64: {e}")))?;
            parse_untyped(&bytes)
        }
        _ => Value::Object(Map::new()),
    };
    Ok(Payload {
        event_type: text("type"),
        delivery_id: text("id"),
        label: label(&body),
        body,
    })
}

/// The payload of a recorded delivery, read again from its raw body, stored headers (for the
/// content type and CloudEvents headers) and query, exactly as it was read on arrival.
/// A raw body that no longer parses (it did on arrival) yields its text.
pub fn body_of(trigger: &crate::execution::Trigger) -> Value {
    let mut headers = HeaderMap::new();
    for (name, value) in &trigger.headers {
        if (name == "content-type" || name.starts_with("ce-"))
            && let (Ok(name), Ok(value)) = (
                axum::http::HeaderName::from_bytes(name.as_bytes()),
                axum::http::HeaderValue::from_str(value),
            )
        {
            headers.insert(name, value);
        }
    }
    let mut body = read(&headers, &trigger.raw_body.0)
        .map(|p| p.body)
        .unwrap_or_else(|_| parse_untyped(&trigger.raw_body.0));
    if trigger.query_in_body {
        merge_query(&mut body, &trigger.query);
    }
    body
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Merges query parameters into an object body as top-level fields; body values win.
pub fn merge_query(body: &mut Value, query: &BTreeMap<String, String>) {
    if let Value::Object(fields) = body {
        for (k, v) in query {
            fields
                .entry(k.clone())
                .or_insert_with(|| Value::String(v.clone()));
        }
    }
}

/// Parses a body by its content type.
pub fn parse(content_type: Option<&str>, raw: &[u8]) -> Result<Value, PayloadError> {
    let mime = mime(content_type);
    let body = if raw.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else if is_json(&mime) {
        serde_json::from_slice(raw).map_err(|e| PayloadError::Json(e.to_string()))?
    } else if mime == "application/x-www-form-urlencoded" {
        parse_form(raw)?
    } else {
        parse_untyped(raw)
    };
    Ok(body)
}

fn several_content_types(headers: &HeaderMap) -> bool {
    headers
        .get_all(axum::http::header::CONTENT_TYPE)
        .iter()
        .nth(1)
        .is_some()
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

/// A content type's media type, lower-cased; empty when there is none. Borrowed when it is
/// lower-case already, as nearly every sender writes it.
fn mime(content_type: Option<&str>) -> Cow<'_, str> {
    let media = content_type
        .and_then(|c| c.split(';').next())
        .map_or("", str::trim);
    match media.bytes().any(|b| b.is_ascii_uppercase()) {
        true => Cow::Owned(media.to_ascii_lowercase()),
        false => Cow::Borrowed(media),
    }
}

fn is_json(mime: &str) -> bool {
    mime == "application/json" || mime == "text/json" || mime.ends_with("+json")
}

/// Form fields as an object; GitHub's `payload=<json>` form yields the JSON inside.
fn parse_form(raw: &[u8]) -> Result<Value, PayloadError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(raw).map_err(|e| PayloadError::Form(e.to_string()))?;
    if let [(key, value)] = pairs.as_slice()
        && key == "payload"
    {
        return serde_json::from_str(value).map_err(|e| PayloadError::Json(e.to_string()));
    }
    let mut fields = Map::new();
    for (k, v) in pairs {
        match fields.get_mut(&k) {
            Some(Value::Array(items)) => items.push(Value::String(v)),
            Some(existing) => *existing = Value::Array(vec![existing.take(), Value::String(v)]),
            None => {
                fields.insert(k, Value::String(v));
            }
        }
    }
    Ok(Value::Object(fields))
}

/// No declared type: JSON when it is JSON, otherwise the text itself.
fn parse_untyped(raw: &[u8]) -> Value {
    serde_json::from_slice(raw)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(raw).into_owned()))
}

// Header names made once, not parsed from text at each lookup (a lookup by `&str` parses the
// name first: ~370 instructions each, seven for a delivery without an id).
static EVENT_HEADERS: [HeaderName; 5] = [
    HeaderName::from_static("x-github-event"),
    HeaderName::from_static("x-gitlab-event"),
    HeaderName::from_static("x-gitea-event"),
    HeaderName::from_static("x-event"),
    HeaderName::from_static("ce-type"),
];

/// The body's fields the event type is read from when no header gives it, in order.
const EVENT_FIELDS: [&str; 2] = ["type", "event"];

/// The body's fields a label is made of; [`read_summary`] keeps these and [`EVENT_FIELDS`].
const LABEL_FIELDS: [&str; 4] = ["objectName", "objectUrl", "objectNumber", "actor"];

/// The event type: the first event header, else the body's `type` or `event` field.
pub fn event_type(headers: &HeaderMap, body: &Value) -> Option<String> {
    EVENT_HEADERS
        .iter()
        .find_map(|h| headers.get(h).and_then(|v| v.to_str().ok()))
        .map(str::to_string)
        .or_else(|| {
            EVENT_FIELDS
                .iter()
                .find_map(|k| body.get(*k).and_then(Value::as_str))
                .map(str::to_string)
        })
}

static CE_SPECVERSION: HeaderName = HeaderName::from_static("ce-specversion");

/// Headers senders put their delivery id in, in order of preference.
static DELIVERY_HEADERS: [HeaderName; 7] = [
    HeaderName::from_static("x-github-delivery"),
    HeaderName::from_static("x-gitea-delivery"),
    HeaderName::from_static("x-gitlab-event-uuid"),
    HeaderName::from_static("x-shopify-webhook-id"),
    HeaderName::from_static("linear-delivery"),
    HeaderName::from_static("x-delivery"),
    HeaderName::from_static("idempotency-key"),
];

/// The sender's delivery id, from the first delivery header present.
///
/// The request's few header names are matched against the list, rather than each of the
/// seven looked up: a lookup hashes the name, and most are absent from every delivery
/// (~1,300 instructions a delivery in callgrind).
pub fn delivery_id(headers: &HeaderMap) -> Option<String> {
    let mut present = [false; DELIVERY_HEADERS.len()];
    for name in headers.keys() {
        if let Some(at) = DELIVERY_HEADERS.iter().position(|h| h == name) {
            present[at] = true;
        }
    }
    DELIVERY_HEADERS
        .iter()
        .zip(present)
        .filter(|(_, present)| *present)
        .find_map(|(h, _)| headers.get(h).and_then(|v| v.to_str().ok()))
        .map(str::to_string)
}

/// A short label for the run from top-level `objectName`, `objectNumber`, `objectUrl` and
/// `actor`, such as `acme/api #42 by octocat`.
pub fn label(body: &Value) -> Option<String> {
    let text = |k: &str| match body.get(k)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let [name, url, number, actor] = LABEL_FIELDS.map(text);
    let mut parts = Vec::new();
    if let Some(name) = name.or(url) {
        parts.push(name);
    }
    if let Some(number) = number {
        parts.push(format!("#{number}"));
    }
    if let Some(actor) = actor {
        parts.push(format!("by {actor}"));
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn media_types_are_read_in_any_case() {
        assert_eq!(
            mime(Some(" Application/JSON ; charset=utf-8")),
            "application/json"
        );
        assert!(matches!(mime(Some("application/json")), Cow::Borrowed(_)));
        assert_eq!(mime(None), "");
        assert_eq!(
            parse(Some("Application/JSON"), br#"{"a":1}"#).unwrap(),
            json!({"a": 1})
        );
        assert_eq!(
            parse(Some("APPLICATION/X-WWW-FORM-URLENCODED"), b"a=1").unwrap(),
            json!({"a": "1"})
        );
    }

    fn q(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn json_body_with_query_merged_and_body_winning() {
        let mut body = parse(
            Some("application/json; charset=utf-8"),
            br#"{"a":1,"env":"body"}"#,
        )
        .unwrap();
        assert_eq!(body, json!({"a": 1, "env": "body"}), "not merged by parse");
        merge_query(&mut body, &q(&[("env", "query"), ("extra", "x")]));
        assert_eq!(body, json!({"a": 1, "env": "body", "extra": "x"}));
    }

    #[test]
    fn bad_json_with_json_type_is_an_error() {
        let err = parse(Some("application/json"), b"{nope").unwrap_err();
        assert!(matches!(err, PayloadError::Json(_)));
    }

    #[test]
    fn github_form_payload_yields_inner_json() {
        let raw = b"payload=%7B%22action%22%3A%22opened%22%7D";
        let body = parse(Some("application/x-www-form-urlencoded"), raw).unwrap();
        assert_eq!(body, json!({"action": "opened"}));
    }

    #[test]
    fn plain_form_repeated_keys_become_lists() {
        let body = parse(Some("application/x-www-form-urlencoded"), b"a=1&b=2&a=3").unwrap();
        assert_eq!(body, json!({"a": ["1", "3"], "b": "2"}));
    }

    #[test]
    fn raw_text_stays_text_and_empty_body_takes_query() {
        let mut text = parse(Some("text/plain"), b"hello").unwrap();
        merge_query(&mut text, &q(&[("x", "1")]));
        assert_eq!(text, json!("hello"));
        let mut empty = parse(None, b"").unwrap();
        merge_query(&mut empty, &q(&[("x", "1")]));
        assert_eq!(empty, json!({"x": "1"}));
    }

    #[test]
    fn event_type_prefers_headers_then_body() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            event_type(&headers, &json!({"type": "invoice.paid"})).as_deref(),
            Some("invoice.paid")
        );
        headers.insert("x-github-event", "push".parse().unwrap());
        assert_eq!(
            event_type(&headers, &json!({"type": "x"})).as_deref(),
            Some("push")
        );
    }

    #[test]
    fn structured_cloud_events_yield_their_data_type_and_id() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-type",
            "application/cloudevents+json".parse().unwrap(),
        );
        let raw = br#"{"specversion":"1.0","type":"com.example.build","source":"/ci","id":"A-1","data":{"ok":true}}"#;
        let p = read(&headers, raw).unwrap();
        assert_eq!(p.body, json!({"ok": true}));
        assert_eq!(p.event_type.as_deref(), Some("com.example.build"));
        assert_eq!(p.delivery_id.as_deref(), Some("A-1"));

        let raw = br#"{"specversion":"1.0","type":"t","id":"B","data_base64":"eyJuIjoxfQ=="}"#;
        assert_eq!(read(&headers, raw).unwrap().body, json!({"n": 1}));
    }

    #[test]
    fn binary_cloud_events_use_ce_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "application/json".parse().unwrap());
        headers.insert("ce-specversion", "1.0".parse().unwrap());
        headers.insert("ce-type", "com.example.push".parse().unwrap());
        headers.insert("ce-id", "C-7".parse().unwrap());
        let p = read(&headers, br#"{"x":1}"#).unwrap();
        assert_eq!(p.body, json!({"x": 1}));
        assert_eq!(p.event_type.as_deref(), Some("com.example.push"));
        assert_eq!(p.delivery_id.as_deref(), Some("C-7"));
    }

    #[test]
    fn the_delivery_id_is_the_first_listed_header_with_a_text_value() {
        let value = |bytes: &[u8]| axum::http::HeaderValue::from_bytes(bytes).unwrap();
        let mut headers = HeaderMap::new();
        assert_eq!(delivery_id(&headers), None);
        headers.insert("idempotency-key", value(b"late-in-the-list"));
        headers.insert("content-type", value(b"application/json"));
        assert_eq!(delivery_id(&headers).as_deref(), Some("late-in-the-list"));
        // Listed earlier, so it wins whatever the request's order.
        headers.insert("x-gitlab-event-uuid", value(b"gl-1"));
        assert_eq!(delivery_id(&headers).as_deref(), Some("gl-1"));
        headers.insert("x-github-delivery", value(b"gh-1"));
        assert_eq!(delivery_id(&headers).as_deref(), Some("gh-1"));
        // A value that is not text is passed over for the next header listed.
        headers.insert("x-github-delivery", value(b"caf\xe9"));
        assert_eq!(delivery_id(&headers).as_deref(), Some("gl-1"));
    }

    /// Found by the `payload_parse` fuzzer: with a form and a JSON content type, the delivery
    /// was read as a form but recorded with the JSON type, so a replay saw another body.
    #[test]
    fn several_content_types_are_refused() {
        let mut headers = HeaderMap::new();
        headers.append(
            "content-type",
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        headers.append("content-type", "application/json".parse().unwrap());
        let err = read(&headers, b"a=1").unwrap_err();
        assert_eq!(err, PayloadError::ContentTypes);
        assert!(err.to_string().contains("more than one Content-Type"));
    }

    #[test]
    fn label_from_object_fields() {
        let body = json!({"objectName": "acme/api", "objectNumber": 42, "actor": "octocat"});
        assert_eq!(label(&body).as_deref(), Some("acme/api #42 by octocat"));
        assert_eq!(label(&json!({"a": 1})), None);
    }

    #[test]
    fn a_summary_says_what_a_whole_read_says_without_the_body() {
        let json = |extra: &[(&'static str, &str)]| {
            let mut headers = HeaderMap::new();
            headers.insert("content-type", "application/json".parse().unwrap());
            for (name, value) in extra {
                headers.insert(*name, value.parse().unwrap());
            }
            headers
        };
        let bodies: &[&[u8]] = &[
            br#"{"objectName":"acme/api","objectNumber":42,"actor":"octocat","type":"push"}"#,
            // Escaped keys, a repeated field (the last counts), nested look-alikes ignored.
            br#"{"object\u004eame":"a","actor":"x","actor":"y","x":{"type":"inner"},"event":7}"#,
            br#"{"objectUrl":"https://e.example/1","objectNumber":1.5,"event":"deploy"}"#,
            br#"[{"type":"in an array"}]"#,
            br#""just text""#,
            b"12",
            b"null",
            br#"{"pad":"x\"y\\z","list":[1,2,{"a":[true,false,null]}]}"#,
        ];
        for body in bodies {
            for headers in [json(&[]), json(&[("x-github-delivery", "d-1")])] {
                let whole = read(&headers, body).unwrap();
                let summary = read_summary(&headers, body).unwrap();
                assert_eq!(
                    summary.body,
                    Value::Null,
                    "{}",
                    String::from_utf8_lossy(body)
                );
                assert_eq!(
                    (summary.event_type, summary.label, summary.delivery_id),
                    (whole.event_type, whole.label, whole.delivery_id),
                    "{}",
                    String::from_utf8_lossy(body)
                );
            }
        }
        // The same refusals, word for word.
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        for bad in [
            &b"{\"a\":"[..],
            b"{\"a\":1} trailing",
            b"{'a':1}",
            deep.as_bytes(),
        ] {
            assert_eq!(
                read_summary(&json(&[]), bad).unwrap_err(),
                read(&json(&[]), bad).unwrap_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // Refused at the same depth.
        for depth in 126..=130 {
            let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            let object = format!("{}{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
            for body in [nested, object] {
                assert_eq!(
                    read_summary(&json(&[]), body.as_bytes()).is_ok(),
                    read(&json(&[]), body.as_bytes()).is_ok(),
                    "{depth}"
                );
            }
        }
        // Whatever is not plain JSON is read whole.
        let mut form = HeaderMap::new();
        form.insert(
            "content-type",
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        assert_eq!(
            read_summary(&form, b"a=1").unwrap(),
            read(&form, b"a=1").unwrap()
        );
        let cloud = json(&[("ce-specversion", "1.0"), ("ce-type", "t")]);
        assert_eq!(
            read_summary(&cloud, b"{\"a\":1}").unwrap(),
            read(&cloud, b"{\"a\":1}").unwrap()
        );
    }
}
