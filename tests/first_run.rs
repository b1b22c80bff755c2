//! hookhub as a new user first meets it (issue 19, "found by a new user"): started on the
//! example file, with a config saved empty or indented with a tab, its log read from a file.
//! Everything here runs the real binary.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::binary::free_port;

fn hookhub(args: &[&str], dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hookhub"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("HOOKHUB_CONFIG")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null());
    command
}

/// Runs `command` to its end (killed after 20 s), its output read from files so that a
/// full pipe can never stall it.
fn finish(mut command: Command) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = command
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: std::fs::read(&out).unwrap(),
        stderr: std::fs::read(&err).unwrap(),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn an_empty_config_file_is_refused_at_start_and_by_check() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hooks.yaml"), "# nothing yet\n").unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let served = finish(hookhub(&["serve", "--listen", &listen], dir.path()));
    let stderr = text(&served.stderr);
    assert_eq!(served.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("hooks.yaml:1:1: the file is empty (or holds only comments)")
            && stderr.contains("write `hooks: []` to run without hooks from the file"),
        "{stderr}"
    );
    let checked = finish(hookhub(&["check"], dir.path()));
    assert_eq!(checked.status.code(), Some(1));
    assert!(text(&checked.stderr).contains("the file is empty"));

    std::fs::write(dir.path().join("hooks.yaml"), "hooks: []\n").unwrap();
    let checked = finish(hookhub(&["check"], dir.path()));
    assert_eq!(checked.status.code(), Some(0), "{}", text(&checked.stderr));
}

#[test]
fn a_tab_is_reported_as_a_tab_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("hooks.yaml"),
        "hooks:\n  - id: a\n    triggerConfig:\n\twebhookPath: a\n",
    )
    .unwrap();
    let checked = finish(hookhub(&["check"], dir.path()));
    let stderr = text(&checked.stderr);
    assert_eq!(checked.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        "hooks.yaml:4:1: hooks[0].triggerConfig: a tab character; YAML indents with spaces"
    );
}
