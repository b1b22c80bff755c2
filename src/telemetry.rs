//! Metrics in the Prometheus text format for `GET /metrics`: deliveries by hook and result,
//! executions by hook and final status, action latency, how long the disk took to make each
//! group of writes durable, retries, and (read at scrape time) queue depth and running actions.
//!
//! The recorder is process-wide, as the `metrics` facade wants; several hubs in one process
//! (the tests) share it, which only adds their counts together. Hook ids are the only
//! free-form label, and only ids of configured hooks are used, so a flood of made-up paths
//! cannot grow the series.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, OnceLock, RwLock};
use std::time::Duration;

use foldhash::HashMap;
use metrics::{Counter, Histogram, counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Seconds; from a quick forward to a long agent run.
const LATENCY_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// Seconds; from a sync the disk's cache absorbs to a stalled disk.
const SYNC_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The recorder keeps each histogram sample (a value and a time, ~16 bytes) until its samples
/// are drained into bucket counts, which it does only when asked (at a scrape): a hub nobody
/// scrapes would otherwise keep one for every action attempt and group commit, for good
/// (BENCHMARKS.md). So every this many samples, the one recording drains them all.
const DRAIN_EVERY: u64 = 1024;
static SAMPLES: AtomicU64 = AtomicU64::new(0);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder once; the handle that renders it, unless another recorder was
/// installed first (then metrics are not available).
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("hookhub_action_duration_seconds".into()),
                    &LATENCY_BUCKETS,
                )
                .ok()?
                .set_buckets_for_metric(
                    Matcher::Full("hookhub_journal_sync_seconds".into()),
                    &SYNC_BUCKETS,
                )
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    metrics::describe_counter!(
        "hookhub_deliveries_total",
        "Requests to /api/webhooks/*, by the first hook on the path and the result"
    );
    metrics::describe_counter!(
        "hookhub_executions_total",
        "Executions that reached a final status, by hook and status"
    );
    metrics::describe_histogram!(
        "hookhub_action_duration_seconds",
        metrics::Unit::Seconds,
        "How long each attempt of an action took, by action"
    );
    metrics::describe_histogram!(
        "hookhub_journal_sync_seconds",
        metrics::Unit::Seconds,
        "How long each group of writes took to reach the disk (write and fdatasync): the wait a 202 includes"
    );
    metrics::describe_counter!("hookhub_retries_total", "Retries scheduled, by hook");
    metrics::describe_counter!(
        "hookhub_connections_refused_total",
        "Connections turned away because their client address held its whole share"
    );
    metrics::describe_gauge!(
        "hookhub_queue_depth",
        "Executions waiting to start, by hook"
    );
    metrics::describe_gauge!("hookhub_executions_running", "Actions running now");
    metrics::describe_gauge!(
        "hookhub_storage_writable",
        "1 while the data dir takes writes; 0 while deliveries are refused with 503 storage_*"
    );
}

/// A request to `/api/webhooks/*` ended with `result` (`accepted`, `duplicate`, or the error
/// code). `hook` is the first hook on the path, `-` when there is none.
pub fn delivery(hook: &str, result: &str) {
    static DELIVERIES: LazyLock<ByHook> = LazyLock::new(ByHook::default);
    DELIVERIES.increment(
        hook,
        result,
        |hook, result| counter!("hookhub_deliveries_total", "hook" => hook, "result" => result),
    );
}

/// An execution reached `status` (succeeded, failed, skipped).
pub fn finished(hook: &str, status: &str) {
    static FINISHED: LazyLock<ByHook> = LazyLock::new(ByHook::default);
    FINISHED.increment(
        hook,
        status,
        |hook, status| counter!("hookhub_executions_total", "hook" => hook, "status" => status),
    );
}

/// The handles of one counter by hook and a second label. `counter!` builds its key from owned
/// labels, hashes it and looks it up in the recorder's registry on every call (~1,500
/// instructions a delivery for each of the two counters in callgrind); a handle kept here is
/// found with two lookups by `&str` under a read lock. The labels are configured hook ids and
/// a fixed set of results, so the map is as bounded as the recorder's own series. Handles are
/// kept only once this module's recorder is installed: one made before would stay a no-op.
#[derive(Default)]
struct ByHook(RwLock<HashMap<String, HashMap<String, Counter>>>);

impl ByHook {
    fn increment(&self, hook: &str, label: &str, make: fn(String, String) -> Counter) {
        if !matches!(HANDLE.get(), Some(Some(_))) {
            make(hook.to_string(), label.to_string()).increment(1);
            return;
        }
        let known = self.0.read().unwrap_or_else(|p| p.into_inner());
        if let Some(counter) = known.get(hook).and_then(|labels| labels.get(label)) {
            counter.increment(1);
            return;
        }
        drop(known);
        let mut known = self.0.write().unwrap_or_else(|p| p.into_inner());
        let counter = known
            .entry(hook.to_string())
            .or_default()
            .entry(label.to_string())
            .or_insert_with(|| make(hook.to_string(), label.to_string()));
        counter.increment(1);
    }
}

/// One attempt of `action` took `millis`.
pub fn attempt(action: &str, millis: u64) {
    histogram!("hookhub_action_duration_seconds", "action" => action.to_string())
        .record(millis as f64 / 1000.0);
    sampled();
}

/// The journal wrote and synced one group of writes in `took`.
pub fn journal_sync(took: Duration) {
    static SYNCS: OnceLock<Histogram> = OnceLock::new();
    let took = took.as_secs_f64();
    // The handle is kept once this module's recorder is installed (see `ByHook`).
    if let Some(Some(_)) = HANDLE.get() {
        SYNCS
            .get_or_init(|| histogram!("hookhub_journal_sync_seconds"))
            .record(took);
    } else {
        histogram!("hookhub_journal_sync_seconds").record(took);
    }
    sampled();
}

/// Counts a histogram sample, and drains them all every [`DRAIN_EVERY`].
fn sampled() {
    if SAMPLES.fetch_add(1, Ordering::Relaxed) % DRAIN_EVERY == DRAIN_EVERY - 1
        && let Some(Some(handle)) = HANDLE.get()
    {
        handle.run_upkeep();
    }
}

pub fn connection_refused() {
    counter!("hookhub_connections_refused_total").increment(1);
}

pub fn retry(hook: &str) {
    counter!("hookhub_retries_total", "hook" => hook.to_string()).increment(1);
}

/// The text exposition, with the queue gauges set from `depths` (hook, waiting) and `running`,
/// and whether the data dir takes writes.
pub fn render(depths: &[(String, usize)], running: usize, writable: bool) -> String {
    gauge!("hookhub_storage_writable").set(if writable { 1.0 } else { 0.0 });
    let Some(handle) = install() else {
        return "# metrics are unavailable: another metrics recorder was installed first\n".into();
    };
    for (hook, waiting) in depths {
        gauge!("hookhub_queue_depth", "hook" => hook.clone()).set(*waiting as f64);
    }
    gauge!("hookhub_executions_running").set(running as f64);
    handle.run_upkeep();
    handle.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_counter_handles_count_into_the_rendered_page() {
        install().expect("the recorder installs");
        for _ in 0..3 {
            delivery("test-kept-handles", "accepted");
        }
        delivery("test-kept-handles", "queue_full");
        finished("test-kept-handles", "skipped");
        let page = render(&[], 0, true);
        for line in [
            r#"hookhub_deliveries_total{hook="test-kept-handles",result="accepted"} 3"#,
            r#"hookhub_deliveries_total{hook="test-kept-handles",result="queue_full"} 1"#,
            r#"hookhub_executions_total{hook="test-kept-handles",status="skipped"} 1"#,
        ] {
            assert!(page.contains(line), "{line} in {page}");
        }
    }

    #[test]
    fn samples_nobody_scrapes_are_not_kept() {
        install().expect("the recorder installs");
        let before = crate::test_alloc::held_by_this_thread();
        // 16 bytes a sample while kept: 6.4 MB if none were let go.
        for i in 0..200_000 {
            attempt("test_unscraped", 3);
            journal_sync(Duration::from_micros(i % 3000));
        }
        let held = crate::test_alloc::held_by_this_thread() - before;
        assert!(
            held < 1 << 20,
            "{held} bytes still held after 400,000 samples"
        );
        // The drained samples are in the buckets.
        let page = render(&[], 0, true);
        assert!(
            page.contains(
                r#"hookhub_action_duration_seconds_bucket{action="test_unscraped",le="0.005"} 200000"#
            ),
            "{page}"
        );
    }

    #[test]
    fn attempts_render_as_a_histogram() {
        install().expect("the recorder installs");
        attempt("test_action", 7);
        let page = render(&[], 0, true);
        assert!(
            page.contains(
                r#"hookhub_action_duration_seconds_bucket{action="test_action",le="0.01"} 1"#
            ),
            "{page}"
        );
    }
}
