//! `triggerConfig.response` (SPEC §11): the answer a sender gets instead of the hub's 202
//! JSON, for senders that check what they are answered (adnanh/webhook's users set one per
//! hook). This file owns its shape and its checks; `ingress::answer` decides when it is sent.

use serde::{Deserialize, Serialize};

/// The statuses a configured answer may have: each says the delivery was taken.
pub const RESPONSE_STATUSES: [u16; 4] = [200, 201, 202, 204];

/// The content type of a configured answer that names none.
pub const DEFAULT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// What a verified delivery to the hook is answered once its execution is on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResponseConfig {
    /// 200, 201, 202 or 204; 200 when absent.
    #[serde(default = "ok")]
    pub status: u16,
    /// A template over the actions' context (`webhook`, `hook`, `execution`); empty when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The `Content-Type` header; [`DEFAULT_CONTENT_TYPE`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

fn ok() -> u16 {
    200
}

impl ResponseConfig {
    /// The content type the answer is sent with.
    pub fn content_type(&self) -> &str {
        self.content_type.as_deref().unwrap_or(DEFAULT_CONTENT_TYPE)
    }

    /// What is wrong with it, as `(field path, message)` relative to the hook.
    pub fn problems(&self) -> Vec<(String, String)> {
        const AT: &str = "triggerConfig.response";
        let mut problems = Vec::new();
        if !RESPONSE_STATUSES.contains(&self.status) {
            problems.push((
                format!("{AT}.status"),
                format!(
                    "{} is not one of 200, 201, 202, 204: the answer must say the delivery \
                     was taken",
                    self.status
                ),
            ));
        }
        // A 204 has no body by definition (RFC 9110), so anything given for one is a mistake.
        let no_content = self.status == 204;
        if let Some(body) = &self.body {
            if no_content {
                problems.push((format!("{AT}.body"), "a 204 answer has no body".into()));
            } else if let Err(e) = handlebars::Template::compile(body) {
                let at = e
                    .pos()
                    .map(|(line, col)| format!(" (template line {line}, column {col})"))
                    .unwrap_or_default();
                problems.push((
                    format!("{AT}.body"),
                    format!("invalid template: {}{at}", e.reason()),
                ));
            }
        }
        if let Some(content_type) = &self.content_type {
            let field = format!("{AT}.contentType");
            if no_content {
                problems.push((field, "a 204 answer has no body to give a type".into()));
            } else if content_type.trim().is_empty() || !is_header_text(content_type) {
                problems.push((
                    field,
                    format!(
                        "`{content_type}` is not a header value such as application/json \
                         (visible ASCII only)"
                    ),
                ));
            }
        }
        problems
    }
}

/// Text every HTTP stack carries unchanged in a header: visible ASCII and spaces. The `http`
/// crate also takes bytes past ASCII, which clients read in differing charsets.
fn is_header_text(value: &str) -> bool {
    value.chars().all(|c| c == ' ' || c.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(yaml: &str) -> ResponseConfig {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn fields(yaml: &str) -> Vec<String> {
        answer(yaml)
            .problems()
            .into_iter()
            .map(|(f, _)| f)
            .collect()
    }

    #[test]
    fn defaults_are_a_200_with_an_empty_text_body() {
        let r = answer("{}");
        assert_eq!((r.status, r.body.as_deref()), (200, None));
        assert_eq!(r.content_type(), "text/plain; charset=utf-8");
        assert!(r.problems().is_empty());
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(fields("{status: 302}"), ["triggerConfig.response.status"]);
        assert_eq!(fields("{status: 500}"), ["triggerConfig.response.status"]);
        assert_eq!(
            fields("{body: '{{#if x}}'}"),
            ["triggerConfig.response.body"]
        );
        assert_eq!(
            fields("{contentType: \"text/plain\\u00e9\"}"),
            ["triggerConfig.response.contentType"]
        );
        assert_eq!(
            fields("{contentType: ' '}"),
            ["triggerConfig.response.contentType"]
        );
        assert_eq!(
            fields("{status: 204, body: ok, contentType: text/plain}"),
            [
                "triggerConfig.response.body",
                "triggerConfig.response.contentType"
            ]
        );
        assert!(
            fields("{status: 201, body: '{{execution.id}}', contentType: application/json}")
                .is_empty()
        );
    }
}
