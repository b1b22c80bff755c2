//! Retention as a hook passes its limit (`server.retention.maxPerHook`): a busy hook's log is
//! pruned back to the limit within moments, not at the next hourly prune.

use crate::common;

use std::time::{Duration, Instant};

use common::Hub;

const CONFIG: &str = r#"
server: { dataDir: "{data}", rateLimit: { perSecond: 0 }, retention: { maxPerHook: 100 } }
admin: { token: test-admin-token }
hooks:
  - id: busy
    triggerConfig: { webhookPath: busy, webhookSecret: s3cret, events: [never-sent] }
    action: webhook
    actionConfig: { webhookUrl: "http://127.0.0.1:9/x" }
  - id: quiet
    triggerConfig: { webhookPath: quiet, webhookSecret: s3cret, events: [never-sent] }
    action: webhook
    actionConfig: { webhookUrl: "http://127.0.0.1:9/x" }
"#;

/// How many executions a hook's log lists (up to 1,000).
async fn logged(hub: &Hub, hook: &str) -> usize {
    let page = hub
        .get_json(&format!("/api/hooks/{hook}/executions?limit=1000"))
        .await;
    page["executions"].as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_past_its_limit_is_pruned_back_to_it_while_the_hub_runs() {
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::start(CONFIG, dir.path(), None).await;
    for n in 0..50 {
        let response = hub
            .deliver("quiet", "s3cret", &format!(r#"{{"n":{n}}}"#))
            .await;
        assert_eq!(response.status(), 202);
    }
    // Three times the limit: the first prune comes once the hook gained its margin (100 here)
    // past the hourly prune at start.
    for n in 0..300 {
        let response = hub
            .deliver("busy", "s3cret", &format!(r#"{{"n":{n}}}"#))
            .await;
        assert_eq!(response.status(), 202);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut left = logged(&hub, "busy").await;
    while left > 100 {
        assert!(
            Instant::now() < deadline,
            "busy still holds {left} executions, past maxPerHook 100"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        left = logged(&hub, "busy").await;
    }
    assert_eq!(left, 100, "the newest 100 are kept");
    let newest = hub.get_json("/api/hooks/busy/executions?limit=1").await;
    assert_eq!(newest["executions"][0]["trigger"]["body"]["n"], 299);
    assert_eq!(
        logged(&hub, "quiet").await,
        50,
        "a hook under its limit keeps all"
    );
    hub.stop().await;
}
