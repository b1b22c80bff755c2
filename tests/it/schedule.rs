//! The `schedule` trigger on an injected clock: a cron hook runs when its time comes, once per
//! occurrence, recorded like any other run; after downtime it catches up once, not in a burst.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::{Hub, Target};
use hookhub::{Clock, ManualClock, SystemClock};
use serde_json::Value;

const FIVE_MINUTES: u64 = 5 * 60 * 1000;

fn config(target: &str) -> String {
    format!(
        r#"
server: {{ dataDir: "{{data}}" }}
admin: {{ token: test-admin-token }}
hooks:
  - id: ticker
    trigger: schedule
    triggerConfig: {{ cron: "*/5 * * * *" }}
    action: webhook
    actionConfig: {{ webhookUrl: "{target}" }}
"#
    )
}

/// The next 5-minute boundary after the real time now.
fn next_boundary() -> u64 {
    (SystemClock.now_ms() / FIVE_MINUTES + 1) * FIVE_MINUTES
}

async fn executions(hub: &Hub) -> Vec<Value> {
    let page = hub.get_json("/api/hooks/ticker/executions").await;
    page["executions"].as_array().unwrap().clone()
}

/// Waits until the hook has `n` executions, all succeeded (10 s at most), and returns them.
async fn wait_for_runs(hub: &Hub, n: usize) -> Vec<Value> {
    let mut last = Vec::new();
    for _ in 0..200 {
        last = executions(hub).await;
        if last.len() == n && last.iter().all(|e| e["status"] == "succeeded") {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("expected {n} succeeded runs; saw {last:#?}");
}

/// Asserts that nothing more runs for a little while.
async fn assert_stays(hub: &Hub, target: &Target, n: usize) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(executions(hub).await.len(), n);
    assert_eq!(target.count(), n);
}

async fn start(yaml: &str, dir: &Path, at: u64) -> (Hub, ManualClock) {
    let clock = ManualClock::new(at);
    let hub = Hub::start(yaml, dir, Some(clock.clone())).await;
    // Answering at all means the scheduler has made its plan, so the clock may move now.
    executions(&hub).await;
    (hub, clock)
}

#[tokio::test]
async fn a_cron_hook_runs_at_each_occurrence_on_the_injected_clock() {
    let target = Target::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let boundary = next_boundary();
    let (hub, clock) = start(&config(&target.url), dir.path(), boundary - 10_000).await;
    assert_stays(&hub, &target, 0).await;

    clock.advance(Duration::from_secs(20));
    let runs = wait_for_runs(&hub, 1).await;
    assert_eq!(target.count(), 1);
    let run = &runs[0];
    assert_eq!(run["trigger"]["path"], "schedule");
    assert_eq!(run["trigger"]["method"], "SCHEDULE");
    assert_eq!(run["trigger"]["body"], serde_json::json!({}));
    assert_eq!(run["label"], "cron */5 * * * *");
    assert_eq!(target.bodies(), ["{}"]);
    assert_stays(&hub, &target, 1).await;

    clock.advance(Duration::from_millis(FIVE_MINUTES));
    wait_for_runs(&hub, 2).await;
    assert_stays(&hub, &target, 2).await;

    // Not reachable as a webhook: it has no path.
    let status = hub.deliver("ticker", "x", "{}").await.status();
    assert_eq!(status, 404);
    hub.stop().await;
}

#[tokio::test]
async fn missed_runs_are_caught_up_once_after_a_restart() {
    let target = Target::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = config(&target.url);
    let boundary = next_boundary();
    let (hub, clock) = start(&yaml, dir.path(), boundary - 10_000).await;
    clock.advance(Duration::from_secs(20));
    wait_for_runs(&hub, 1).await;
    hub.stop().await;

    // Back within the same interval: nothing was missed, nothing runs.
    let (hub, _) = start(&yaml, dir.path(), boundary + 60_000).await;
    assert_stays(&hub, &target, 1).await;
    hub.stop().await;

    // Back three hours later: 36 runs were missed; exactly one catch-up runs.
    let later = boundary + 3 * 3600 * 1000 + 30_000;
    let (hub, clock) = start(&yaml, dir.path(), later).await;
    wait_for_runs(&hub, 2).await;
    assert_stays(&hub, &target, 2).await;

    // And the schedule goes on from there.
    clock.advance(Duration::from_millis(FIVE_MINUTES));
    wait_for_runs(&hub, 3).await;
    assert_stays(&hub, &target, 3).await;
    hub.stop().await;
}
