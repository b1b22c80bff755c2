//! `hookhub send` (SPEC §1): signs a body as [`super::sign`] does and POSTs it, with the event
//! type in the scheme's event header (`--event`) and any headers the hook's `filter` or the
//! sender's habits need (`--header`). Prints `HTTP <status>` and the answer; exit 0 only on 2xx.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use super::SendArgs;
use super::sign::{Headers, USAGE, recipe_and_body, sign};
use crate::clock::{Clock, Millis, SystemClock};

/// How long `send` waits for the hub to answer.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Signs the body and POSTs it to the URL; prints `HTTP <status>` and the response body.
/// Exit 0 for a 2xx answer, 1 when the answer is another or none came, 2 for a usage mistake.
pub fn run(args: &SendArgs) -> i32 {
    let request = match request(args) {
        Ok(request) => request,
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
    match runtime.block_on(post(&args.url, request)) {
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

/// What is sent: the headers and the body.
struct Request {
    headers: HeaderMap,
    body: Vec<u8>,
}

fn request(args: &SendArgs) -> Result<Request, String> {
    let (config, body) = recipe_and_body(&args.sign)?;
    let now = SystemClock.now_ms();
    let body = match config.scheme_name() {
        "linear" => stamp_linear(body, now),
        _ => body,
    };
    let signed = sign(&config, &args.sign, &body, now)?;
    let event = args
        .event
        .as_deref()
        .map(|event| (event_header(config.scheme_name()), event));
    let headers = headers(signed, event, &args.headers)?;
    Ok(Request { headers, body })
}

/// The header a sender of `scheme` names the event type in; the hub reads each of these.
pub fn event_header(scheme: &str) -> &'static str {
    match scheme {
        "github" => "X-GitHub-Event",
        "gitea" => "X-Gitea-Event",
        "gitlab" => "X-Gitlab-Event",
        _ => "X-Event",
    }
}

/// Linear writes its send time into the body as `webhookTimestamp` (Unix ms), and a `linear`
/// hook refuses a body without it; a JSON object without one gets it, as Linear would send
/// it, so the same `--data` works for every scheme. Anything else is sent as given.
fn stamp_linear(body: Vec<u8>, now_ms: Millis) -> Vec<u8> {
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice(&body) else {
        return body;
    };
    if fields.contains_key("webhookTimestamp") {
        return body;
    }
    let Some(open) = body.iter().position(|b| *b == b'{') else {
        return body;
    };
    let comma = if fields.is_empty() { "" } else { "," };
    let field = format!("\"webhookTimestamp\":{now_ms}{comma}");
    eprintln!("hookhub send: added \"webhookTimestamp\": {now_ms} to the body, as Linear does");
    let mut stamped = body[..=open].to_vec();
    stamped.extend_from_slice(field.as_bytes());
    stamped.extend_from_slice(&body[open + 1..]);
    stamped
}

/// The request's headers: JSON content type, the signature, the event, then `--header`s,
/// which replace whatever hookhub put under the same name.
fn headers(
    signed: Headers,
    event: Option<(&str, &str)>,
    extra: &[(String, String)],
) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let ours = signed
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .chain(event);
    for (name, value) in ours {
        let (name, value) = header_pair(name, value)?;
        map.insert(name, value);
    }
    let extra = extra
        .iter()
        .map(|(name, value)| header_pair(name, value))
        .collect::<Result<Vec<_>, _>>()?;
    for (name, _) in &extra {
        map.remove(name);
    }
    for (name, value) in extra {
        map.append(name, value);
    }
    Ok(map)
}

fn header_pair(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let header = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("`{name}` is not an HTTP header name"))?;
    let value = HeaderValue::from_str(value)
        .map_err(|_| format!("the value of header {name} cannot be sent in HTTP"))?;
    Ok((header, value))
}

/// `--header K:V`: the name before the first colon, the value after it without the spaces
/// around it (as `curl -H` takes it).
pub fn parse_header(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("`{text}` is not `Name: value`"))?;
    let (name, value) = (name.trim(), value.trim());
    header_pair(name, value)?;
    Ok((name.to_string(), value.to_string()))
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

/// POSTs the request; the status code and the response text.
async fn post(url: &str, request: Request) -> Result<(u16, String), reqwest::Error> {
    // A process-wide crypto provider must be chosen before rustls builds a client; `serve`
    // does the same, and a second install is a harmless no-op error.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().timeout(SEND_TIMEOUT).build()?;
    let response = client
        .post(url)
        .headers(request.headers)
        .body(request.body)
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_linear_body_gets_its_timestamp_once() {
        let stamp = |body: &str| String::from_utf8(stamp_linear(body.into(), 17)).unwrap();
        assert_eq!(stamp(r#" {"a":1}"#), r#" {"webhookTimestamp":17,"a":1}"#);
        assert_eq!(stamp("{}"), r#"{"webhookTimestamp":17}"#);
        assert_eq!(
            stamp(r#"{"webhookTimestamp":5}"#),
            r#"{"webhookTimestamp":5}"#
        );
        assert_eq!(stamp("[1]"), "[1]");
        assert_eq!(stamp("not json {"), "not json {");
    }

    #[test]
    fn extra_headers_replace_ours_and_repeat() {
        let signed = vec![("X-Hub-Signature-256".to_string(), "sha256=ab".to_string())];
        let extra = [
            parse_header("Content-Type: application/x-www-form-urlencoded").unwrap(),
            parse_header("X-Tag:a").unwrap(),
            parse_header("x-tag: b").unwrap(),
        ];
        let map = headers(signed, Some(("X-GitHub-Event", "push")), &extra).unwrap();
        assert_eq!(map["content-type"], "application/x-www-form-urlencoded");
        assert_eq!(map["x-hub-signature-256"], "sha256=ab");
        assert_eq!(map["x-github-event"], "push");
        let tags: Vec<_> = map.get_all("x-tag").iter().collect();
        assert_eq!(tags, ["a", "b"]);
    }

    #[test]
    fn a_malformed_header_flag_is_refused() {
        assert!(
            parse_header("no colon")
                .unwrap_err()
                .contains("Name: value")
        );
        assert!(
            parse_header("bad name: x")
                .unwrap_err()
                .contains("header name")
        );
        assert_eq!(
            parse_header("X-A: b: c").unwrap(),
            ("X-A".to_string(), "b: c".to_string())
        );
    }
}
