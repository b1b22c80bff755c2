//! The forward action's retry schedule, driven through the real hub with an injected clock:
//! 5xx retried on schedule, 4xx not, and a retry pending across a restart resumes.

use crate::common;

use std::time::Duration;

use common::{Hub, Target, accepted_ids};
use hookhub::{ManualClock, parse_rfc3339};
use serde_json::Value;

fn config(target: &str) -> String {
    format!(
        r#"
server: {{ dataDir: "{{data}}" }}
admin: {{ token: test-admin-token }}
hooks:
  - id: forward
    triggerConfig: {{ webhookPath: events, webhookSecret: s3cret }}
    action: webhook
    actionConfig: {{ webhookUrl: "{target}" }}
"#
    )
}

/// Milliseconds from the last attempt's start to `nextAttemptAt`.
fn scheduled_delay(e: &Value) -> u64 {
    let next = parse_rfc3339(e["nextAttemptAt"].as_str().unwrap()).unwrap();
    let last = e["attempts"].as_array().unwrap().last().unwrap();
    let started = parse_rfc3339(last["startedAt"].as_str().unwrap()).unwrap();
    next - started
}

fn attempts(e: &Value) -> usize {
    e["attempts"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_failing_target_is_retried_on_the_schedule_until_it_answers() {
    let target = Target::start(&[500, 503, 502]).await;
    let clock = ManualClock::starting_now();
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::start(&config(&target.url), dir.path(), Some(clock.clone())).await;
    let id = accepted_ids(hub.deliver("events", "s3cret", r#"{"n":1}"#).await)
        .await
        .remove(0);

    // Each failure schedules the next attempt 1 s, 4 s, 16 s later (±20 % jitter).
    for (expected_secs, tries) in [(1u64, 1usize), (4, 2), (16, 3)] {
        let e = hub
            .wait_for_execution(&id, |e| e["status"] == "retrying" && attempts(e) == tries)
            .await;
        let delay = scheduled_delay(&e);
        let (lo, hi) = (expected_secs * 800, expected_secs * 1200);
        assert!(
            (lo..=hi).contains(&delay),
            "attempt {tries}: delay {delay} ms"
        );
        assert_eq!(e["attempts"][tries - 1]["outcome"], "retryable");
        // Not a moment before its time.
        clock.advance(Duration::from_millis(lo / 2));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(target.count(), tries);
        clock.advance(Duration::from_millis(hi));
    }
    let e = hub.wait_for_status(&id, "succeeded").await;
    assert_eq!(attempts(&e), 4);
    assert_eq!(target.count(), 4);
    assert_eq!(e["attempts"][3]["detail"]["status"], 200);
    hub.stop().await;
}

#[tokio::test]
async fn a_client_error_is_not_retried() {
    let target = Target::start(&[400]).await;
    let clock = ManualClock::starting_now();
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::start(&config(&target.url), dir.path(), Some(clock.clone())).await;
    let id = accepted_ids(hub.deliver("events", "s3cret", "{}").await)
        .await
        .remove(0);
    let e = hub.wait_for_status(&id, "failed").await;
    assert_eq!(attempts(&e), 1);
    assert_eq!(e["attempts"][0]["outcome"], "failed");
    assert_eq!(e["attempts"][0]["detail"]["status"], 400);
    clock.advance(Duration::from_secs(10_000));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(target.count(), 1);
    hub.stop().await;
}

#[tokio::test]
async fn a_retry_pending_across_a_restart_resumes() {
    let target = Target::start(&[500]).await;
    let clock = ManualClock::starting_now();
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::start(&config(&target.url), dir.path(), Some(clock.clone())).await;
    let id = accepted_ids(hub.deliver("events", "s3cret", r#"{"keep":"me"}"#).await)
        .await
        .remove(0);
    hub.wait_for_status(&id, "retrying").await;
    hub.stop().await;

    let hub = Hub::start(&config(&target.url), dir.path(), Some(clock.clone())).await;
    let e = hub.get_json(&format!("/api/executions/{id}")).await;
    assert_eq!(
        e["status"], "retrying",
        "the pending retry survived the restart"
    );
    clock.advance(Duration::from_secs(2));
    let e = hub.wait_for_status(&id, "succeeded").await;
    assert_eq!(attempts(&e), 2);
    assert_eq!(target.bodies(), vec![r#"{"keep":"me"}"#; 2]);
    hub.stop().await;
}

#[tokio::test]
async fn a_tool_interrupted_by_a_stop_is_failed_unless_it_may_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = r#"
server: { dataDir: "{data}", shutdownGrace: 0s }
admin: { token: test-admin-token }
tools:
  slow: { command: ["/bin/sleep", "30"], timeout: 60s }
hooks:
  - id: once
    triggerConfig: { webhookPath: once, webhookSecret: s3cret }
    action: execute_tool
    actionConfig: { toolId: slow }
  - id: again
    triggerConfig: { webhookPath: again, webhookSecret: s3cret }
    action: execute_tool
    actionConfig: { toolId: slow, retryOnCrash: true }
"#;
    let hub = Hub::start(yaml, dir.path(), None).await;
    let once = accepted_ids(hub.deliver("once", "s3cret", "{}").await)
        .await
        .remove(0);
    let again = accepted_ids(hub.deliver("again", "s3cret", "{}").await)
        .await
        .remove(0);
    hub.wait_for_status(&once, "running").await;
    hub.wait_for_status(&again, "running").await;
    hub.stop().await;

    let hub = Hub::start(yaml, dir.path(), None).await;
    let e = hub.wait_for_status(&once, "failed").await;
    assert!(
        e["error"].as_str().unwrap().starts_with("interrupted"),
        "{e}"
    );
    // retryOnCrash: picked up again rather than failed.
    let e = hub.wait_for_status(&again, "running").await;
    assert!(e["error"].is_null());
    hub.stop().await;
}
