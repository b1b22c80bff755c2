//! What of a forward is secret when it is shown (SPEC §11): the values of `actionConfig.headers`
//! and the credentials in `actionConfig.webhookUrl` (its `user:pass@` and every query value).
//! API answers and the execution log show them as `[redacted]`; a client that sends a shown
//! value back unchanged keeps the stored one ([`restore`]), so reading a hook and saving it
//! never wipes a credential nor stores the placeholder in its place.

use std::borrow::Cow;

use super::ActionConfig;

/// What a secret value is shown as.
pub const REDACTED: &str = "[redacted]";

/// `url` with its userinfo and every query value replaced by `[redacted]`. Everything else
/// (scheme, host, port, path, query names, fragment) is kept exactly as written, so a failing
/// forward can still be diagnosed, and a URL without credentials comes back unchanged.
///
/// Read at the text level, not through a URL parser, which would rewrite the rest (a trailing
/// `/`, percent-encoding). The authority ends where the URL parser ends it for http(s) (`/`,
/// `\`, `?`, `#`) and userinfo ends at its last `@`, as there, so nothing the parser would send
/// as a credential escapes.
pub fn url(url: &str) -> Cow<'_, str> {
    let (rest, fragment) = split_at(url, '#');
    let (rest, query) = split_at(rest, '?');
    let mut out = String::with_capacity(url.len());
    let mut changed = false;
    match userinfo_end(rest) {
        Some((start, at)) => {
            out.push_str(&rest[..start]);
            out.push_str(REDACTED);
            out.push_str(&rest[at..]);
            changed = true;
        }
        None => out.push_str(rest),
    }
    if let Some(query) = query {
        let pairs: Vec<Cow<'_, str>> = query.split('&').map(redact_pair).collect();
        changed |= pairs.iter().any(|p| matches!(p, Cow::Owned(_)));
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    if !changed {
        return Cow::Borrowed(url);
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    Cow::Owned(out)
}

/// Whether `url` carries credentials that [`url`] would redact.
pub fn url_has_credentials(url: &str) -> bool {
    matches!(self::url(url), Cow::Owned(_))
}

/// `text` before the first `c`, and what follows it when there is one.
fn split_at(text: &str, c: char) -> (&str, Option<&str>) {
    match text.split_once(c) {
        Some((before, after)) => (before, Some(after)),
        None => (text, None),
    }
}

/// Where the userinfo of `url` (without query and fragment) starts and where its `@` is.
fn userinfo_end(url: &str) -> Option<(usize, usize)> {
    let start = url.find("://")? + 3;
    let authority = &url[start..];
    let end = authority.find(['/', '\\']).unwrap_or(authority.len());
    let at = authority[..end].rfind('@')?;
    Some((start, start + at))
}

/// One `name=value` of a query with its value redacted. A bare item (`?abcdef`) may itself be
/// the key, so it is redacted whole; empty values have nothing to hide.
fn redact_pair(pair: &str) -> Cow<'_, str> {
    match pair.split_once('=') {
        Some((_, "")) => Cow::Borrowed(pair),
        Some((name, _)) => Cow::Owned(format!("{name}={REDACTED}")),
        None if pair.is_empty() => Cow::Borrowed(pair),
        None => Cow::Owned(REDACTED.to_string()),
    }
}

/// Redacts a forward's header values and URL credentials, for showing the hook.
pub fn action_config(config: &mut ActionConfig) {
    for value in config.headers.values_mut() {
        if !value.is_empty() {
            *value = REDACTED.to_string();
        }
    }
    if let Some(url) = &mut config.webhook_url
        && let Cow::Owned(shown) = self::url(url)
    {
        *url = shown;
    }
}

/// Puts the stored values back where a client sent a shown `[redacted]` value unchanged: a
/// header whose value is `[redacted]` keeps the stored value of that header, a URL equal to the
/// stored URL as shown keeps the stored URL. Anything else given is taken as it is. A
/// placeholder with nothing stored behind it (a new hook, a new header, a URL edited around
/// its placeholders) is refused, naming the field, rather than sent to the target as text.
pub fn restore(config: &mut ActionConfig, stored: Option<&ActionConfig>) -> Result<(), Refusal> {
    for (name, value) in &mut config.headers {
        if value != REDACTED {
            continue;
        }
        let kept = stored.and_then(|s| {
            s.headers.get(name).or_else(|| {
                let mut same = s.headers.iter();
                same.find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
            })
        });
        match kept {
            Some(kept) => value.clone_from(kept),
            None => {
                return Err(Refusal {
                    field: format!("actionConfig.headers.{name}"),
                    message: format!(
                        "is `{REDACTED}`, which keeps a stored value, but this hook has none \
                         stored for `{name}`: give the value"
                    ),
                });
            }
        }
    }
    let Some(given) = &mut config.webhook_url else {
        return Ok(());
    };
    if !given.contains(REDACTED) {
        return Ok(());
    }
    match stored.and_then(|s| s.webhook_url.as_deref()) {
        Some(kept) if self::url(kept) == given.as_str() => {
            kept.clone_into(given);
            Ok(())
        }
        _ => Err(Refusal {
            field: "actionConfig.webhookUrl".into(),
            message: format!(
                "carries `{REDACTED}` but is not this hook's URL as shown: send the shown URL \
                 unchanged to keep the stored one, or the whole new URL with its credentials"
            ),
        }),
    }
}

/// Why a sent-back placeholder cannot be restored: the field and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub field: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_query_values_are_redacted_and_the_rest_kept() {
        assert_eq!(
            url("https://user:p%40ss@hooks.example.com:8443/a/b?token=s3&x=&flag#frag"),
            "https://[redacted]@hooks.example.com:8443/a/b?token=[redacted]&x=&[redacted]#frag"
        );
        assert_eq!(url("http://k@h/p"), "http://[redacted]@h/p");
        // The last `@` of the authority ends the userinfo, as for the URL parser.
        assert_eq!(url("http://a@b:c@host/"), "http://[redacted]@host/");
        // An `@` in the path is not userinfo.
        assert_eq!(url("http://host/a@b"), "http://host/a@b");
        assert_eq!(url("http://u:p@host\\x"), "http://[redacted]@host\\x");
    }

    #[test]
    fn a_url_without_credentials_is_unchanged() {
        for plain in [
            "http://127.0.0.1:9/hook",
            "https://h/x?",
            "https://h/x?a=&b=#f",
        ] {
            assert!(
                matches!(url(plain), Cow::Borrowed(u) if u == plain),
                "{plain}"
            );
            assert!(!url_has_credentials(plain));
        }
        assert!(url_has_credentials("https://h/x?t=1"));
    }

    fn config(url: &str, headers: &[(&str, &str)]) -> ActionConfig {
        ActionConfig {
            webhook_url: Some(url.into()),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn shown_values_sent_back_keep_the_stored_ones() {
        let stored = config(
            "http://u:p@h/x?t=1",
            &[("Authorization", "Bearer s"), ("X-Empty", "")],
        );
        let mut shown = stored.clone();
        action_config(&mut shown);
        assert_eq!(
            shown,
            config(
                "http://[redacted]@h/x?t=[redacted]",
                &[("Authorization", REDACTED), ("X-Empty", "")]
            )
        );
        shown.headers.insert("X-New".into(), "v".into());
        restore(&mut shown, Some(&stored)).unwrap();
        assert_eq!(shown.webhook_url, stored.webhook_url);
        assert_eq!(shown.headers["Authorization"], "Bearer s");
        assert_eq!(shown.headers["X-New"], "v");
        // Header names are matched as HTTP matches them.
        let mut lower = config("http://other/", &[("authorization", REDACTED)]);
        restore(&mut lower, Some(&stored)).unwrap();
        assert_eq!(lower.headers["authorization"], "Bearer s");
    }

    #[test]
    fn a_placeholder_with_nothing_behind_it_is_refused() {
        let stored = config("http://u:p@h/x", &[("A", "1")]);
        let mut new_header = config("http://h/", &[("B", REDACTED)]);
        let refusal = restore(&mut new_header, Some(&stored)).unwrap_err();
        assert_eq!(refusal.field, "actionConfig.headers.B");
        let mut edited = config("http://[redacted]@h/y", &[]);
        let refusal = restore(&mut edited, Some(&stored)).unwrap_err();
        assert_eq!(refusal.field, "actionConfig.webhookUrl");
        let mut created = config("http://[redacted]@h/x", &[]);
        assert!(restore(&mut created, None).is_err());
    }
}
