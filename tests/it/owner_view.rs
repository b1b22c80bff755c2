//! What the web UI's pages read from the admin API (SPEC §11, "the owner's view"): the tools a
//! hook form offers (`GET /api/tools`), the tries still ahead of a retrying execution
//! (`retrySchedule`), each hook's last 24 hours on `GET /api/hooks` (`last24h`), and edits
//! that move a hook to another action or trigger, as the form makes them.

use crate::common;

use std::time::Duration;

use common::{Hub, Target, accepted_ids};
use hookhub::{Clock, ManualClock, parse_rfc3339};
use reqwest::Method;
use serde_json::{Value, json};

fn config(target: &str) -> String {
    format!(
        r#"
server: {{ dataDir: "{{data}}" }}
admin: {{ token: test-admin-token }}
agent:
  baseUrl: http://127.0.0.1:9/v1
  model: test-model
  roles:
    devops: {{ description: servers and deploys, systemPrompt: Be brief. }}
tools:
  deploy:
    description: Deploys a ref
    command: [/bin/echo, "{{{{params.ref}}}}"]
    env: {{ DEPLOY_TOKEN: tool-env-s3cret, TARGET: "{{{{params.where}}}}" }}
    actions:
      restart: {{ command: [/usr/local/bin/restart-it, "{{{{params.service}}}}"] }}
  only-actions:
    actions:
      a: {{ command: [/bin/true] }}
hooks:
  - id: counted
    triggerConfig: {{ webhookPath: counted, webhookSecret: s3cret, events: [push] }}
    action: webhook
    actionConfig: {{ webhookUrl: "{target}" }}
"#
    )
}

async fn start(script: &[u16], clock: Option<ManualClock>) -> (Hub, Target, tempfile::TempDir) {
    let target = Target::start(script).await;
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::start(&config(&target.url), dir.path(), clock).await;
    (hub, target, dir)
}

/// `t` as milliseconds.
fn ms(t: &Value) -> u64 {
    parse_rfc3339(t.as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn a_retrying_execution_shows_when_each_remaining_try_would_run() {
    let clock = ManualClock::starting_now();
    let (hub, _target, _dir) = start(&[503, 503], Some(clock.clone())).await;
    let id = accepted_ids(hub.deliver("counted", "s3cret", "{}").await)
        .await
        .remove(0);
    let e = hub
        .wait_for_execution(&id, |e| e["status"] == "retrying")
        .await;
    let ahead = e["retrySchedule"].as_array().unwrap();
    let tries: Vec<u64> = ahead
        .iter()
        .map(|t| t["attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(
        tries,
        [2, 3, 4, 5, 6, 7, 8],
        "seven retries after the first try"
    );
    // The next try's time is the stored one, exactly.
    let next = ms(&e["nextAttemptAt"]);
    for field in ["at", "earliest", "latest"] {
        assert_eq!(ms(&ahead[0][field]), next, "{field}");
    }
    // Each later one is its step of the schedule after the one before, ±20 %.
    let (mut low, mut high) = (next, next);
    for (t, step) in ahead[1..].iter().zip([4u64, 16, 64, 256, 1024, 4096]) {
        low += step * 800;
        high += step * 1200;
        assert_eq!(ms(&t["earliest"]), low, "{t}");
        assert_eq!(ms(&t["latest"]), high, "{t}");
        assert!(ms(&t["earliest"]) < ms(&t["at"]) && ms(&t["at"]) < ms(&t["latest"]));
    }

    // After the second failure one try fewer is ahead; once it succeeds, none.
    clock.advance(Duration::from_secs(2));
    let e = hub
        .wait_for_execution(&id, |e| e["attempts"].as_array().unwrap().len() == 2)
        .await;
    assert_eq!(e["status"], "retrying");
    assert_eq!(e["retrySchedule"].as_array().unwrap().len(), 6);
    assert_eq!(e["retrySchedule"][0]["attempt"], 3);
    clock.advance(Duration::from_secs(5));
    let e = hub.wait_for_status(&id, "succeeded").await;
    assert!(e.get("retrySchedule").is_none(), "{e:#}");
    hub.stop().await;
}

#[tokio::test]
async fn the_tools_list_names_actions_and_params_but_never_commands_or_env() {
    let (hub, _target, _dir) = start(&[], None).await;
    let answer = hub.api(Method::GET, "/api/tools").send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let text = answer.text().await.unwrap();
    for hidden in ["tool-env-s3cret", "/bin/echo", "restart-it", "DEPLOY_TOKEN"] {
        assert!(!text.contains(hidden), "`{hidden}` shown: {text}");
    }
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        body["tools"],
        json!([
            {"id": "deploy", "description": "Deploys a ref", "hasCommand": true,
             "params": ["ref", "where"],
             "actions": [{"name": "restart", "params": ["service", "where"]}]},
            {"id": "only-actions", "description": null, "hasCommand": false, "params": [],
             "actions": [{"name": "a", "params": []}]},
        ])
    );
    assert_eq!(
        body["agent"],
        json!({"model": "test-model", "roles": [{"name": "devops", "description": "servers and deploys"}]})
    );
    let anonymous = hub.client.get(format!("{}/api/tools", hub.url)).send();
    assert_eq!(anonymous.await.unwrap().status(), 401);
    hub.stop().await;
}

/// The `counted` hook's `last24h` as `GET /api/hooks` shows it.
async fn last24h(hub: &Hub) -> Value {
    let list = hub.get_json("/api/hooks").await;
    let hook = list["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["id"] == "counted");
    hook.unwrap()["last24h"].clone()
}

/// POSTs a delivery with the event `event` and waits for its execution to end.
async fn run(hub: &Hub, event: &str) {
    let body = "{}";
    let answer = hub
        .client
        .post(format!("{}/api/webhooks/counted", hub.url))
        .header("x-github-event", event)
        .header("content-type", "application/json")
        .header(
            "x-hub-signature-256",
            common::github_signature("s3cret", body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let id = accepted_ids(answer).await.remove(0);
    hub.wait_for_execution(&id, |e| {
        ["succeeded", "failed", "skipped"].contains(&e["status"].as_str().unwrap())
    })
    .await;
}

#[tokio::test]
async fn the_hook_list_counts_each_hours_succeeded_failed_and_skipped_runs() {
    let clock = ManualClock::starting_now();
    let (hub, _target, _dir) = start(&[404], Some(clock.clone())).await;
    let empty = last24h(&hub).await;
    assert_eq!(empty["succeeded"], json!([0u64; 24].to_vec()));
    assert_eq!(empty["capped"], false);
    let hour = 3_600_000;
    assert_eq!(ms(&empty["start"]) % hour, 0, "hours start on the hour");
    assert_eq!(clock.now_ms() / hour - ms(&empty["start"]) / hour, 23);

    run(&hub, "push").await; // the target answers 404: failed, not retried
    run(&hub, "push").await;
    run(&hub, "ping").await; // not in events: skipped
    clock.advance(Duration::from_secs(2 * 3600));
    run(&hub, "push").await;
    let day = last24h(&hub).await;
    let only = |hour: usize, n: u64| {
        let mut counts = [0u64; 24];
        counts[hour] = n;
        json!(counts)
    };
    assert_eq!(day["failed"], only(21, 1));
    assert_eq!(day["skipped"], only(21, 1));
    let mut succeeded = [0u64; 24];
    (succeeded[21], succeeded[23]) = (1, 1);
    assert_eq!(day["succeeded"], json!(succeeded));

    // A day later only the newest run is within the 24 hours.
    clock.advance(Duration::from_secs(22 * 3600));
    let day = last24h(&hub).await;
    assert_eq!(day["succeeded"], only(1, 1));
    assert_eq!(day["failed"], json!([0u64; 24].to_vec()));
    // A single hook's answer has no chart: the list pays for it, the form never sees it.
    assert!(
        hub.get_json("/api/hooks/counted")
            .await
            .get("last24h")
            .is_none()
    );
    hub.stop().await;
}

#[tokio::test]
async fn an_edit_to_another_action_or_trigger_drops_the_secrets_it_no_longer_uses() {
    let (hub, target, _dir) = start(&[], None).await;
    let made = hub
        .api(Method::POST, "/api/hooks")
        .json(&json!({"id": "moving", "triggerConfig": {"webhookPath": "moving", "webhookSecret": "first"},
            "action": "webhook",
            "actionConfig": {"webhookUrl": target.url, "sign": "github", "signingSecret": "signing"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let put = |hook: Value| hub.api(Method::PUT, "/api/hooks/moving").json(&hook).send();

    // The form sends what it shows: no secrets, which the hub keeps only where they still apply.
    let tool = put(
        json!({"triggerConfig": {"webhookPath": "moving"}, "action": "execute_tool",
        "actionConfig": {"toolId": "deploy", "toolParams": {"ref": "main", "where": "here"}}}),
    );
    let tool = tool.await.unwrap();
    assert_eq!(tool.status(), 200, "{}", tool.text().await.unwrap());
    let schedule = put(
        json!({"trigger": "schedule", "triggerConfig": {"cron": "0 6 * * *"},
        "action": "execute_tool", "actionConfig": {"toolId": "deploy", "toolParams": {"ref": "main", "where": "here"}}}),
    );
    let schedule = schedule.await.unwrap();
    assert_eq!(schedule.status(), 200, "{}", schedule.text().await.unwrap());

    // Back to a webhook: it has no secret to keep, so it gets one, shown once as on create.
    let back = put(
        json!({"triggerConfig": {"webhookPath": "moving"}, "action": "webhook",
        "actionConfig": {"webhookUrl": target.url}}),
    );
    let back: Value = back.await.unwrap().json().await.unwrap();
    let secret = back["webhookSecret"]
        .as_str()
        .expect("a new secret, shown once");
    assert_eq!(back["hasSecret"], true);
    accepted_ids(hub.deliver("moving", secret, "{}").await).await;
    let again = hub.get_json("/api/hooks/moving").await;
    assert!(again.get("webhookSecret").is_none(), "shown only once");
    hub.stop().await;
}
