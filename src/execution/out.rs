//! An execution as the API and the web UI show it (SPEC §7): its own shape, apart from the
//! record the store keeps (which is [`Execution`]'s serde form, `store::migrate`'s to change).
//! The two agree today field for field; either may change without the other.
//!
//! Built borrowing the execution, straight into the answer's JSON.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};
use serde_json::Value;

use super::{Attempt, AttemptOutcome, Execution, ExecutionId, RawBody, Status, Trigger, time};
use crate::clock::Millis;

/// `GET /api/executions/:id`, each of a hook's log page, and (brief) each change the live log
/// hears of.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionOut<'a> {
    id: ExecutionId,
    hook_id: &'a str,
    status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delivery_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lock_key: Option<&'a str>,
    #[serde(serialize_with = "time::serialize")]
    received_at: Millis,
    #[serde(
        serialize_with = "time::option::serialize",
        skip_serializing_if = "Option::is_none"
    )]
    started_at: Option<Millis>,
    #[serde(
        serialize_with = "time::option::serialize",
        skip_serializing_if = "Option::is_none"
    )]
    finished_at: Option<Millis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_ms: Option<u64>,
    trigger: TriggerOut<'a>,
    /// Left out of a brief one, which has `attemptCount` instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    attempts: Option<AttemptsOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attempt_count: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(
        serialize_with = "time::option::serialize",
        skip_serializing_if = "Option::is_none"
    )]
    next_attempt_at: Option<Millis>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    test: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    replay_of: Option<ExecutionId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    skip_reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    collapsed_into: Option<ExecutionId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TriggerOut<'a> {
    path: &'a str,
    method: &'a str,
    headers: &'a crate::execution::Headers,
    query: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "is_true")]
    query_in_body: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw_body: Option<&'a RawBody>,
}

#[derive(Debug)]
struct AttemptsOut<'a>(&'a [Attempt]);

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AttemptOut<'a> {
    #[serde(serialize_with = "time::serialize")]
    started_at: Millis,
    duration_ms: u64,
    outcome: AttemptOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    number: Option<u32>,
    detail: &'a Value,
}

/// What a brief trigger shows of its headers and query.
static NONE: BTreeMap<String, String> = BTreeMap::new();
static NO_HEADERS: crate::execution::Headers = BTreeMap::new();

impl<'a> ExecutionOut<'a> {
    /// The execution whole.
    pub fn of(e: &'a Execution) -> Self {
        Self {
            trigger: TriggerOut::of(&e.trigger),
            attempts: Some(AttemptsOut(&e.attempts)),
            attempt_count: None,
            output: e.output.as_ref(),
            ..Self::common(e)
        }
    }

    /// The execution without its bulky parts, for the live log: the trigger's path and method
    /// only (empty headers and query), no output, and how many attempts were made instead of
    /// them. The UI fetches one execution whole when it is opened.
    pub fn brief(e: &'a Execution) -> Self {
        Self {
            trigger: TriggerOut {
                headers: &NO_HEADERS,
                query: &NONE,
                body: None,
                raw_body: None,
                ..TriggerOut::of(&e.trigger)
            },
            attempts: None,
            attempt_count: Some(e.attempts.len()),
            output: None,
            ..Self::common(e)
        }
    }

    /// The small fields, the same either way.
    fn common(e: &'a Execution) -> Self {
        Self {
            id: e.id,
            hook_id: &e.hook_id,
            status: e.status,
            label: e.label.as_deref(),
            event_type: e.event_type.as_deref(),
            delivery_id: e.delivery_id.as_deref(),
            lock_key: e.lock_key.as_deref(),
            received_at: e.received_at,
            started_at: e.started_at,
            finished_at: e.finished_at,
            duration_ms: e.duration_ms,
            trigger: TriggerOut::of(&e.trigger),
            attempts: None,
            attempt_count: None,
            output: None,
            error: e.error.as_deref(),
            next_attempt_at: e.next_attempt_at,
            test: e.test,
            replay_of: e.replay_of,
            skip_reason: e.skip_reason.as_deref(),
            collapsed_into: e.collapsed_into,
            request_id: e.request_id.as_deref(),
        }
    }
}

impl<'a> TriggerOut<'a> {
    fn of(t: &'a Trigger) -> Self {
        Self {
            path: &t.path,
            method: &t.method,
            headers: &t.headers,
            query: &t.query,
            query_in_body: t.query_in_body,
            body: Some(&t.body).filter(|b| !b.is_null()),
            raw_body: Some(&t.raw_body).filter(|r| !r.is_empty()),
        }
    }
}

impl Serialize for AttemptsOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|a| AttemptOut {
            started_at: a.started_at,
            duration_ms: a.duration_ms,
            outcome: a.outcome,
            number: a.number,
            detail: &a.detail,
        }))
    }
}

fn is_true(value: &bool) -> bool {
    *value
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An execution with every field set, and one with none that may be left out.
    fn executions() -> [Execution; 2] {
        let trigger = Trigger {
            path: "gh".into(),
            method: "POST".into(),
            headers: [("x-h".into(), "v".to_string())].into(),
            query: [("q".to_string(), "1".to_string())].into(),
            query_in_body: false,
            body: serde_json::json!({"a": 1}),
            raw_body: RawBody(vec![0xff, 0].into()),
        };
        let mut full = Execution::queued("gh", trigger.clone(), 1_700_000_000_000);
        full.status = Status::Retrying;
        full.label = Some("l".into());
        full.event_type = Some("push".into());
        full.delivery_id = Some("d".into());
        full.lock_key = Some("k".into());
        full.started_at = Some(1_700_000_000_001);
        full.finished_at = Some(1_700_000_000_002);
        full.duration_ms = Some(1);
        full.attempts = vec![Attempt {
            started_at: 1_700_000_000_001,
            duration_ms: 3,
            outcome: AttemptOutcome::Retryable,
            number: Some(1),
            detail: serde_json::json!({"status": 500}),
        }];
        full.output = Some(serde_json::json!("out"));
        full.error = Some("e".into());
        full.next_attempt_at = Some(1_700_000_060_000);
        full.test = true;
        full.replay_of = Some(ExecutionId::new(1));
        full.skip_reason = Some("s".into());
        full.collapsed_into = Some(ExecutionId::new(2));
        full.request_id = Some("r".into());
        let plain = Trigger {
            headers: BTreeMap::new(),
            query: BTreeMap::new(),
            query_in_body: true,
            body: Value::Null,
            raw_body: RawBody::default(),
            ..trigger
        };
        let empty = Execution::queued("gh", plain, 1_700_000_000_000);
        [full, empty]
    }

    #[test]
    fn the_api_shows_an_execution_as_its_record_reads() {
        for e in executions() {
            let shown = serde_json::to_value(ExecutionOut::of(&e)).unwrap();
            assert_eq!(shown, serde_json::to_value(&e).unwrap());
        }
    }

    #[test]
    fn a_brief_one_leaves_the_bulky_parts_out_and_counts_attempts() {
        let [e, _] = executions();
        let brief = serde_json::to_value(ExecutionOut::brief(&e)).unwrap();
        let mut expected = serde_json::to_value(&e).unwrap();
        let fields = expected.as_object_mut().unwrap();
        fields.remove("attempts");
        fields.remove("output");
        fields.insert("attemptCount".into(), 1.into());
        let trigger = &mut fields["trigger"];
        trigger["headers"] = serde_json::json!({});
        trigger["query"] = serde_json::json!({});
        let trigger = trigger.as_object_mut().unwrap();
        trigger.remove("body");
        trigger.remove("rawBody");
        assert_eq!(brief, expected);
    }
}
