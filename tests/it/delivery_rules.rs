//! What happens between verification and the queue, over HTTP against the real hub: dedupe,
//! lock keys, client allowlists behind trusted proxies, the rejection ring, CloudEvents and GET.

use crate::common;

use common::{Hub, Target, accepted_ids, github_signature};
use hookhub::parse_rfc3339;
use serde_json::{Value, json};

fn config(target: &str) -> String {
    format!(
        r#"
server: {{ dataDir: "{{data}}", trustedProxies: [127.0.0.1/32] }}
admin: {{ token: test-admin-token }}
tools:
  slow: {{ command: ["/bin/sleep", "0.4"], timeout: 10s }}
hooks:
  - id: forward
    triggerConfig: {{ webhookPath: events, webhookSecret: s3cret }}
    action: webhook
    actionConfig: {{ webhookUrl: "{target}" }}
  - id: keyed
    triggerConfig: {{ webhookPath: keyed, webhookSecret: s3cret, dedupeKey: "{{{{webhook.body.id}}}}" }}
    action: webhook
    actionConfig: {{ webhookUrl: "{target}" }}
  - id: locked
    triggerConfig: {{ webhookPath: locked, webhookSecret: s3cret, lockKey: "{{{{webhook.body.repo}}}}" }}
    action: execute_tool
    actionConfig: {{ toolId: slow, concurrency: 5 }}
  - id: office-only
    triggerConfig: {{ webhookPath: office, webhookSecret: s3cret, ipAllowlist: [203.0.113.0/24] }}
    action: webhook
    actionConfig: {{ webhookUrl: "{target}" }}
  - id: polled
    triggerConfig: {{ webhookPath: polled, scheme: bearer, webhookSecret: tok, methods: [GET] }}
    action: webhook
    actionConfig: {{ webhookUrl: "{target}" }}
"#
    )
}

async fn start() -> (Hub, Target, tempfile::TempDir) {
    Hub::start_with_target(config).await
}

async fn send(hub: &Hub, path: &str, body: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut request = hub
        .client
        .post(format!("{}/api/webhooks/{path}", hub.url))
        .header("content-type", "application/json")
        .header(
            "x-hub-signature-256",
            github_signature("s3cret", body.as_bytes()),
        )
        .body(body.to_string());
    for (k, v) in extra {
        request = request.header(*k, *v);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn the_same_delivery_id_runs_once() {
    let (hub, target, _dir) = start().await;
    let delivery = [("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")];
    let first = accepted_ids(send(&hub, "events", r#"{"n":1}"#, &delivery).await).await;
    hub.wait_for_status(&first[0], "succeeded").await;

    let again = send(&hub, "events", r#"{"n":1}"#, &delivery).await;
    assert_eq!(again.status(), 200);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["duplicate"], true);
    assert_eq!(body["executions"][0]["executionId"], first[0].as_str());
    assert_eq!(target.count(), 1, "the repeat did not run");

    // A dedupeKey template decides instead of the headers.
    let a = send(&hub, "keyed", r#"{"id":"evt-1"}"#, &[]).await;
    assert_eq!(a.status(), 202);
    let b = send(&hub, "keyed", r#"{"id":"evt-1","retry":true}"#, &[]).await;
    assert_eq!(b.status(), 200);
    let c = send(&hub, "keyed", r#"{"id":"evt-2"}"#, &[]).await;
    assert_eq!(c.status(), 202);
    hub.stop().await;
}

/// (startedAt, finishedAt) in ms of a finished execution.
fn span(e: &Value) -> (u64, u64) {
    let t = |k: &str| parse_rfc3339(e[k].as_str().unwrap()).unwrap();
    (t("startedAt"), t("finishedAt"))
}

#[tokio::test]
async fn one_lock_key_runs_one_at_a_time_and_collapses_while_queued() {
    let (hub, _target, _dir) = start().await;
    // Five deliveries, each sent while the one before is running: each waits its turn.
    let mut ids: Vec<String> = Vec::new();
    for n in 0..5 {
        let body = format!(r#"{{"repo":"acme/api","n":{n}}}"#);
        let id = accepted_ids(send(&hub, "locked", &body, &[]).await)
            .await
            .remove(0);
        // Read the new one before the previous: if the previous is still running now, the new
        // one cannot have started.
        let new = hub.get_json(&format!("/api/executions/{id}")).await;
        assert_eq!(
            new["lockKey"], "acme_api",
            "template keys keep only safe characters"
        );
        if let Some(previous) = ids.last() {
            let previous = hub.get_json(&format!("/api/executions/{previous}")).await;
            if previous["status"] == "running" {
                assert_eq!(
                    new["status"], "queued",
                    "waits for the running one with its key"
                );
            }
        }
        hub.wait_for_status(&id, "running").await;
        ids.push(id);
    }
    let mut spans = Vec::new();
    for id in &ids {
        spans.push(span(&hub.wait_for_status(id, "succeeded").await));
    }
    for pair in spans.windows(2) {
        assert!(
            pair[0].1 <= pair[1].0,
            "strictly one after another: {spans:?}"
        );
    }

    // While one runs and one waits, a third with the same key folds into the waiting one.
    let running = accepted_ids(send(&hub, "locked", r#"{"repo":"x"}"#, &[]).await)
        .await
        .remove(0);
    hub.wait_for_status(&running, "running").await;
    let waiting = accepted_ids(send(&hub, "locked", r#"{"repo":"x"}"#, &[]).await)
        .await
        .remove(0);
    let third = send(&hub, "locked", r#"{"repo":"x"}"#, &[]).await;
    assert_eq!(third.status(), 202);
    let third: Value = third.json().await.unwrap();
    assert_eq!(third["executions"][0]["status"], "skipped");
    assert_eq!(third["executions"][0]["collapsedInto"], waiting.as_str());
    hub.wait_for_status(&waiting, "succeeded").await;
    hub.stop().await;
}

#[tokio::test]
async fn different_lock_keys_run_side_by_side() {
    let (hub, _target, _dir) = start().await;
    let a = accepted_ids(send(&hub, "locked", r#"{"repo":"a"}"#, &[]).await)
        .await
        .remove(0);
    let b = accepted_ids(send(&hub, "locked", r#"{"repo":"b"}"#, &[]).await)
        .await
        .remove(0);
    let (a, b) = (
        span(&hub.wait_for_status(&a, "succeeded").await),
        span(&hub.wait_for_status(&b, "succeeded").await),
    );
    assert!(a.0 < b.1 && b.0 < a.1, "they overlapped: {a:?} {b:?}");
    // ?lockKey= must already be well-formed.
    let bad = send(&hub, "locked?lockKey=a/b", r#"{"repo":"a"}"#, &[]).await;
    assert_eq!(bad.status(), 400);
    hub.stop().await;
}

#[tokio::test]
async fn allowlists_see_the_client_behind_a_trusted_proxy_and_refusals_are_kept() {
    let (hub, target, _dir) = start().await;
    let office = [("x-forwarded-for", "203.0.113.5")];
    assert_eq!(send(&hub, "office", "{}", &office).await.status(), 202);
    let stranger = send(&hub, "office", "{}", &[("x-forwarded-for", "198.51.100.1")]).await;
    assert_eq!(stranger.status(), 403);
    let body: Value = stranger.json().await.unwrap();
    assert_eq!(body["error"]["code"], "ip_not_allowed");

    // A wrong signature lands in the ring too, with secrets redacted and no body.
    let forged = hub
        .client
        .post(format!("{}/api/webhooks/office", hub.url))
        .header("x-forwarded-for", "203.0.113.5")
        .header("x-hub-signature-256", "sha256=00")
        .header("authorization", "Bearer should-not-be-kept")
        .body("secret payload")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let rejections = hub.get_json("/api/hooks/office-only/rejections").await;
    let list = rejections["rejections"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["code"], "auth_invalid");
    assert_eq!(list[0]["client"], "203.0.113.5");
    assert_eq!(list[0]["bodyBytes"], 14);
    assert_eq!(list[0]["headers"]["authorization"], "[redacted]");
    assert_eq!(list[1]["code"], "ip_not_allowed");
    assert_eq!(list[1]["client"], "198.51.100.1");
    assert!(!rejections.to_string().contains("secret payload"));
    assert!(!rejections.to_string().contains("should-not-be-kept"));

    // A flood does not grow it.
    for _ in 0..80 {
        send(&hub, "office", "{}", &[("x-forwarded-for", "198.51.100.1")]).await;
    }
    let rejections = hub.get_json("/api/hooks/office-only/rejections").await;
    assert_eq!(rejections["rejections"].as_array().unwrap().len(), 50);
    assert_eq!(target.count(), 1);
    hub.stop().await;
}

#[tokio::test]
async fn cloud_events_and_get_deliveries_become_payloads() {
    let (hub, target, _dir) = start().await;
    let event = r#"{"specversion":"1.0","type":"com.example.build.done","source":"/ci","id":"ev-9","data":{"status":"green"}}"#;
    let response = hub
        .client
        .post(format!("{}/api/webhooks/events", hub.url))
        .header("content-type", "application/cloudevents+json")
        .header(
            "x-hub-signature-256",
            github_signature("s3cret", event.as_bytes()),
        )
        .body(event)
        .send()
        .await
        .unwrap();
    let id = accepted_ids(response).await.remove(0);
    let e = hub.wait_for_status(&id, "succeeded").await;
    assert_eq!(e["trigger"]["body"], json!({"status": "green"}));
    assert_eq!(e["eventType"], "com.example.build.done");
    assert_eq!(e["deliveryId"], "ev-9");

    let polled = hub
        .client
        .get(format!("{}/api/webhooks/polled?status=done&run=7", hub.url))
        .bearer_auth("tok")
        .send()
        .await
        .unwrap();
    let id = accepted_ids(polled).await.remove(0);
    let e = hub.wait_for_status(&id, "succeeded").await;
    assert_eq!(e["trigger"]["body"], json!({"status": "done", "run": "7"}));
    assert_eq!(e["trigger"]["method"], "GET");
    assert_eq!(target.count(), 2);
    hub.stop().await;
}

#[tokio::test]
async fn a_delivery_the_filters_refuse_is_recorded_as_skipped_and_runs_nothing() {
    let target = Target::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        r#"
server: {{ dataDir: "{{data}}" }}
admin: {{ token: test-admin-token }}
hooks:
  - id: opened-prs
    triggerConfig:
      webhookPath: prs
      webhookSecret: s3cret
      events: [pull_request]
      filter: "body.action == 'opened'"
    action: webhook
    actionConfig: {{ webhookUrl: "{}" }}
"#,
        target.url
    );
    let hub = Hub::start(&yaml, dir.path(), None).await;
    let deliver = |event: &'static str, body: &'static str| {
        hub.client
            .post(format!("{}/api/webhooks/prs", hub.url))
            .header("content-type", "application/json")
            .header("x-github-event", event)
            .header(
                "x-hub-signature-256",
                github_signature("s3cret", body.as_bytes()),
            )
            .body(body)
            .send()
    };
    let closed = deliver("pull_request", r#"{"action":"closed"}"#)
        .await
        .unwrap();
    assert_eq!(closed.status(), 202, "accepted and recorded, not refused");
    let closed: Value = closed.json().await.unwrap();
    assert_eq!(closed["executions"][0]["status"], "skipped");
    let push = deliver("push", r#"{"action":"opened"}"#).await.unwrap();
    let push: Value = push.json().await.unwrap();
    assert_eq!(push["executions"][0]["status"], "skipped");

    let opened = accepted_ids(
        deliver("pull_request", r#"{"action":"opened"}"#)
            .await
            .unwrap(),
    )
    .await
    .remove(0);
    hub.wait_for_status(&opened, "succeeded").await;
    assert_eq!(target.bodies(), vec![r#"{"action":"opened"}"#.to_string()]);

    let skipped = hub
        .get_json("/api/hooks/opened-prs/executions?status=skipped")
        .await;
    let skipped = skipped["executions"].as_array().unwrap();
    assert_eq!(skipped.len(), 2);
    let reasons: Vec<&str> = skipped
        .iter()
        .map(|e| e["skipReason"].as_str().unwrap())
        .collect();
    assert!(reasons[0].contains("push"), "{reasons:?}");
    assert!(
        reasons[1].contains("body.action == 'opened'"),
        "{reasons:?}"
    );
    hub.stop().await;
}
