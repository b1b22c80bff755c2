//! The [`SharedTables`] contract on PostgreSQL (the one backend that has them), with two hubs'
//! stores on one fresh database: what one hub writes, the other reads, under the same limits
//! as a lone hub's in-memory tables, keeping no secret in clear. Then the callers' own tables
//! (`Sessions`, `LinkCodes`, the rejection ring) on such a store.

use std::sync::Arc;
use std::time::Duration;

use super::contract_tests::{fresh_database, two_hubs};
use super::{NewLinkCode, SessionLimits, SharedTables, Store, postgres::PgStore};
use crate::clock::Millis;

const LIMITS: SessionLimits = SessionLimits {
    idle_ms: 1_000,
    max_age_ms: 5_000,
    max_live: 4,
};

fn tables(store: &Arc<Store>) -> &dyn SharedTables {
    store.shared_tables().expect("PostgreSQL shares its tables")
}

fn hubs() -> (Arc<Store>, Arc<Store>, tempfile::TempDir) {
    two_hubs(Duration::from_secs(30))
}

/// One hub's store on a fresh database, and the database's URL.
fn one_hub() -> (Arc<Store>, String, tempfile::TempDir) {
    let url = fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let store = PgStore::open(&url, dir.path(), Duration::from_secs(30)).unwrap();
    (Arc::new(store), url, dir)
}

/// Every row of `table` as text, to look for secrets in it.
fn dump(url: &str, table: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sql = format!("SELECT t::text FROM {table} t");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let rows = client.query(&sql, &[]).await.unwrap();
        rows.iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

#[test]
fn sled_keeps_its_tables_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let sled = Store::open(dir.path()).unwrap();
    assert!(sled.shared_tables().is_none());
}

#[test]
fn a_session_made_on_one_hub_is_used_and_ended_on_the_other() {
    let (a, b, _dir) = hubs();
    let (a, b) = (tables(&a), tables(&b));
    a.create_session("cookie-1", "csrf-1", 10_000, LIMITS)
        .unwrap();
    let seen = b
        .touch_session("cookie-1", 10_500, LIMITS)
        .unwrap()
        .unwrap();
    assert_eq!(seen.csrf_token, "csrf-1");
    assert_eq!((seen.created_at, seen.last_seen), (10_000, 10_500));
    assert!(
        a.touch_session("cookie-2", 10_500, LIMITS)
            .unwrap()
            .is_none()
    );
    // Used within the idle time, it lives on; a full idle time after its last use, it is gone.
    assert!(
        a.touch_session("cookie-1", 11_400, LIMITS)
            .unwrap()
            .is_some()
    );
    assert!(
        b.touch_session("cookie-1", 12_400, LIMITS)
            .unwrap()
            .is_none()
    );

    // Kept busy, it still ends at its maximum age.
    a.create_session("busy", "c", 0, LIMITS).unwrap();
    for t in (500..5_000).step_by(500) {
        assert!(b.touch_session("busy", t, LIMITS).unwrap().is_some(), "{t}");
    }
    assert!(a.touch_session("busy", 5_000, LIMITS).unwrap().is_none());

    // Signing out on one hub ends it on the other; so does clearing.
    a.create_session("out", "c", 20_000, LIMITS).unwrap();
    b.remove_session("out").unwrap();
    assert!(a.touch_session("out", 20_001, LIMITS).unwrap().is_none());
    for id in ["x", "y"] {
        a.create_session(id, "c", 20_000, LIMITS).unwrap();
    }
    b.clear_sessions().unwrap();
    for id in ["x", "y"] {
        assert!(a.touch_session(id, 20_001, LIMITS).unwrap().is_none());
    }
}

#[test]
fn sessions_are_capped_and_kept_as_hashes() {
    let (store, url, _dir) = one_hub();
    let t = tables(&store);
    for i in 0..6u64 {
        t.create_session(&format!("secret-cookie-{i}"), "csrf", 100 + i, LIMITS)
            .unwrap();
    }
    // The least recently used went first; the newest four are kept.
    let live: Vec<bool> = (0..6)
        .map(|i| {
            t.touch_session(&format!("secret-cookie-{i}"), 200, LIMITS)
                .unwrap()
                .is_some()
        })
        .collect();
    assert_eq!(live, [false, false, true, true, true, true]);
    let rows = dump(&url, "sessions");
    assert_eq!(rows.lines().count(), 4, "{rows}");
    assert!(!rows.contains("secret-cookie"), "{rows}");
    // Signing in later forgets the expired.
    t.create_session("late", "csrf", 10_000, LIMITS).unwrap();
    assert_eq!(dump(&url, "sessions").lines().count(), 1);
}

fn code<'a>(code: &'a str, chat: Option<&'a str>, expires_at: Millis) -> NewLinkCode<'a> {
    NewLinkCode {
        code,
        chat,
        origin: format!("origin of {code}").into_bytes(),
        expires_at,
        max_live: 3,
    }
}

#[test]
fn a_link_code_made_on_one_hub_is_redeemed_once_on_the_other() {
    let (a, b, _dir) = hubs();
    let (ta, tb) = (tables(&a), tables(&b));
    ta.issue_link_code(code("ABC234", None, 1_000), 0).unwrap();
    // Not from the side that made it.
    assert_eq!(tb.redeem_link_code("ABC234", true, 1).unwrap(), None);
    assert_eq!(
        tb.redeem_link_code("ABC234", false, 2).unwrap().unwrap(),
        b"origin of ABC234"
    );
    assert_eq!(ta.redeem_link_code("ABC234", false, 3).unwrap(), None);

    // A chat's code, expired at its time.
    tb.issue_link_code(code("CHAT22", Some("telegram:7"), 1_000), 0)
        .unwrap();
    assert_eq!(ta.redeem_link_code("CHAT22", true, 1_000).unwrap(), None);
}

#[test]
fn a_chat_asking_again_replaces_its_code_and_codes_are_capped_and_hashed() {
    let (store, url, _dir) = one_hub();
    let t = tables(&store);
    t.issue_link_code(code("FIRST2", Some("telegram:7"), 9_000), 0)
        .unwrap();
    t.issue_link_code(code("SECND3", Some("telegram:7"), 9_000), 1)
        .unwrap();
    assert_eq!(t.redeem_link_code("FIRST2", true, 2).unwrap(), None);
    assert!(t.redeem_link_code("SECND3", true, 3).unwrap().is_some());

    for (i, c) in ["AAAAA2", "BBBBB3", "CCCCC4", "DDDDD5"].iter().enumerate() {
        t.issue_link_code(code(c, None, 9_000), 10 + i as u64)
            .unwrap();
    }
    // Three live at most: the oldest went.
    assert_eq!(t.redeem_link_code("AAAAA2", false, 20).unwrap(), None);
    let rows = dump(&url, "link_codes");
    assert_eq!(rows.lines().count(), 3, "{rows}");
    for c in ["BBBBB3", "CCCCC4", "DDDDD5"] {
        assert!(!rows.contains(c), "{rows}");
    }
    assert!(t.redeem_link_code("DDDDD5", false, 21).unwrap().is_some());
}

#[test]
fn refusals_recorded_on_one_hub_are_listed_on_the_other_newest_first() {
    let (a, b, _dir) = hubs();
    let (ta, tb) = (tables(&a), tables(&b));
    for n in 0..8 {
        let path = if n % 2 == 0 { "even" } else { "odd" };
        let hub = if n < 4 { ta } else { tb };
        hub.record_rejection(path, n.to_string().as_bytes(), 6)
            .unwrap();
    }
    let entries = |page: Vec<super::StoredRejection>| -> Vec<String> {
        page.into_iter()
            .map(|r| String::from_utf8(r.entry).unwrap())
            .collect()
    };
    // Six kept: the two oldest went.
    let all = tb.rejections(None, None, 100).unwrap();
    assert_eq!(entries(all.clone()), ["7", "6", "5", "4", "3", "2"]);
    let older = ta.rejections(Some(all[1].seq), None, 2).unwrap();
    assert_eq!(entries(older), ["5", "4"]);
    assert_eq!(
        entries(ta.rejections(None, Some("odd"), 2).unwrap()),
        ["7", "5"]
    );
    assert_eq!(
        entries(tb.rejections(None, Some("none"), 2).unwrap()),
        Vec::<String>::new()
    );
}

#[test]
fn the_callers_tables_on_a_shared_store_behave_as_in_memory() {
    use crate::channels::{Redeemer, link};
    use crate::model::ChannelKind;
    use crate::state::{rejections, session};

    let (a, b, _dir) = hubs();
    let (sa, sb) = (session::Sessions::new(&a), session::Sessions::new(&b));
    let (id, made) = sa.create(1_000).unwrap();
    let used = sb.touch(&id, 2_000).unwrap();
    assert_eq!(used.csrf_token, made.csrf_token);
    assert!(used.expires_at() > made.expires_at());
    sb.clear().unwrap();
    assert!(sa.touch(&id, 2_001).is_none());

    let (ca, cb) = (link::LinkCodes::new(&a), link::LinkCodes::new(&b));
    let (code, _) = ca.issue(link::Origin::Api, 0).unwrap();
    let chat = Redeemer::Chat(ChannelKind::Telegram, "7".into());
    assert!(cb.redeem(&code, Redeemer::Api, 1).is_err());
    let lower = code.to_ascii_lowercase();
    assert_eq!(
        cb.redeem(&lower, chat.clone(), 2).unwrap(),
        link::Origin::Api
    );
    let asking = link::Chat {
        channel: ChannelKind::Slack,
        chat_id: "C1".into(),
        display_name: "#alerts".into(),
    };
    let (code, _) = cb.issue(link::Origin::Chat(asking.clone()), 3).unwrap();
    assert_eq!(
        ca.redeem(&code, Redeemer::Api, 4).unwrap(),
        link::Origin::Chat(asking)
    );

    let (ra, rb) = (
        rejections::Rejections::new(&a),
        rejections::Rejections::new(&b),
    );
    ra.record(rejections::Rejection {
        seq: 0,
        at: "2026-12-03T00:00:00Z".into(),
        path: "p".repeat(1_000),
        hook_id: None,
        status: 404,
        code: "hook_not_found".into(),
        message: "no hook".into(),
        client: "127.0.0.1".into(),
        method: "POST".into(),
        headers: [("x-a".into(), "b".to_string())].into(),
        body_bytes: Some(3),
    });
    let page = rb.page(10, None).unwrap();
    assert!(page.next_cursor.is_none());
    let seen = &page.rejections[0];
    assert!(seen.path.ends_with('…') && seen.path.len() < 300, "clipped");
    assert_eq!((seen.code.as_ref(), seen.status), ("hook_not_found", 404));
    assert_eq!(rb.of_path(&seen.path).unwrap().len(), 1);
}
