//! The execution: one run of one hook (SPEC §7). Its serde form is the record the store keeps
//! (a change to it is a change of the database's format: `store::migrate`); the API shows it
//! as [`ExecutionOut`].

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::clock::Millis;

pub mod lane;
mod out;
pub use out::ExecutionOut;

/// `exe_` + a ULID. ULIDs sort by creation time, so the store keeps executions in arrival order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExecutionId(pub ulid::Ulid);

impl ExecutionId {
    const PREFIX: &'static str = "exe_";

    /// A new id stamped with `now_ms`. Ids made in the same millisecond by this process
    /// increase, so the log's newest-first order is the arrival order even within one ms.
    pub fn new(now_ms: Millis) -> Self {
        static LAST: std::sync::Mutex<Option<ulid::Ulid>> = std::sync::Mutex::new(None);
        let mut last = LAST.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let id = next_ulid(*last, now_ms, rand::random());
        *last = Some(id);
        Self(id)
    }

    /// When the execution was received.
    pub fn timestamp_ms(&self) -> Millis {
        self.0.timestamp_ms()
    }
}

/// The ULID after `prev` for `now_ms`: one more than `prev` within the same millisecond, else a
/// fresh one with `random` bits.
fn next_ulid(prev: Option<ulid::Ulid>, now_ms: Millis, random: u128) -> ulid::Ulid {
    let fresh = ulid::Ulid::from_parts(now_ms, random);
    match prev {
        Some(prev) if prev.timestamp_ms() == now_ms => prev.increment().unwrap_or(fresh),
        _ => fresh,
    }
}

impl fmt::Display for ExecutionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", Self::PREFIX, self.0)
    }
}

impl FromStr for ExecutionId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s
            .strip_prefix(Self::PREFIX)
            .ok_or_else(|| format!("`{s}` is not an execution id (exe_…)"))?;
        ulid::Ulid::from_string(rest)
            .map(Self)
            .map_err(|_| format!("`{s}` is not an execution id (exe_…)"))
    }
}

impl Serialize for ExecutionId {
    /// From a buffer on the stack rather than through `Display`: every record and answer
    /// carries ids, and the formatting machinery cost about as much as the rest of encoding
    /// one (callgrind).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        const PREFIX: usize = ExecutionId::PREFIX.len();
        let mut text = [0u8; PREFIX + ulid::ULID_LEN];
        text[..PREFIX].copy_from_slice(Self::PREFIX.as_bytes());
        let ulid: &mut [u8; ulid::ULID_LEN] = (&mut text[PREFIX..]).try_into().expect("sized");
        self.0.array_to_str(ulid);
        s.serialize_str(std::str::from_utf8(&text).expect("ASCII"))
    }
}

impl<'de> Deserialize<'de> for ExecutionId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// An execution as a 202 (or a duplicate's 200) lists it: built straight into the answer's
/// JSON, without an intermediate `Value`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary<'a> {
    pub hook_id: &'a str,
    pub execution_id: ExecutionId,
    /// Absent for a duplicate, which made no execution of its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collapsed_into: Option<ExecutionId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

/// The body of a 202 (or 200) answer that accepted a delivery, a replay or a test run.
#[derive(Debug, Serialize)]
pub struct Accepted<'a> {
    pub accepted: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
    pub executions: Vec<Summary<'a>>,
}

/// Where an execution stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Queued,
    Running,
    Retrying,
    Succeeded,
    Failed,
    Skipped,
}

impl Status {
    /// No more attempts will be made.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed | Status::Skipped)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Retrying => "retrying",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(Value::String(s.to_string())).map_err(|_| {
            format!("`{s}` is not a status (queued, running, retrying, succeeded, failed, skipped)")
        })
    }
}

/// One run of one hook. Serialized, it is the stored record; the API's shape is
/// [`ExecutionOut`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Execution {
    pub id: ExecutionId,
    pub hook_id: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<String>,
    /// Executions of a hook with the same key run one at a time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_key: Option<String>,
    #[serde(with = "time")]
    pub received_at: Millis,
    #[serde(
        default,
        with = "time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub started_at: Option<Millis>,
    #[serde(
        default,
        with = "time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub finished_at: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    pub trigger: Trigger,
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(
        default,
        with = "time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub next_attempt_at: Option<Millis>,
    /// Made by `POST /api/hooks/:id/test` rather than a real delivery.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
    /// The execution this one replays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<ExecutionId>,
    /// Why a `skipped` execution did not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<String>,
    /// The queued execution (same lock key) this delivery was folded into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collapsed_into: Option<ExecutionId>,
    /// The `X-Request-Id` of the delivery, on its log lines too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Execution {
    /// How many tries have been made.
    pub fn tries(&self) -> u32 {
        let count = self.attempts.len() as u32;
        self.attempts
            .last()
            .map_or(0, |a| a.number.unwrap_or(count))
    }

    /// A new queued execution of `hook_id` for `trigger`, received at `now_ms`.
    pub fn queued(hook_id: &str, trigger: Trigger, now_ms: Millis) -> Self {
        Self {
            id: ExecutionId::new(now_ms),
            hook_id: hook_id.to_string(),
            status: Status::Queued,
            label: None,
            event_type: None,
            delivery_id: None,
            lock_key: None,
            received_at: now_ms,
            started_at: None,
            finished_at: None,
            duration_ms: None,
            trigger,
            attempts: Vec::new(),
            output: None,
            error: None,
            next_attempt_at: None,
            test: false,
            replay_of: None,
            skip_reason: None,
            collapsed_into: None,
            request_id: None,
        }
    }

    /// How the execution is listed in a 202 answer (deliveries, replays, test runs).
    pub fn summary(&self) -> Summary<'_> {
        Summary {
            hook_id: &self.hook_id,
            execution_id: self.id,
            status: Some(self.status),
            collapsed_into: self.collapsed_into,
            skip_reason: self.skip_reason.as_deref(),
            duplicate: false,
        }
    }

    /// Records the execution as `skipped` for `reason`; it will never run.
    pub fn skip(&mut self, reason: impl Into<String>) {
        self.status = Status::Skipped;
        self.skip_reason = Some(reason.into());
        self.finished_at = Some(self.received_at);
        self.duration_ms = Some(0);
    }

    /// Folds this execution into `queued`, a queued execution with the same lock key.
    pub fn collapse_into(&mut self, queued: ExecutionId) {
        let key = self.lock_key.as_deref().unwrap_or_default();
        self.skip(format!(
            "collapsed into {queued}, which has lockKey `{key}` and had not started yet"
        ));
        self.collapsed_into = Some(queued);
    }
}

/// A request's headers as they are kept: lower-cased names, text values. The usual names are
/// borrowed from a list made once (`ingress/redact.rs`), not copied for every delivery: a name
/// was one of the two allocations (and frees) each header cost.
pub type Headers = BTreeMap<Cow<'static, str>, String>;

/// What arrived: enough to run the action again, byte for byte.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trigger {
    pub path: String,
    pub method: String,
    /// Lower-cased names; secrets replaced by `[redacted]`.
    pub headers: Headers,
    pub query: BTreeMap<String, String>,
    /// Whether `query` was merged into `body` (see `TriggerConfig::merges_query`). Written
    /// only when false: records from before the choice existed all had it merged.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub query_in_body: bool,
    /// The parsed payload (query parameters merged in when `query_in_body`). Not stored:
    /// derived from `raw_body`.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub body: Value,
    /// The body exactly as received, for forwarding it unchanged.
    #[serde(default, skip_serializing_if = "RawBody::is_empty")]
    pub raw_body: RawBody,
}

/// Bytes stored as text when they are UTF-8 and as `{"base64": …}` otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawBody(pub bytes::Bytes);

impl RawBody {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for RawBody {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => s.serialize_str(text),
            Err(_) => {
                let mut map = BTreeMap::new();
                map.insert(
                    "base64",
                    base64::engine::general_purpose::STANDARD.encode(&self.0),
                );
                map.serialize(s)
            }
        }
    }
}

impl<'de> Deserialize<'de> for RawBody {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Binary { base64: String },
        }
        match Raw::deserialize(d)? {
            Raw::Text(t) => Ok(RawBody(t.into_bytes().into())),
            Raw::Binary { base64 } => base64::engine::general_purpose::STANDARD
                .decode(base64)
                .map(|bytes| RawBody(bytes.into()))
                .map_err(serde::de::Error::custom),
        }
    }
}

/// One try at running the action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    #[serde(with = "time")]
    pub started_at: Millis,
    pub duration_ms: u64,
    pub outcome: AttemptOutcome,
    /// Which try this attempt belongs to, from 1. Several attempts share a number when one try
    /// reaches several targets (a notify sends to each channel). Absent in records written
    /// before numbers were kept, where each attempt was its own try.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<u32>,
    /// What happened, in the action's own terms (HTTP status and response, exit code and output…).
    pub detail: Value,
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    Succeeded,
    /// Failed in a way worth trying again.
    Retryable,
    /// Failed for good.
    Failed,
}

/// Times as RFC 3339 text in JSON, milliseconds in memory.
pub(crate) mod time {
    use super::*;

    pub fn serialize<S: Serializer>(ms: &Millis, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(crate::clock::Rfc3339::of(*ms).as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Millis, D::Error> {
        let text = String::deserialize(d)?;
        crate::clock::parse_rfc3339(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not an RFC 3339 time")))
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(ms: &Option<Millis>, s: S) -> Result<S::Ok, S::Error> {
            match ms {
                Some(ms) => super::serialize(ms, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Millis>, D::Error> {
            super::deserialize(d).map(Some)
        }
    }
}

fn yes() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_one_millisecond_increase_in_the_order_they_are_made() {
        let ms = 1_700_000_000_000;
        let mut ids = vec![next_ulid(None, ms, u128::MAX >> 60)];
        for random in [5, 0, u128::MAX] {
            ids.push(next_ulid(ids.last().copied(), ms, random));
        }
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        assert!(ids.iter().all(|id| id.timestamp_ms() == ms));
        // A new millisecond starts from fresh random bits.
        let later = next_ulid(ids.last().copied(), ms + 1, 7);
        assert_eq!(later, ulid::Ulid::from_parts(ms + 1, 7));
        let id = ExecutionId(later);
        assert_eq!(id.to_string().parse::<ExecutionId>(), Ok(id));
    }

    #[test]
    fn an_id_serialises_as_it_displays_and_reads_back() {
        for id in [
            ulid::Ulid::nil(),
            ulid::Ulid::from_parts(1_700_000_000_000, 42),
        ] {
            let id = ExecutionId(id);
            let json = serde_json::to_string(&id).unwrap();
            assert_eq!(json, format!("\"{id}\""));
            assert!(json.starts_with("\"exe_"), "{json}");
            assert_eq!(serde_json::from_str::<ExecutionId>(&json).unwrap(), id);
        }
    }
}
