//! The owner's channels through the real hub, with local doubles of the Telegram Bot API and
//! the Slack Web API reached by the real teloxide and slack-morphism clients: linking both ways,
//! unbound chats, expired and reused codes, the notify action, retries and refusals.

use crate::common;

use std::time::Duration;

use common::slack::{self, Slack};
use common::telegram::{self, Answer, Telegram, code_in};
use common::{Hub, accepted_ids};
use hookhub::ManualClock;
use reqwest::Method;
use serde_json::{Value, json};

const OWNER_CHAT: i64 = 4242;
const STRANGER_CHAT: i64 = 6666;
const SLACK_CHANNEL: &str = "C0ALERTS";

fn config(telegram: &Telegram, slack: &Slack) -> String {
    format!(
        r#"
server: {{ dataDir: "{{data}}" }}
admin: {{ token: test-admin-token }}
channels:
  telegram: {{ botToken: "{tg_token}", apiUrl: "{tg}" }}
  slack: {{ botToken: {sl_token}, signingSecret: {sl_secret}, apiUrl: "{sl}" }}
hooks:
  - id: alerts
    triggerConfig: {{ webhookPath: alerts, webhookSecret: s3cret }}
    action: notify
    actionConfig: {{ notifyMessage: "Webhook received: {{{{webhook.body.event}}}} <@here>" }}
  - id: slack-only
    triggerConfig: {{ webhookPath: slack-only, webhookSecret: s3cret }}
    action: notify
    actionConfig: {{ notifyMessage: "only slack", channels: [slack] }}
"#,
        tg_token = telegram::TOKEN,
        tg = telegram.url,
        sl_token = slack::BOT_TOKEN,
        sl_secret = slack::SIGNING_SECRET,
        sl = slack.url,
    )
}

struct World {
    hub: Hub,
    telegram: Telegram,
    slack: Slack,
    clock: ManualClock,
    _dir: tempfile::TempDir,
}

async fn start() -> World {
    let (telegram, slack) = (Telegram::start().await, Slack::start().await);
    let clock = ManualClock::starting_now();
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::start(&config(&telegram, &slack), dir.path(), Some(clock.clone())).await;
    World {
        hub,
        telegram,
        slack,
        clock,
        _dir: dir,
    }
}

async fn make_code(hub: &Hub) -> String {
    let response = hub
        .api(Method::POST, "/api/channels/link-codes")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert!(body["expiresAt"].is_string());
    body["code"].as_str().unwrap().to_string()
}

async fn redeem(hub: &Hub, code: &str) -> reqwest::Response {
    hub.api(Method::POST, "/api/channels/link")
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap()
}

async fn bindings(hub: &Hub) -> Vec<Value> {
    hub.get_json("/api/channels").await["bindings"]
        .as_array()
        .unwrap()
        .clone()
}

/// The owner links Telegram by sending `/link` and entering the bot's code in the API.
async fn link_telegram(w: &World) -> Value {
    let binding = w.telegram.link(&w.hub, OWNER_CHAT).await;
    // Bindings are listed oldest first; keep the next one apart on the frozen clock.
    w.clock.advance(Duration::from_secs(1));
    binding
}

/// The owner links a Slack channel by making a code in the API and sending `/link CODE`.
async fn link_slack(w: &World) {
    let code = make_code(&w.hub).await;
    let reply = slack_command(w, "/link", &code, slack::SIGNING_SECRET).await;
    assert_eq!(reply.status(), 200);
    let body: Value = reply.json().await.unwrap();
    assert!(
        body["text"].as_str().unwrap().starts_with("Linked"),
        "{body}"
    );
    assert_eq!(body["response_type"], "ephemeral");
    w.clock.advance(Duration::from_secs(1));
}

async fn slack_command(w: &World, command: &str, text: &str, secret: &str) -> reqwest::Response {
    let now_secs = w.clock.now_ms() / 1000;
    let (body, headers) = slack::command(secret, now_secs, command, text, SLACK_CHANNEL);
    let mut request = w
        .hub
        .client
        .post(format!("{}/api/channels/slack/commands", w.hub.url));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request.body(body).send().await.unwrap()
}

use hookhub::Clock;

#[tokio::test]
async fn the_owner_links_telegram_by_entering_the_bots_code() {
    let w = start().await;
    let binding = link_telegram(&w).await;
    assert_eq!(binding["channel"], "telegram");
    assert_eq!(binding["chatId"], OWNER_CHAT.to_string());
    assert_eq!(binding["displayName"], "@owner");
    assert_eq!(binding["verified"], true);
    assert!(binding["id"].as_str().unwrap().starts_with("bnd_"));

    let channels = w.hub.get_json("/api/channels").await;
    assert_eq!(channels["bindings"][0], binding);
    let telegram = &channels["channels"][0];
    assert_eq!(telegram["kind"], "telegram");
    assert_eq!(telegram["status"], "ok", "{channels:#}");
    assert!(
        telegram["detail"]
            .as_str()
            .unwrap()
            .contains("@hookhub_test_bot")
    );
    // The bot's token is in the double's request paths, and nowhere in the API.
    assert!(
        w.telegram
            .tokens_seen()
            .iter()
            .all(|t| t == telegram::TOKEN)
    );
    assert!(!channels.to_string().contains(telegram::TOKEN));
    assert!(!channels.to_string().contains(slack::BOT_TOKEN));

    // `/status` now answers with the hub's health.
    w.telegram.say(OWNER_CHAT, "owner", "/status");
    w.telegram
        .wait_for_message(OWNER_CHAT, |t| t.contains("is running"))
        .await;
}

#[tokio::test]
async fn the_owner_links_slack_and_telegram_with_a_code_made_in_the_api() {
    let w = start().await;
    link_slack(&w).await;
    let code = make_code(&w.hub).await;
    w.telegram
        .say(OWNER_CHAT, "owner", &format!("/link {code}"));
    w.telegram
        .wait_for_message(OWNER_CHAT, |t| t.starts_with("Linked"))
        .await;
    let all = bindings(&w.hub).await;
    let kinds: Vec<&str> = all.iter().map(|b| b["channel"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["slack", "telegram"], "{all:#?}");
    assert_eq!(all[0]["chatId"], SLACK_CHANNEL);
    assert_eq!(all[0]["displayName"], "#alerts");
}

#[tokio::test]
async fn an_unbound_chat_only_learns_how_to_link_and_gets_no_notifications() {
    let w = start().await;
    link_telegram(&w).await;
    w.telegram.say(STRANGER_CHAT, "stranger", "/status");
    let reply = w.telegram.wait_for_message(STRANGER_CHAT, |_| true).await;
    assert!(reply.starts_with("This chat is not linked"), "{reply}");
    // Named as the UI names it (issue 19: it said "Settings → Channels").
    assert!(reply.contains("on hookhub's Channels page"), "{reply}");
    w.telegram.say(STRANGER_CHAT, "stranger", "/unlink");
    w.telegram.say(STRANGER_CHAT, "stranger", "hello?");

    let id = accepted_ids(w.hub.deliver("alerts", "s3cret", r#"{"event":"x"}"#).await)
        .await
        .remove(0);
    w.hub.wait_for_status(&id, "succeeded").await;
    let to_stranger: Vec<String> = w
        .telegram
        .sent()
        .into_iter()
        .filter(|(chat, _)| chat == &STRANGER_CHAT.to_string())
        .map(|(_, text)| text)
        .collect();
    assert!(
        to_stranger
            .iter()
            .all(|t| t.starts_with("This chat is not linked")),
        "{to_stranger:#?}"
    );
    assert_eq!(bindings(&w.hub).await.len(), 1);
}

#[tokio::test]
async fn expired_reused_and_wrong_codes_do_not_link() {
    let w = start().await;
    // A code from the API, too late.
    let code = make_code(&w.hub).await;
    w.clock.advance(Duration::from_secs(5 * 60 + 1));
    w.telegram
        .say(OWNER_CHAT, "owner", &format!("/link {code}"));
    let reply = w
        .telegram
        .wait_for_message(OWNER_CHAT, |t| t.starts_with("Not linked"))
        .await;
    assert!(reply.contains("expired"), "{reply}");

    // A bot's code used twice: the second time it is gone.
    w.telegram.say(OWNER_CHAT, "owner", "/link");
    let reply = w
        .telegram
        .wait_for_message(OWNER_CHAT, |t| t.contains("link code"))
        .await;
    let code = code_in(&reply);
    assert_eq!(redeem(&w.hub, &code).await.status(), 201);
    let again = redeem(&w.hub, &code).await;
    assert_eq!(again.status(), 422);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_code");
    assert_eq!(body["error"]["field"], "code");

    // A code made in the API cannot be redeemed in the API, and guessing is cut off.
    let own = make_code(&w.hub).await;
    assert_eq!(redeem(&w.hub, &own).await.status(), 422);
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(redeem(&w.hub, "ZZZZZZ").await.status().as_u16());
    }
    // Five tries a minute: three were used above.
    assert_eq!(statuses, [422, 422, 429, 429, 429]);
    let missing = w
        .hub
        .api(Method::POST, "/api/channels/link")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 422);
    assert_eq!(bindings(&w.hub).await.len(), 1);
}

#[tokio::test]
async fn a_notify_hook_delivers_the_rendered_text_to_telegram_and_slack() {
    let w = start().await;
    link_telegram(&w).await;
    link_slack(&w).await;
    let id = accepted_ids(
        w.hub
            .deliver("alerts", "s3cret", r#"{"event":"deploy"}"#)
            .await,
    )
    .await
    .remove(0);
    let e = w.hub.wait_for_status(&id, "succeeded").await;

    let text = w
        .telegram
        .wait_for_message(OWNER_CHAT, |t| t.starts_with("Webhook"))
        .await;
    assert_eq!(text, "Webhook received: deploy <@here>");
    // Slack gets the same text with its control characters escaped.
    assert_eq!(
        w.slack.wait_for_post(SLACK_CHANNEL).await,
        "Webhook received: deploy &lt;@here&gt;"
    );

    let attempts = e["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{e:#}");
    let channels: Vec<&str> = attempts
        .iter()
        .map(|a| a["detail"]["channel"].as_str().unwrap())
        .collect();
    assert_eq!(channels, ["telegram", "slack"]);
    assert!(
        attempts
            .iter()
            .all(|a| a["outcome"] == "succeeded" && a["number"] == 1)
    );
    assert!(attempts[0]["detail"]["response"]["messageId"].is_number());
    assert_eq!(attempts[1]["detail"]["response"]["channel"], SLACK_CHANNEL);
    assert_eq!(e["output"]["delivered"].as_array().unwrap().len(), 2);
    for secret in [telegram::TOKEN, slack::BOT_TOKEN, slack::SIGNING_SECRET] {
        assert!(!e.to_string().contains(secret));
    }
}

#[tokio::test]
async fn telegram_429_is_retried_after_retry_after_without_repeating_slack() {
    let w = start().await;
    link_telegram(&w).await;
    link_slack(&w).await;
    w.telegram.script(&[Answer::RetryAfter(30)]);
    let id = accepted_ids(w.hub.deliver("alerts", "s3cret", r#"{"event":"x"}"#).await)
        .await
        .remove(0);
    let e = w
        .hub
        .wait_for_execution(&id, |e| e["status"] == "retrying")
        .await;
    assert_eq!(e["attempts"][0]["outcome"], "retryable");
    assert_eq!(e["attempts"][0]["detail"]["retryAfterSecs"], 30);
    assert_eq!(e["attempts"][1]["outcome"], "succeeded");
    let next = hookhub::parse_rfc3339(e["nextAttemptAt"].as_str().unwrap()).unwrap();
    assert!(next >= w.clock.now_ms() + 29_000, "Retry-After honoured");

    w.clock.advance(Duration::from_secs(31));
    let e = w.hub.wait_for_status(&id, "succeeded").await;
    let attempts = e["attempts"].as_array().unwrap();
    assert_eq!(
        attempts.len(),
        3,
        "the second try goes to Telegram only: {e:#}"
    );
    assert_eq!(attempts[2]["detail"]["channel"], "telegram");
    assert_eq!(attempts[2]["number"], 2);
    assert_eq!(w.slack.calls(), 1);
}

#[tokio::test]
async fn slack_channel_not_found_fails_without_a_retry() {
    let w = start().await;
    link_slack(&w).await;
    w.slack.script(&[Some("channel_not_found")]);
    let id = accepted_ids(w.hub.deliver("slack-only", "s3cret", "{}").await)
        .await
        .remove(0);
    let e = w.hub.wait_for_status(&id, "failed").await;
    assert_eq!(e["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(e["attempts"][0]["outcome"], "failed");
    assert!(
        e["error"].as_str().unwrap().contains("channel_not_found"),
        "{e:#}"
    );
    assert!(e["nextAttemptAt"].is_null());
    w.clock.advance(Duration::from_secs(3600));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(w.slack.calls(), 1);
}

#[tokio::test]
async fn a_notify_with_no_linked_chat_fails_saying_how_to_link() {
    let w = start().await;
    let id = accepted_ids(w.hub.deliver("alerts", "s3cret", "{}").await)
        .await
        .remove(0);
    let e = w.hub.wait_for_status(&id, "failed").await;
    assert!(e["error"].as_str().unwrap().contains("/link"), "{e:#}");
    assert!(
        e["error"].as_str().unwrap().contains("Channels page"),
        "{e:#}"
    );
}

#[tokio::test]
async fn a_slack_command_with_a_bad_signature_is_refused() {
    let w = start().await;
    let code = make_code(&w.hub).await;
    let refused = slack_command(&w, "/link", &code, "not-the-secret").await;
    assert_eq!(refused.status(), 401);
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("X-Slack-Signature")
    );
    let unsigned = w
        .hub
        .client
        .post(format!("{}/api/channels/slack/commands", w.hub.url))
        .body("command=%2Flink")
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    assert!(bindings(&w.hub).await.is_empty());
    // The code was not used up by the refused command.
    link_slack_with(&w, &code).await;
}

async fn link_slack_with(w: &World, code: &str) {
    let reply = slack_command(
        w,
        "/hookhub",
        &format!("link {code}"),
        slack::SIGNING_SECRET,
    )
    .await;
    let body: Value = reply.json().await.unwrap();
    assert!(
        body["text"].as_str().unwrap().starts_with("Linked"),
        "{body}"
    );
}

#[tokio::test]
async fn unlinking_from_the_chat_or_the_api_stops_notifications() {
    let w = start().await;
    link_telegram(&w).await;
    link_slack(&w).await;
    w.telegram.say(OWNER_CHAT, "owner", "/unlink");
    w.telegram
        .wait_for_message(OWNER_CHAT, |t| t.starts_with("Unlinked"))
        .await;
    let left = bindings(&w.hub).await;
    assert_eq!(left.len(), 1);
    let path = format!("/api/channels/bindings/{}", left[0]["id"].as_str().unwrap());
    let deleted = w.hub.api(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    let again = w.hub.api(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(again.status(), 404);
    assert!(bindings(&w.hub).await.is_empty());
}

#[tokio::test]
async fn channel_routes_need_the_admin_token_but_slack_commands_do_not() {
    let w = start().await;
    let client = reqwest::Client::new();
    for (method, path) in [
        (Method::GET, "/api/channels"),
        (Method::POST, "/api/channels/link-codes"),
        (Method::POST, "/api/channels/link"),
        (Method::DELETE, "/api/channels/bindings/bnd_x"),
    ] {
        let response = client
            .request(method, format!("{}{path}", w.hub.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{path}");
    }
}

#[tokio::test]
async fn a_hook_naming_an_unconfigured_channel_is_a_config_error() {
    let yaml = r#"
hooks:
  - id: ping
    triggerConfig: { webhookPath: ping, webhookSecret: s }
    action: notify
    actionConfig: { notifyMessage: hi, channels: [slack] }
"#;
    let error = hookhub::load_str(yaml, "hooks.yaml", &|_| None)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(
            "hooks.yaml:6:51: hooks[0].actionConfig.channels[0]: channel slack is not configured"
        ),
        "{error}"
    );
}

#[tokio::test]
async fn the_owner_links_slack_by_entering_the_commands_code() {
    let w = start().await;
    let reply = slack_command(&w, "/hookhub", "link", slack::SIGNING_SECRET).await;
    let body: Value = reply.json().await.unwrap();
    let text = body["text"].as_str().unwrap();
    assert!(text.contains("link code"), "{body}");
    assert!(text.contains("on hookhub's Channels page"), "{body}");
    let response = redeem(&w.hub, &code_in(text)).await;
    assert_eq!(response.status(), 201);
    let binding = response.json::<Value>().await.unwrap()["binding"].clone();
    assert_eq!(binding["channel"], "slack");
    assert_eq!(binding["chatId"], SLACK_CHANNEL);
    // `/status` from the linked channel answers with the hub's health.
    let status = slack_command(&w, "/status", "", slack::SIGNING_SECRET).await;
    let body: Value = status.json().await.unwrap();
    assert!(
        body["text"].as_str().unwrap().contains("is running"),
        "{body}"
    );
}
