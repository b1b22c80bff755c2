//! Issue 19, "the owner hears when it breaks" (SPEC §11): through the real hub, with local
//! doubles of Telegram and Slack and a manual clock, an execution that ends `failed` is one
//! message to the owner; failures within `minInterval` are gathered into the next message,
//! never lost (not even across a restart) and never a flood; a hook's own `alerts` replaces
//! the top-level one.

use crate::common;

use std::time::Duration;

use common::slack::{self, Slack};
use common::telegram::{self, Telegram};
use common::{Hub, Target, accepted_ids};
use hookhub::{Clock, ManualClock};
use reqwest::Method;
use serde_json::Value;

const OWNER_CHAT: i64 = 4242;
const SLACK_CHANNEL: &str = "C0ALERTS";
const PUBLIC_URL: &str = "https://hooks.example.com";

fn config(telegram: &Telegram, slack: &Slack, failing: &Target, refusing: &Target) -> String {
    format!(
        r#"
server: {{ dataDir: "{{data}}", publicUrl: "{PUBLIC_URL}", shutdownGrace: 0s }}
admin: {{ token: test-admin-token }}
channels:
  telegram: {{ botToken: "{tg_token}", apiUrl: "{tg}" }}
  slack: {{ botToken: {sl_token}, signingSecret: {sl_secret}, apiUrl: "{sl}" }}
alerts: {{ onFailure: true, channels: [telegram], minInterval: 10m }}
tools:
  slow: {{ command: ["/bin/sleep", "30"], timeout: 60s }}
hooks:
  - id: flaky
    triggerConfig: {{ webhookPath: flaky, webhookSecret: s3cret }}
    action: webhook
    actionConfig: {{ webhookUrl: "{failing}" }}
  - id: broken
    triggerConfig: {{ webhookPath: broken, webhookSecret: s3cret }}
    action: webhook
    actionConfig: {{ webhookUrl: "{refusing}" }}
  - id: quiet
    triggerConfig: {{ webhookPath: quiet, webhookSecret: s3cret }}
    action: webhook
    actionConfig: {{ webhookUrl: "{refusing}" }}
    alerts: {{ onFailure: false }}
  - id: to-slack
    triggerConfig: {{ webhookPath: to-slack, webhookSecret: s3cret }}
    action: webhook
    actionConfig: {{ webhookUrl: "{refusing}" }}
    alerts: {{ channels: [slack] }}
  - id: once
    triggerConfig: {{ webhookPath: once, webhookSecret: s3cret }}
    action: execute_tool
    actionConfig: {{ toolId: slow }}
"#,
        tg_token = telegram::TOKEN,
        tg = telegram.url,
        sl_token = slack::BOT_TOKEN,
        sl_secret = slack::SIGNING_SECRET,
        sl = slack.url,
        failing = failing.url,
        refusing = refusing.url,
    )
}

struct World {
    hub: Hub,
    yaml: String,
    telegram: Telegram,
    slack: Slack,
    clock: ManualClock,
    dir: tempfile::TempDir,
}

/// The hub with the owner's Telegram chat linked. The forward targets answer 500 (retried)
/// and 400 (failed at once) to every request.
async fn start() -> World {
    let (telegram, slack) = (Telegram::start().await, Slack::start().await);
    let failing = Target::start(&[500; 100]).await;
    let refusing = Target::start(&[400; 100]).await;
    let clock = ManualClock::starting_now();
    let dir = tempfile::tempdir().unwrap();
    let yaml = config(&telegram, &slack, &failing, &refusing);
    let hub = Hub::start(&yaml, dir.path(), Some(clock.clone())).await;
    telegram.link(&hub, OWNER_CHAT).await;
    World {
        hub,
        yaml,
        telegram,
        slack,
        clock,
        dir,
    }
}

impl World {
    /// The alerts the owner's Telegram chat got, oldest first.
    fn alerts(&self) -> Vec<String> {
        self.telegram
            .sent()
            .into_iter()
            .filter(|(chat, text)| chat == &OWNER_CHAT.to_string() && text.starts_with("hookhub:"))
            .map(|(_, text)| text)
            .collect()
    }

    /// Waits (5 s at most) until the chat has `n` alerts; they all.
    async fn wait_for_alerts(&self, n: usize) -> Vec<String> {
        for _ in 0..100 {
            let alerts = self.alerts();
            if alerts.len() >= n {
                return alerts;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected {n} alerts; got {:#?}", self.alerts());
    }

    /// Gives the hub's alert task a moment, then checks it sent no more than `n`.
    async fn assert_alerts_stay(&self, n: usize) {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(self.alerts().len(), n, "{:#?}", self.alerts());
    }

    /// Delivers to `path` and waits until the execution has failed; its id.
    async fn fail(&self, path: &str) -> String {
        let id = accepted_ids(self.hub.deliver(path, "s3cret", r#"{"n":1}"#).await)
            .await
            .remove(0);
        self.hub.wait_for_status(&id, "failed").await;
        id
    }
}

#[tokio::test]
async fn a_failure_is_one_message_once_its_retries_are_exhausted() {
    let w = start().await;
    let id = accepted_ids(w.hub.deliver("flaky", "s3cret", "{}").await)
        .await
        .remove(0);
    // Each retry is due at most 4915 s after the last (4096 s + 20 % jitter).
    let attempts = |e: &Value| e["attempts"].as_array().map_or(0, Vec::len);
    for tries in 1.. {
        let e = w
            .hub
            .wait_for_execution(&id, |e| e["status"] == "failed" || attempts(e) == tries)
            .await;
        if e["status"] == "failed" {
            break;
        }
        w.hub
            .wait_for_execution(&id, |e| e["status"] == "retrying")
            .await;
        assert!(w.alerts().is_empty(), "no alert while it is retried");
        w.clock.advance(Duration::from_secs(5_000));
    }
    let e = w.hub.wait_for_status(&id, "failed").await;
    let error = e["error"].as_str().unwrap();
    assert!(error.starts_with("gave up after"), "{error}");
    let alerts = w.wait_for_alerts(1).await;
    assert_eq!(
        alerts[0],
        format!(
            "hookhub: hook flaky failed\nExecution {id}: {error}\n{PUBLIC_URL}/#/executions/{id}"
        )
    );
    w.assert_alerts_stay(1).await;
    w.hub.stop().await;
}

#[tokio::test]
async fn failures_within_the_interval_are_gathered_into_the_next_message() {
    let w = start().await;
    let first = w.fail("broken").await;
    let alerts = w.wait_for_alerts(1).await;
    assert!(
        alerts[0].contains(&format!("Execution {first}:")),
        "{alerts:#?}"
    );

    let mut later = Vec::new();
    for _ in 0..3 {
        later.push(w.fail("broken").await);
    }
    w.assert_alerts_stay(1).await;
    w.clock.advance(Duration::from_secs(9 * 60));
    w.assert_alerts_stay(1).await;
    w.clock.advance(Duration::from_secs(61));
    let alerts = w.wait_for_alerts(2).await;
    let gathered = &alerts[1];
    assert!(
        gathered.starts_with("hookhub: hook broken failed 3 times since the last alert\n"),
        "{gathered}"
    );
    assert!(
        gathered.contains(&format!("Executions: {}\n", later.join(", "))),
        "{gathered}"
    );
    assert!(gathered.contains("Last error: "), "{gathered}");
    assert!(
        gathered.ends_with(&format!("{PUBLIC_URL}/#/hooks/broken")),
        "{gathered}"
    );
    w.assert_alerts_stay(2).await;
    w.hub.stop().await;
}

#[tokio::test]
async fn a_hooks_own_alerts_silence_or_redirect_them() {
    let w = start().await;
    w.fail("quiet").await;
    w.clock.advance(Duration::from_secs(3600));
    w.assert_alerts_stay(0).await;

    link_slack(&w).await;
    let id = w.fail("to-slack").await;
    let posted = w.slack.wait_for_post(SLACK_CHANNEL).await;
    assert!(
        posted.starts_with("hookhub: hook to-slack failed\n"),
        "{posted}"
    );
    assert!(posted.contains(&id), "{posted}");
    w.assert_alerts_stay(0).await;
    w.hub.stop().await;
}

#[tokio::test]
async fn gathered_failures_are_told_after_a_restart() {
    let w = start().await;
    w.fail("broken").await;
    w.wait_for_alerts(1).await;
    let waiting = [w.fail("broken").await, w.fail("broken").await];
    w.assert_alerts_stay(1).await;
    let World {
        hub,
        yaml,
        telegram,
        slack,
        clock,
        dir,
    } = w;
    hub.stop().await;
    let hub = Hub::start(&yaml, dir.path(), Some(clock.clone())).await;
    let w = World {
        hub,
        yaml,
        telegram,
        slack,
        clock,
        dir,
    };
    w.assert_alerts_stay(1).await;
    w.clock.advance(Duration::from_secs(10 * 60 + 1));
    let alerts = w.wait_for_alerts(2).await;
    assert!(alerts[1].contains("failed 2 times"), "{}", alerts[1]);
    assert!(alerts[1].contains(&waiting.join(", ")), "{}", alerts[1]);
    w.hub.stop().await;
}

#[tokio::test]
async fn a_tool_interrupted_by_a_stop_is_alerted_when_the_hub_is_back() {
    let w = start().await;
    let id = accepted_ids(w.hub.deliver("once", "s3cret", "{}").await)
        .await
        .remove(0);
    w.hub.wait_for_status(&id, "running").await;
    let World {
        hub,
        yaml,
        telegram,
        clock,
        dir,
        ..
    } = w;
    hub.stop().await;
    let hub = Hub::start(&yaml, dir.path(), Some(clock.clone())).await;
    hub.wait_for_status(&id, "failed").await;
    let text = telegram
        .wait_for_message(OWNER_CHAT, |t| t.starts_with("hookhub:"))
        .await;
    assert!(
        text.contains(&format!("Execution {id}: interrupted")),
        "{text}"
    );
    hub.stop().await;
}

/// Links the Slack channel: a code made in the API, sent as `/link CODE`.
async fn link_slack(w: &World) {
    let answer = w
        .hub
        .api(Method::POST, "/api/channels/link-codes")
        .send()
        .await
        .unwrap();
    let code = answer.json::<Value>().await.unwrap()["code"]
        .as_str()
        .unwrap()
        .to_string();
    let now_secs = w.clock.now_ms() / 1000;
    let (body, headers) = slack::command(
        slack::SIGNING_SECRET,
        now_secs,
        "/link",
        &code,
        SLACK_CHANNEL,
    );
    let mut request = w
        .hub
        .client
        .post(format!("{}/api/channels/slack/commands", w.hub.url));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let reply = request.body(body).send().await.unwrap();
    assert_eq!(reply.status(), 200);
}
