//! `alerts:` (SPEC §11): whether the owner hears of executions that end `failed`, on which
//! channels, and how often at most per hook. Written at the top of the file for every hook, or
//! on a hook, where it replaces the top-level one whole (unset fields take their defaults, not
//! the top level's), so a hook's alerts read the same wherever they are written. The block's
//! shape, [`AlertsConfig`], is in `model`, since a hook embeds it; this file chooses the one in
//! force and checks it.

use super::validate::Problem;
use super::{ChannelsConfig, Config};
use crate::model::{AlertsConfig, ChannelKind, Hook};

impl Config {
    /// The alerts in force for a hook (its own, else the top level's), when they are on. A
    /// hook that is gone takes the top level's, so its last failures are still told.
    pub fn alerts_for<'a>(&'a self, hook: Option<&'a Hook>) -> Option<&'a AlertsConfig> {
        hook.and_then(|h| h.alerts.as_ref())
            .or(self.alerts.as_ref())
            .filter(|a| a.on_failure)
    }
}

/// Problems with an `alerts` block at `path` (`alerts` at the top, `alerts` within a hook).
pub fn problems(path: &str, alerts: &AlertsConfig, channels: &ChannelsConfig) -> Vec<Problem> {
    let mut problems = Vec::new();
    if alerts.min_interval.is_zero() {
        problems.push((
            format!("{path}.minInterval"),
            "must be more than 0s, such as 10m: it is what keeps a broken hook from flooding \
             the chat"
                .into(),
        ));
    }
    for (i, kind) in alerts.channels.iter().enumerate() {
        if !channels.is_configured(*kind) {
            problems.push((
                format!("{path}.channels[{i}]"),
                format!("channel {kind} is not configured: set channels.{kind}.botToken"),
            ));
        }
    }
    let any = ChannelKind::ALL.iter().any(|k| channels.is_configured(*k));
    if alerts.on_failure && alerts.channels.is_empty() && !any {
        problems.push((
            format!("{path}.onFailure"),
            "alerts go to the owner's chats, but no channel is configured: set \
             channels.telegram.botToken or channels.slack.botToken, or `onFailure: false`"
                .into(),
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::load_str;

    fn errors(yaml: &str) -> String {
        load_str(yaml, "hooks.yaml", &|_| None)
            .unwrap_err()
            .to_string()
    }

    const TELEGRAM: &str = "channels: { telegram: { botToken: \"1:x\" } }\n";

    #[test]
    fn alerts_read_with_defaults_and_a_hook_replaces_them_whole() {
        let yaml = format!(
            "{TELEGRAM}alerts: {{ channels: [telegram], minInterval: 2m }}\nhooks:\n  \
             - id: quiet\n    triggerConfig: {{ webhookPath: q, webhookSecret: s }}\n    \
             action: webhook\n    actionConfig: {{ webhookUrl: \"http://x\" }}\n    \
             alerts: {{ onFailure: false }}\n  \
             - id: loud\n    triggerConfig: {{ webhookPath: l, webhookSecret: s }}\n    \
             action: webhook\n    actionConfig: {{ webhookUrl: \"http://x\" }}\n    \
             alerts: {{}}\n"
        );
        let config = load_str(&yaml, "hooks.yaml", &|_| None).unwrap();
        let top = config.alerts_for(None).unwrap();
        assert_eq!(top.min_interval, Duration::from_secs(120));
        assert_eq!(top.channels, [ChannelKind::Telegram]);
        assert!(config.alerts_for(Some(&config.hooks[0])).is_none());
        let loud = config.alerts_for(Some(&config.hooks[1])).unwrap();
        assert_eq!(loud, &AlertsConfig::default());
    }

    #[test]
    fn bad_alerts_are_errors_naming_the_field() {
        let e = errors(&format!("{TELEGRAM}alerts: {{ onFailur: true }}\n"));
        assert!(
            e.contains("hooks.yaml:2:11: alerts.onFailur: unknown field `onFailur`"),
            "{e}"
        );
        let e = errors(&format!("{TELEGRAM}alerts: {{ minInterval: soon }}\n"));
        assert!(e.contains("alerts.minInterval"), "{e}");
        assert!(e.contains("a duration such as"), "{e}");
        let e = errors(&format!("{TELEGRAM}alerts: {{ channels: [email] }}\n"));
        assert!(
            e.contains("alerts.channels[0]: unknown variant `email`"),
            "{e}"
        );
        let e = errors(&format!("{TELEGRAM}alerts: {{ channels: [slack] }}\n"));
        assert!(
            e.contains("alerts.channels[0]: channel slack is not configured"),
            "{e}"
        );
        let e = errors(&format!("{TELEGRAM}alerts: {{ minInterval: 0s }}\n"));
        assert!(
            e.contains("alerts.minInterval: must be more than 0s"),
            "{e}"
        );
        let e = errors("alerts: {}\n");
        assert!(
            e.contains("alerts.onFailure: alerts go to the owner's chats"),
            "{e}"
        );
        let e = errors(&format!(
            "{TELEGRAM}hooks:\n  - id: h\n    triggerConfig: {{ webhookPath: h, webhookSecret: s }}\n    \
             action: webhook\n    actionConfig: {{ webhookUrl: \"http://x\" }}\n    \
             alerts: {{ channels: [slack] }}\n"
        ));
        assert!(
            e.contains("hooks[0].alerts.channels[0]: channel slack is not configured"),
            "{e}"
        );
    }
}
