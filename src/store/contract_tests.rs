//! The [`Storage`] contract, run against both backends: each test takes a store and is run
//! once on sled in a temp dir and once on a fresh PostgreSQL database (the test cluster of
//! `scripts/pg.sh`: `HOOKHUB_TEST_DATABASE_URL`, or one started for this test process).
//! Then what only a shared database does: leases across two hubs on one database.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::executions::tests::execution;
use super::{Claim, Concurrency, SledStore, Store, postgres::PgStore};
use crate::execution::{Execution, ExecutionId, Status};

const DAY: u64 = 24 * 3600 * 1000;

/// The test cluster's superuser URL, started once per test process when none is given.
fn server_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("HOOKHUB_TEST_DATABASE_URL") {
            return url;
        }
        let dir = std::env::temp_dir().join(format!("hookhub-pg-{}", std::process::id()));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pg.sh");
        let out = std::process::Command::new("bash")
            .arg(script)
            .arg("start")
            .arg(&dir)
            .arg("--watch")
            .arg(std::process::id().to_string())
            .output()
            .expect("scripts/pg.sh runs");
        assert!(
            out.status.success(),
            "scripts/pg.sh start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    })
}

/// A new, empty database on the test cluster.
pub(crate) fn fresh_database() -> String {
    let server = server_url().to_string();
    let name = format!("store_{}", ulid::Ulid::new().to_string().to_lowercase());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let create = format!("CREATE DATABASE {name}");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(&server, tokio_postgres::NoTls)
            .await
            .expect("the test cluster answers");
        tokio::spawn(connection);
        client.batch_execute(&create).await.unwrap();
    });
    let (base, _) = server.rsplit_once('/').expect("a URL with a database");
    format!("{base}/{name}")
}

/// A hub's store on `url`, its key in `dir`.
fn postgres(url: &str, dir: &Path) -> Arc<Store> {
    Arc::new(PgStore::open(url, dir, Duration::from_secs(30)).expect("opens"))
}

/// Runs `test` on a sled store and on a PostgreSQL store.
fn on_both(test: impl Fn(&Store)) {
    let dir = tempfile::tempdir().unwrap();
    test(&SledStore::open(&dir.path().join("sled")).unwrap());
    test(&*postgres(&fresh_database(), &dir.path().join("pg")));
}

fn sync(store: &Store) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(store.sync()).unwrap();
}

#[test]
fn a_delivery_is_claimed_once_per_window_and_given_back() {
    on_both(|store| {
        let (first, second) = (ExecutionId::new(1_000), ExecutionId::new(2_000));
        let mut e = execution("gh", 1_000, Status::Queued);
        e.id = first;
        store.insert_executions(&mut [e]).unwrap();
        sync(store);
        let claim = |id, now| store.claim_delivery("gh", "d-1", id, now, DAY).unwrap();
        assert_eq!(claim(first, 1_000), Claim::New);
        assert_eq!(claim(second, 2_000), Claim::Duplicate(first));
        assert_eq!(claim(second, 1_000 + DAY + 1), Claim::New);
        store.release_delivery("gh", "d-1").unwrap();
        assert_eq!(claim(first, 1_000 + DAY + 2), Claim::New);
        assert_eq!(store.prune_deliveries(1_000 + DAY + 3).unwrap(), 1);
    });
}

#[test]
fn a_claim_whose_execution_never_arrived_is_taken_over_after_the_grace() {
    on_both(|store| {
        let (lost, next) = (ExecutionId::new(1_000), ExecutionId::new(2_000));
        let claim = |id, now| store.claim_delivery("gh", "d-9", id, now, DAY).unwrap();
        assert_eq!(claim(lost, 1_000), Claim::New);
        assert_eq!(claim(next, 2_000), Claim::Duplicate(lost));
        assert_eq!(claim(next, 1_000 + 121_000), Claim::New);
    });
}

#[test]
fn executions_are_read_back_whole_and_listed_newest_first() {
    on_both(|store| {
        let mut all: Vec<_> = (1..=5)
            .map(|n| execution("gh", n * 1_000, Status::Queued))
            .collect();
        all[1].status = Status::Failed;
        store.insert_executions(&mut all).unwrap();
        sync(store);
        let back = store.execution(all[0].id).unwrap().unwrap();
        assert_eq!(back.trigger.raw_body, all[0].trigger.raw_body);
        assert_eq!(back.trigger.body, serde_json::json!({"at": 1000}));
        let page = store.executions_of("gh", None, 2, None).unwrap();
        let ids: Vec<_> = page.executions.iter().map(|e| e.id).collect();
        assert_eq!(ids, vec![all[4].id, all[3].id]);
        let rest = store
            .executions_of("gh", None, 10, page.next_cursor)
            .unwrap();
        assert_eq!(rest.executions.len(), 3);
        assert_eq!(rest.next_cursor, None);
        let failed = store
            .executions_of("gh", Some(Status::Failed), 10, None)
            .unwrap();
        assert_eq!(failed.executions.len(), 1);
        assert_eq!(store.recent_failures(10, 100).unwrap()[0].id, all[1].id);
        let pending: Vec<_> = store.pending_jobs().unwrap().iter().map(|j| j.id).collect();
        assert_eq!(pending, vec![all[0].id, all[2].id, all[3].id, all[4].id]);
    });
}

#[test]
fn an_update_moves_the_job_and_a_final_one_ends_it() {
    on_both(|store| {
        let mut e = execution("gh", 1_000, Status::Queued);
        store
            .insert_executions(std::slice::from_mut(&mut e))
            .unwrap();
        sync(store);
        // On a shared database, only the hub holding the lease writes.
        if let Some(work) = store.shared_work() {
            assert_eq!(work.lease(2_000, 1, limits(&[])).unwrap().runnable.len(), 1);
        }
        e.status = Status::Retrying;
        e.next_attempt_at = Some(9_000);
        store.update_execution(&mut e).unwrap();
        assert_eq!(store.pending_jobs().unwrap()[0].due_ms, 9_000);
        if let Some(work) = store.shared_work() {
            assert!(
                work.lease(8_000, 1, limits(&[]))
                    .unwrap()
                    .runnable
                    .is_empty()
            );
            assert_eq!(work.lease(9_000, 1, limits(&[])).unwrap().runnable.len(), 1);
        }
        e.status = Status::Succeeded;
        e.next_attempt_at = None;
        store.update_execution(&mut e).unwrap();
        assert!(store.pending_jobs().unwrap().is_empty());
        assert_eq!(
            store.execution(e.id).unwrap().unwrap().status,
            Status::Succeeded
        );
    });
}

#[test]
fn forgotten_executions_are_gone_whether_synced_or_not() {
    on_both(|store| {
        let mut kept = [execution("gh", 1_000, Status::Queued)];
        let mut early = [execution("gh", 2_000, Status::Queued)];
        let mut late = [execution("gh", 3_000, Status::Queued)];
        store.insert_executions(&mut kept).unwrap();
        store.insert_executions(&mut early).unwrap();
        store.forget_executions(&early).unwrap();
        sync(store);
        store.insert_executions(&mut late).unwrap();
        sync(store);
        store.forget_executions(&late).unwrap();
        sync(store);
        let left: Vec<_> = store
            .executions_of("gh", None, 10, None)
            .unwrap()
            .executions;
        assert_eq!(left.iter().map(|e| e.id).collect::<Vec<_>>(), [kept[0].id]);
    });
}

#[test]
fn activity_counts_final_executions_by_hour() {
    on_both(|store| {
        let hour = 3_600_000;
        let now = 100 * hour + 10;
        let mut all = [
            execution("gh", now - 1, Status::Succeeded),
            execution("gh", now - 2, Status::Succeeded),
            execution("gh", now - hour, Status::Failed),
            execution("gh", now - 3, Status::Queued),
            execution("gh", now - 30 * hour, Status::Succeeded),
        ];
        store.insert_executions(&mut all).unwrap();
        sync(store);
        let activity = store.activity("gh", now).unwrap();
        assert_eq!(activity.succeeded[23], 2);
        assert_eq!(activity.failed[22], 1);
        assert_eq!(activity.succeeded.iter().sum::<u32>(), 2);
    });
}

#[test]
fn pruning_keeps_the_newest_per_hook_and_what_is_not_final() {
    on_both(|store| {
        let mut all: Vec<_> = (1..=5)
            .map(|n| execution("gh", n * 1_000, Status::Succeeded))
            .collect();
        all[0].status = Status::Queued;
        all.push(execution("other", 1_000, Status::Succeeded));
        store.insert_executions(&mut all).unwrap();
        sync(store);
        // Beyond the newest 2 of each hook: 2 and 3 go; 1 waits, so it stays.
        assert_eq!(store.prune(0, 2).unwrap(), 2);
        // Older than 4.5 s: 4 and `other`'s go.
        assert_eq!(store.prune(4_500, 10).unwrap(), 2);
        let left = store
            .executions_of("gh", None, 10, None)
            .unwrap()
            .executions;
        assert_eq!(
            left.iter().map(|e| e.id).collect::<Vec<_>>(),
            [all[4].id, all[0].id]
        );
    });
}

/// When each of hook `gh`'s executions was received, newest first (up to 1,000).
fn received_ats(store: &Store) -> Vec<u64> {
    let page = store.executions_of("gh", None, 1_000, None).unwrap();
    page.executions.iter().map(|e| e.received_at).collect()
}

/// Hook `gh`'s succeeded executions `from..=to`, the n-th received at n × 10.
fn batch(from: u64, to: u64) -> Vec<Execution> {
    (from..=to)
        .map(|n| execution("gh", n * 10, Status::Succeeded))
        .collect()
}

/// A prune that removes several hundred executions (sled writes them a chunk at a time) keeps
/// exactly the newest, and the hook's followed size stays exact for the next one.
#[test]
fn a_prune_of_hundreds_keeps_exactly_the_newest() {
    on_both(|store| {
        store.insert_executions(&mut batch(1, 700)).unwrap();
        sync(store);
        assert_eq!(store.prune_hook("gh", 0, 5).unwrap(), 695);
        assert_eq!(received_ats(store), [7_000, 6_990, 6_980, 6_970, 6_960]);
        store.insert_executions(&mut batch(701, 1_300)).unwrap();
        sync(store);
        assert_eq!(store.prune_hook("gh", 0, 3).unwrap(), 602);
        assert_eq!(received_ats(store), [13_000, 12_990, 12_980]);
        store.insert_executions(&mut batch(1_301, 1_302)).unwrap();
        sync(store);
        assert_eq!(store.prune_hook("gh", 0, 3).unwrap(), 2);
        assert_eq!(received_ats(store), [13_020, 13_010, 13_000]);
    });
}

/// A prune of a few of a hook's oldest executions, with a thousand newer ones beside them,
/// removes exactly those few.
#[test]
fn a_prune_of_a_few_while_many_wait_keeps_exactly_the_newest() {
    on_both(|store| {
        store.insert_executions(&mut batch(1, 20)).unwrap();
        sync(store);
        // Counted: the next prunes read only the oldest entries.
        assert_eq!(store.prune_hook("gh", 0, 20).unwrap(), 0);
        store.insert_executions(&mut batch(21, 1_020)).unwrap();
        sync(store);
        let oldest_kept = || {
            let kept = store.executions_of("gh", None, 2_000, None).unwrap();
            assert_eq!(kept.executions.len(), 1_010);
            kept.executions.last().unwrap().received_at
        };
        assert_eq!(store.prune_hook("gh", 0, 1_010).unwrap(), 10);
        assert_eq!(oldest_kept(), 110);
        store.insert_executions(&mut batch(1_021, 1_022)).unwrap();
        sync(store);
        assert_eq!(store.prune_hook("gh", 0, 1_010).unwrap(), 2);
        assert_eq!(oldest_kept(), 130);
    });
}

/// The second prune of a hook takes sled's short way (its size is known from the first):
/// the result must be the same as counting again.
#[test]
fn a_hook_pruned_again_keeps_exactly_its_newest() {
    on_both(|store| {
        let mut first: Vec<_> = (1..=6)
            .map(|n| execution("gh", n * 1_000, Status::Succeeded))
            .collect();
        first[0].status = Status::Retrying;
        store.insert_executions(&mut first).unwrap();
        store
            .insert_executions(&mut [execution("other", 500, Status::Succeeded)])
            .unwrap();
        sync(store);
        assert_eq!(store.prune_hook("gh", 0, 3).unwrap(), 2);
        assert_eq!(received_ats(store), [6_000, 5_000, 4_000, 1_000]);

        let mut more: Vec<_> = (7..=10)
            .map(|n| execution("gh", n * 1_000, Status::Succeeded))
            .collect();
        store.insert_executions(&mut more).unwrap();
        // One taken back (its delivery was refused): it is not counted.
        store.forget_executions(&more[3..]).unwrap();
        sync(store);
        // 4, 5 and 6 go; the retrying one stays; `other` is not this hook's.
        assert_eq!(store.prune_hook("gh", 0, 3).unwrap(), 3);
        assert_eq!(received_ats(store), [9_000, 8_000, 7_000, 1_000]);
        // Older than 8.5 s goes too, whatever the limit.
        assert_eq!(store.prune_hook("gh", 8_500, 10).unwrap(), 2);
        assert_eq!(received_ats(store), [9_000, 1_000]);
        // The next prune starts where this one left off (the retrying one) and still counts
        // from the oldest.
        let mut last: Vec<_> = (11..=13)
            .map(|n| execution("gh", n * 1_000, Status::Succeeded))
            .collect();
        store.insert_executions(&mut last).unwrap();
        sync(store);
        assert_eq!(store.prune_hook("gh", 0, 2).unwrap(), 2);
        assert_eq!(received_ats(store), [13_000, 12_000, 1_000]);
        assert_eq!(
            store
                .executions_of("other", None, 5, None)
                .unwrap()
                .executions
                .len(),
            1
        );
    });
}

#[test]
fn small_state_reads_back() {
    on_both(|store| {
        assert_eq!(store.last_fired("nightly").unwrap(), None);
        assert!(store.claim_tick("nightly", 5_000).unwrap());
        assert!(!store.claim_tick("nightly", 5_000).unwrap());
        assert!(!store.claim_tick("nightly", 4_000).unwrap());
        assert!(store.claim_tick("nightly", 6_000).unwrap());
        assert_eq!(store.last_fired("nightly").unwrap(), Some(6_000));
        store.set_admin_token_hash(&[1, 2, 3]).unwrap();
        assert_eq!(store.admin_token_hash().unwrap(), Some(vec![1, 2, 3]));
        let state = crate::model::HookAlerts {
            last_sent_at: Some(7),
            waiting: None,
        };
        store.set_alert_state("gh", &state).unwrap();
        assert_eq!(
            store.alert_states().unwrap(),
            vec![("gh".to_string(), state)]
        );
    });
}

#[test]
fn the_whole_log_reads_out_in_id_order_a_page_at_a_time() {
    on_both(|store| {
        let mut all = [
            execution("b", 3_000, Status::Succeeded),
            execution("a", 1_000, Status::Failed),
            execution("b", 2_000, Status::Queued),
            execution("a", 4_000, Status::Retrying),
            execution("c", 5_000, Status::Running),
        ];
        // A large payload among small ones: sled's store files both in its segments once flushed.
        let raw = format!(r#"{{"at":3000,"pad":"{}"}}"#, "x".repeat(100_000));
        all[0].trigger.body = serde_json::from_str(&raw).unwrap();
        all[0].trigger.raw_body.0 = raw.into_bytes().into();
        store.insert_executions(&mut all).unwrap();
        store.flush_now().unwrap();
        let mut read = Vec::new();
        let mut after = None;
        loop {
            let page = store.executions_after(after, 2).unwrap();
            assert!(page.len() <= 2);
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            read.extend(page);
        }
        let mut expected = all.to_vec();
        expected.sort_by_key(|e| e.id);
        assert_eq!(read, expected, "whole, payloads included, oldest first");
        store.set_last_fired("nightly", 6_000).unwrap();
        store.set_last_fired("hourly", 7_000).unwrap();
        let mut schedules = store.schedule_states().unwrap();
        schedules.sort();
        assert_eq!(
            schedules,
            [
                ("hourly".to_string(), 7_000),
                ("nightly".to_string(), 6_000)
            ]
        );
    });
}

#[test]
fn imported_executions_are_kept_once_and_one_left_running_meets_the_crash_rules() {
    on_both(|store| {
        let mut copied = [
            execution("gh", 1_000, Status::Succeeded),
            execution("gh", 2_000, Status::Running),
            execution("gh", 3_000, Status::Queued),
        ];
        assert_eq!(store.import_executions(&mut copied).unwrap(), 3);
        assert_eq!(store.import_executions(&mut copied).unwrap(), 0);
        assert_eq!(store.executions_after(None, 10).unwrap(), copied);
        let pending: Vec<_> = store.pending_jobs().unwrap().iter().map(|j| j.id).collect();
        assert_eq!(pending, [copied[1].id, copied[2].id]);
        if let Some(work) = store.shared_work() {
            // As a hub restarting on its data dir: the queued one runs, the running one is
            // handed over as its hub's crash left it.
            let leases = work.lease(10_000, 5, limits(&[("gh", 5)])).unwrap();
            let runnable: Vec<_> = leases.runnable.iter().map(|l| l.id).collect();
            assert_eq!(runnable, [copied[2].id]);
            assert_eq!(leases.orphaned, [copied[1].clone()]);
        }
    });
}

#[test]
fn api_hooks_keep_their_secrets_sealed_and_read_back_open() {
    on_both(|store| {
        let hook: crate::model::Hook = serde_json::from_value(serde_json::json!({
            "id": "gh",
            "trigger": "webhook",
            "triggerConfig": {"webhookPath": "gh", "scheme": "github", "webhookSecret": "s3cret-value"},
            "action": "webhook",
            "actionConfig": {"webhookUrl": "http://127.0.0.1:9/x"},
        }))
        .unwrap();
        store.put_api_hook(&hook).unwrap();
        let back = store.api_hook("gh").unwrap().unwrap();
        assert_eq!(back.trigger_config.webhook_secret.0, ["s3cret-value"]);
        assert_eq!(store.api_hooks().unwrap().len(), 1);
        assert!(store.delete_api_hook("gh").unwrap());
        assert!(!store.delete_api_hook("gh").unwrap());
    });
}

#[test]
fn a_hub_with_another_key_is_refused() {
    let url = fresh_database();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    drop(postgres(&url, a.path()));
    let refused = PgStore::open(&url, b.path(), Duration::from_secs(30)).err();
    let message = refused.expect("another key is refused").to_string();
    assert!(message.contains("secret.key"), "{message}");
    std::fs::copy(a.path().join("secret.key"), b.path().join("secret.key")).unwrap();
    let mut perms = std::fs::metadata(b.path().join("secret.key"))
        .unwrap()
        .permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
    std::fs::set_permissions(b.path().join("secret.key"), perms).unwrap();
    assert!(PgStore::open(&url, b.path(), Duration::from_secs(30)).is_ok());
}

/// Two hubs on one database, sharing `dir`'s key.
pub(super) fn two_hubs(lease: Duration) -> (Arc<Store>, Arc<Store>, tempfile::TempDir) {
    let url = fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let a: Arc<Store> = Arc::new(PgStore::open(&url, dir.path(), lease).unwrap());
    let b: Arc<Store> = Arc::new(PgStore::open(&url, dir.path(), lease).unwrap());
    (a, b, dir)
}

/// Each hook's concurrency; a hook not named runs one at a time.
fn limits(pairs: &[(&str, usize)]) -> Concurrency {
    let limits: HashMap<String, usize> = pairs.iter().map(|(h, n)| (h.to_string(), *n)).collect();
    Arc::new(move |hook: &str| limits.get(hook).copied().unwrap_or(1))
}

#[test]
fn a_hooks_concurrency_and_lock_keys_hold_across_hubs() {
    let (a, b, _dir) = two_hubs(Duration::from_secs(30));
    let mut all: Vec<_> = (1..=4)
        .map(|n| execution("gh", n * 1_000, Status::Queued))
        .collect();
    all[0].lock_key = Some("repo".into());
    all[1].lock_key = Some("repo".into());
    a.insert_executions(&mut all).unwrap();
    sync(&*a);
    let (wa, wb) = (a.shared_work().unwrap(), b.shared_work().unwrap());
    let first = wa.lease(10_000, 10, limits(&[("gh", 2)])).unwrap();
    let ids: Vec<_> = first.runnable.iter().map(|l| l.id).collect();
    // 2 waits for 1 (same key); 3 overtakes it; the limit of 2 stops there.
    assert_eq!(ids, vec![all[0].id, all[2].id]);
    assert!(
        wb.lease(10_000, 10, limits(&[("gh", 2)]))
            .unwrap()
            .runnable
            .is_empty()
    );
    // 1 ends: its key and place are free, and the other hub takes 2 next.
    let mut done = all[0].clone();
    done.status = Status::Succeeded;
    a.update_execution(&mut done).unwrap();
    let next = wb.lease(10_000, 10, limits(&[("gh", 2)])).unwrap();
    assert_eq!(
        next.runnable.iter().map(|l| l.id).collect::<Vec<_>>(),
        [all[1].id]
    );
    // And the other hub may not write what it does not hold.
    let mut stolen = all[2].clone();
    stolen.status = Status::Succeeded;
    assert!(matches!(
        b.update_execution(&mut stolen),
        Err(super::StoreError::LeaseLost(_))
    ));
}

#[test]
fn a_lease_that_runs_out_is_taken_over() {
    let (a, b, _dir) = two_hubs(Duration::from_secs(5));
    let mut e = [execution("gh", 1_000, Status::Queued)];
    a.insert_executions(&mut e).unwrap();
    sync(&*a);
    let (wa, wb) = (a.shared_work().unwrap(), b.shared_work().unwrap());
    assert_eq!(wa.lease(10_000, 1, limits(&[])).unwrap().runnable.len(), 1);
    let mut running = e[0].clone();
    running.status = Status::Running;
    a.update_execution(&mut running).unwrap();
    // Renewed, it stays hub a's; not renewed, hub b finds it orphaned after 5 s.
    wa.renew(&[e[0].id], 14_000).unwrap();
    assert!(
        wb.lease(18_000, 1, limits(&[]))
            .unwrap()
            .orphaned
            .is_empty()
    );
    let taken = wb.lease(19_001, 1, limits(&[])).unwrap();
    assert_eq!(taken.orphaned.len(), 1);
    assert_eq!(taken.orphaned[0].status, Status::Running);
    let mut failed = taken.orphaned[0].clone();
    failed.status = Status::Failed;
    b.update_execution(&mut failed).unwrap();
    assert!(matches!(
        a.update_execution(&mut running),
        Err(super::StoreError::LeaseLost(_))
    ));
}

#[test]
fn a_schedule_tick_is_claimed_by_one_hub() {
    let (a, b, _dir) = two_hubs(Duration::from_secs(30));
    assert!(a.claim_tick("nightly", 60_000).unwrap());
    assert!(!b.claim_tick("nightly", 60_000).unwrap());
    assert!(b.claim_tick("nightly", 120_000).unwrap());
}

#[test]
fn concurrent_syncs_share_commits_and_each_sees_its_own() {
    let url = fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let store = postgres(&url, dir.path());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let ids = runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..200u64 {
            let store = store.clone();
            tasks.spawn(async move {
                let mut e = [execution("gh", 1_000 + n, Status::Queued)];
                store.insert_executions(&mut e).unwrap();
                store.sync().await.unwrap();
                e[0].id
            });
        }
        tasks.join_all().await
    });
    let other = postgres(&url, dir.path());
    for id in ids {
        assert!(other.execution(id).unwrap().is_some(), "{id} committed");
    }
}

#[test]
fn a_database_that_cannot_be_reached_is_said_so() {
    let dir = tempfile::tempdir().unwrap();
    let refused = PgStore::open(
        "postgres://postgres@127.0.0.1:1/none",
        dir.path(),
        Duration::from_secs(30),
    );
    let message = refused
        .err()
        .expect("nothing listens on port 1")
        .to_string();
    assert!(message.contains("cannot be reached"), "{message}");
}

#[test]
fn a_sync_given_up_halfway_does_not_hold_up_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let store = postgres(&fresh_database(), dir.path());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut first = [execution("gh", 1_000, Status::Queued)];
        store.insert_executions(&mut first).unwrap();
        // Polled once (it starts the commit) and dropped, as when a client hangs up; should
        // the commit have finished within that one poll, nothing was dropped halfway, and the
        // rest still holds.
        let _ = tokio::time::timeout(Duration::ZERO, store.sync()).await;
        let mut second = [execution("gh", 2_000, Status::Queued)];
        store.insert_executions(&mut second).unwrap();
        tokio::time::timeout(Duration::from_secs(10), store.sync())
            .await
            .expect("the next sync is not held up")
            .unwrap();
        assert!(store.execution(second[0].id).unwrap().is_some());
    });
}
