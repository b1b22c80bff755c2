//! A full disk is a bad hour, not a broken hub (issue 20), against the real binary with its
//! data dir on a small filesystem of its own: a loop-mounted ext4 image (or a tmpfs), filled by
//! another file while signed deliveries keep arriving, then freed; then frozen (`fsfreeze`), so
//! a sync takes as long as it stays frozen. (A read-only remount cannot be staged here: the
//! kernel refuses it while the hub holds files open for writing. The error is told apart
//! from a full disk by its errno; see `store::health`.) Every delivery
//! answered 202 runs exactly once, none answered otherwise ever runs, nothing stays `running`,
//! and the hub recovers by itself. Needs root to mount; without it the test says so and
//! passes (CI runs as root).

use crate::common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::binary::{Binary, free_port};
use common::github_signature;
use serde_json::Value;

const TOKEN: &str = "test-admin-token";

/// A filesystem mounted for one test, unmounted when dropped.
struct SmallDisk {
    _dir: tempfile::TempDir,
    mnt: PathBuf,
    /// `fsfreeze` works on it (ext4 does, tmpfs does not).
    freezable: bool,
}

impl SmallDisk {
    /// A 48 MiB ext4 image on a loop device, else a tmpfs; `Err` says why neither mounts.
    fn mount() -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let (img, mnt) = (dir.path().join("disk.img"), dir.path().join("mnt"));
        std::fs::create_dir(&mnt).map_err(|e| e.to_string())?;
        let ext4 = run("truncate", &["-s", "48M", path(&img)])
            .and_then(|()| run("mkfs.ext4", &["-q", "-m", "0", path(&img)]))
            .and_then(|()| run("mount", &["-o", "loop", path(&img), path(&mnt)]));
        let freezable = match ext4 {
            Ok(()) => true,
            Err(loop_error) => {
                run(
                    "mount",
                    &["-t", "tmpfs", "-o", "size=48m", "tmpfs", path(&mnt)],
                )
                .map_err(|tmpfs_error| format!("loop ext4: {loop_error}; tmpfs: {tmpfs_error}"))?;
                false
            }
        };
        Ok(Self {
            _dir: dir,
            mnt,
            freezable,
        })
    }

    /// [`SmallDisk::mount`], or `None` after saying why the test is skipped.
    fn mount_or_say_why() -> Option<Self> {
        Self::mount()
            .map_err(|why| {
                eprintln!(
                    "skipped: cannot mount a small filesystem for the data dir ({why}); CI runs \
                     this as root"
                );
            })
            .ok()
    }

    /// Writes a file until the disk is full; returns it.
    fn fill(&self) -> PathBuf {
        use std::io::Write as _;
        let filler = self.mnt.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 256 * 1024];
        while file.write_all(&chunk).is_ok() {}
        // Small writes to the last free blocks.
        while file.write_all(&chunk[..512]).is_ok() {}
        let _ = file.sync_all();
        filler
    }

    fn freeze(&self, frozen: bool) {
        let flag = if frozen { "--freeze" } else { "--unfreeze" };
        run("fsfreeze", &[flag, path(&self.mnt)]).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = run("fsfreeze", &["--unfreeze", path(&self.mnt)]);
        let _ = run("umount", &["-l", path(&self.mnt)]);
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The forward target: counts each delivery's `n` it receives.
async fn counting_target() -> (String, Arc<Mutex<HashMap<u64, usize>>>) {
    let seen: Arc<Mutex<HashMap<u64, usize>>> = Arc::default();
    let counts = seen.clone();
    let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
        let counts = counts.clone();
        async move {
            let body: Value = serde_json::from_slice(&body).unwrap();
            *counts
                .lock()
                .unwrap()
                .entry(body["n"].as_u64().unwrap())
                .or_default() += 1;
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

fn config_yaml(data: &Path, target: &str) -> String {
    format!(
        r#"
server: {{ dataDir: "{}", rateLimit: {{ perSecond: 0 }}, requestTimeout: 4s }}
admin: {{ token: {TOKEN} }}
hooks:
  - id: fwd
    triggerConfig: {{ webhookPath: fwd, webhookSecret: s3cret }}
    action: webhook
    actionConfig: {{ webhookUrl: "{target}", concurrency: 4 }}
"#,
        data.display()
    )
}

/// What the hub answered each delivery, by `n`.
#[derive(Default)]
struct Answers {
    accepted: Vec<u64>,
    /// (n, status, code) of every other answer.
    refused: Vec<(u64, u16, String)>,
}

impl Answers {
    async fn send(&mut self, client: &reqwest::Client, url: &str, n: u64) {
        // One in three large enough to be staged: written beside the journal, not in it.
        let pad = if n.is_multiple_of(3) { 40_000 } else { 600 };
        let body = format!(r#"{{"n":{n},"pad":"{}"}}"#, "x".repeat(pad));
        let response = client
            .post(format!("{url}/api/webhooks/fwd"))
            .header("content-type", "application/json")
            .header(
                "x-hub-signature-256",
                github_signature("s3cret", body.as_bytes()),
            )
            .body(body)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        if status == 202 {
            self.accepted.push(n);
            return;
        }
        let retry_after = response.headers().get("retry-after").is_some();
        let error: Value = response.json().await.unwrap_or_default();
        let code = error["error"]["code"].as_str().unwrap_or("").to_string();
        assert!(
            status == 503 && retry_after && code.starts_with("storage_"),
            "delivery {n}: {status} {error}"
        );
        self.refused.push((n, status, code));
    }
}

async fn healthz(client: &reqwest::Client, url: &str) -> (u16, Value) {
    let response = client.get(format!("{url}/healthz")).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Sends deliveries until the hub answers one with `code`; returns after at most 300.
async fn until_refused(
    answers: &mut Answers,
    client: &reqwest::Client,
    url: &str,
    next: &mut u64,
    code: &str,
) {
    for _ in 0..300 {
        *next += 1;
        answers.send(client, url, *next).await;
        if answers
            .refused
            .last()
            .is_some_and(|(n, _, c)| *n == *next && c == code)
        {
            return;
        }
    }
    panic!("no delivery was refused with {code}");
}

/// Waits (at most 20 s) for the hub to answer `/healthz` with 200 again.
async fn until_recovered(client: &reqwest::Client, url: &str) {
    for _ in 0..400 {
        if healthz(client, url).await.0 == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the hub did not recover within 20 s");
}

/// Every accepted delivery reached the target exactly once and no refused one ever did, and
/// the hook's log holds exactly the accepted ones, all succeeded.
async fn every_202_ran_once(
    answers: &Answers,
    seen: &Mutex<HashMap<u64, usize>>,
    client: &reqwest::Client,
    url: &str,
) {
    for _ in 0..400 {
        if answers
            .accepted
            .iter()
            .all(|n| seen.lock().unwrap().contains_key(n))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen = seen.lock().unwrap().clone();
    for n in &answers.accepted {
        assert_eq!(
            seen.get(n),
            Some(&1),
            "accepted delivery {n} ran {:?} times",
            seen.get(n)
        );
    }
    for (n, ..) in &answers.refused {
        assert_eq!(seen.get(n), None, "refused delivery {n} ran");
    }
    // The target has seen each run; its result is recorded a moment after it answered.
    let mut log = Value::Null;
    for _ in 0..100 {
        log = client
            .get(format!("{url}/api/hooks/fwd/executions?limit=200"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let executions = log["executions"].as_array().unwrap();
        if executions.iter().all(|e| e["status"] == "succeeded") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let executions = log["executions"].as_array().unwrap();
    assert_eq!(
        executions.len(),
        answers.accepted.len(),
        "the log holds the 202s only"
    );
    for e in executions {
        assert_eq!(e["status"], "succeeded", "{e}");
    }
}

#[tokio::test]
async fn a_full_disk_refuses_honestly_and_recovers_by_itself() {
    let Some(disk) = SmallDisk::mount_or_say_why() else {
        return;
    };
    let (target, seen) = counting_target().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hooks.yaml");
    std::fs::write(&config, config_yaml(&disk.mnt.join("data"), &target)).unwrap();
    let port = free_port();
    let mut hub = Binary::start(&config, port, dir.path()).await;
    let client = reqwest::Client::new();
    let (mut answers, mut n) = (Answers::default(), 0);
    for _ in 0..30 {
        n += 1;
        answers.send(&client, &hub.url, n).await;
    }
    assert_eq!(answers.accepted.len(), 30);

    // Full: refused with 503 storage_full, said by /healthz and the config status.
    let filler = disk.fill();
    until_refused(&mut answers, &client, &hub.url, &mut n, "storage_full").await;
    for _ in 0..20 {
        n += 1;
        answers.send(&client, &hub.url, n).await;
    }
    let (status, health) = healthz(&client, &hub.url).await;
    assert_eq!(
        (status, health["status"].as_str()),
        (503, Some("storage_full")),
        "{health}"
    );
    let config_status: Value = client
        .get(format!("{}/api/config/status", hub.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config_status["storage"]["state"], "full", "{config_status}");
    let metrics = client
        .get(format!("{}/metrics", hub.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("hookhub_storage_writable 0"), "{metrics}");

    // Freed: back within seconds, without a restart.
    std::fs::remove_file(&filler).unwrap();
    until_recovered(&client, &hub.url).await;
    for _ in 0..30 {
        n += 1;
        answers.send(&client, &hub.url, n).await;
    }
    every_202_ran_once(&answers, &seen, &client, &hub.url).await;
    let log = hub.log_text();
    assert!(log.contains("the data dir refuses writes"), "{log}");
    assert!(log.contains("takes writes again"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    // Each refusal is one line, the hub's own, with its reason; not a second one at ERROR.
    assert!(log.contains("delivery refused"), "{log}");
    assert!(!log.contains("response failed"), "{log}");

    // Frozen: a sync takes as long as the freeze, so deliveries wait within the request's
    // time (4 s here) and are refused, then taken back once the disk moves again.
    if disk.freezable {
        disk.freeze(true);
        n += 1;
        answers.send(&client, &hub.url, n).await;
        assert_eq!(
            answers.refused.last().map(|r| r.0),
            Some(n),
            "a frozen disk is not a 202"
        );
        disk.freeze(false);
        for _ in 0..10 {
            n += 1;
            answers.send(&client, &hub.url, n).await;
        }
    }
    every_202_ran_once(&answers, &seen, &client, &hub.url).await;

    // A clean stop leaves nothing half-written: the restart replays nothing refused.
    hub.terminate();
    assert_eq!(
        hub.wait_exit(Duration::from_secs(20)).await,
        Some(0),
        "{}",
        hub.log_text()
    );
    let hub = Binary::start(&config, port, dir.path()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    every_202_ran_once(&answers, &seen, &client, &hub.url).await;
    eprintln!(
        "{} accepted, {} refused ({:?})",
        answers.accepted.len(),
        answers.refused.len(),
        answers
            .refused
            .iter()
            .fold(HashMap::<&str, usize>::new(), |mut m, (_, _, c)| {
                *m.entry(c.as_str()).or_default() += 1;
                m
            })
    );
}

/// The owner hears once when the disk stops taking writes, however many deliveries are
/// refused, and once when it takes them again.
#[tokio::test]
async fn the_owner_hears_once_when_the_disk_fills_and_once_when_it_recovers() {
    use common::telegram::{self, Telegram};
    let Some(disk) = SmallDisk::mount_or_say_why() else {
        return;
    };
    let telegram = Telegram::start().await;
    let (target, _seen) = counting_target().await;
    let yaml = format!(
        r#"
server: {{ dataDir: "{}", rateLimit: {{ perSecond: 0 }} }}
admin: {{ token: {TOKEN} }}
channels:
  telegram: {{ botToken: "{}", apiUrl: "{}" }}
alerts: {{ channels: [telegram] }}
hooks:
  - id: fwd
    triggerConfig: {{ webhookPath: fwd, webhookSecret: s3cret }}
    action: webhook
    actionConfig: {{ webhookUrl: "{target}" }}
"#,
        disk.mnt.join("data").display(),
        telegram::TOKEN,
        telegram.url
    );
    let dir = tempfile::tempdir().unwrap();
    let hub = common::Hub::start(&yaml, dir.path(), None).await;
    telegram.link(&hub, 77).await;
    let told = || -> Vec<String> {
        telegram
            .sent()
            .into_iter()
            .filter(|(chat, text)| chat == "77" && text.contains("data dir"))
            .map(|(_, text)| text)
            .collect()
    };
    let (mut answers, mut n) = (Answers::default(), 0);
    let filler = disk.fill();
    until_refused(&mut answers, &hub.client, &hub.url, &mut n, "storage_full").await;
    for _ in 0..20 {
        n += 1;
        answers.send(&hub.client, &hub.url, n).await;
    }
    telegram
        .wait_for_message(77, |t| t.contains("refuses writes"))
        .await;
    std::fs::remove_file(&filler).unwrap();
    until_recovered(&hub.client, &hub.url).await;
    telegram
        .wait_for_message(77, |t| t.contains("takes writes again"))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let told = told();
    assert_eq!(told.len(), 2, "{told:#?}");
    assert!(told[0].contains("storage_full"), "{}", told[0]);
    hub.stop().await;
}
