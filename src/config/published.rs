//! Secrets that `hooks.example.yaml` publishes as defaults. A hub started on the example (or a
//! copy of it) without the variables set uses them, and anyone who has read the example can
//! then sign deliveries to it, so a hook that still uses one is a warning at start, in
//! `hookhub check` and in `GET /api/config/status`.

use super::validate::Problem;
use crate::model::{Hook, Secrets};

/// Every default secret in `hooks.example.yaml`, commented-out hooks included (a test keeps
/// this list and the file in step).
pub const PUBLISHED_SECRETS: &[&str] = &[
    "change-me-github-secret",
    "change-me-notify-secret",
    "whsec_Y2hhbmdlLW1lLWluYm91bmQtc2VjcmV0",
    "whsec_Y2hhbmdlLW1lLWZvcndhcmQtc2VjcmV0",
];

const ADVICE: &str = "set one of your own, such as the output of `openssl rand -hex 32`, in the \
                      environment variable the file names or in the file";

/// A warning for each secret of an enabled hook that is one of [`PUBLISHED_SECRETS`]. Paths
/// are relative to the hook; the value is not repeated (it is public, but the log has no need
/// of it). A disabled hook takes no deliveries; enabling it reloads the file and warns then.
pub fn published_secret_warnings(hook: &Hook) -> Vec<Problem> {
    if !hook.enabled {
        return Vec::new();
    }
    let published = |secrets: &Secrets| secrets.iter().any(|s| PUBLISHED_SECRETS.contains(&s));
    let mut warnings = Vec::new();
    if published(&hook.trigger_config.webhook_secret) {
        warnings.push((
            "triggerConfig.webhookSecret".to_string(),
            format!(
                "is a secret published in hooks.example.yaml, so anyone can sign deliveries \
                 to this hook; {ADVICE}"
            ),
        ));
    }
    if published(&hook.action_config.signing_secret) {
        warnings.push((
            "actionConfig.signingSecret".to_string(),
            format!(
                "is a secret published in hooks.example.yaml, so anyone can sign requests \
                 the receiver will take for this hub's; {ADVICE}"
            ),
        ));
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `${VAR:-default}` defaults on the example's lines that set a secret.
    fn example_defaults() -> Vec<String> {
        let example = include_str!("../../hooks.example.yaml");
        let mut found = Vec::new();
        for line in example.lines().filter(|l| l.contains("Secret:")) {
            let mut rest = line;
            while let Some(start) = rest.find(":-") {
                let value = &rest[start + 2..];
                let end = value.find('}').unwrap_or(value.len());
                // `${SLACK_SIGNING_SECRET:-}`: no default, nothing published.
                if end > 0 {
                    found.push(value[..end].to_string());
                }
                rest = &value[end..];
            }
        }
        found
    }

    #[test]
    fn every_secret_the_example_publishes_is_listed() {
        let defaults = example_defaults();
        assert!(defaults.len() >= 4, "{defaults:?}");
        for default in defaults {
            assert!(PUBLISHED_SECRETS.contains(&default.as_str()), "{default}");
        }
    }

    #[test]
    fn enabled_hooks_with_a_published_secret_are_warned_about() {
        let text = "\
hooks:
  - { id: a, triggerConfig: { webhookPath: a, webhookSecret: [mine, change-me-github-secret] },
      action: webhook,
      actionConfig: { webhookUrl: 'http://127.0.0.1:9/x', sign: standard,
                      signingSecret: whsec_Y2hhbmdlLW1lLWZvcndhcmQtc2VjcmV0 } }
  - { id: b, enabled: false, triggerConfig: { webhookPath: b, webhookSecret: change-me-github-secret },
      action: webhook, actionConfig: { webhookUrl: 'http://127.0.0.1:9/x' } }
  - { id: c, triggerConfig: { webhookPath: c, webhookSecret: mine },
      action: webhook, actionConfig: { webhookUrl: 'http://127.0.0.1:9/x' } }
";
        let config = crate::config::load_str(text, "t.yaml", &|_| None).unwrap();
        let paths: Vec<Vec<String>> = config
            .hooks
            .iter()
            .map(|h| {
                published_secret_warnings(h)
                    .into_iter()
                    .map(|w| w.0)
                    .collect()
            })
            .collect();
        assert_eq!(
            paths,
            [
                vec![
                    "triggerConfig.webhookSecret".to_string(),
                    "actionConfig.signingSecret".to_string()
                ],
                vec![],
                vec![]
            ]
        );
    }
}
