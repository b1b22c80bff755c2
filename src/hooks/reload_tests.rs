use super::*;
use crate::clock::ManualClock;
use crate::hooks::Snapshot;

const VALID: &str = r#"
server: { listen: "127.0.0.1:4000", workers: 4 }
admin: { token: first-admin-token }
hooks:
  - id: one
    triggerConfig: { webhookPath: one, webhookSecret: s }
    action: webhook
    actionConfig: { webhookUrl: "http://127.0.0.1:9/x" }
"#;

fn load(text: &str) -> Result<Config, String> {
    crate::config::load_str(text, "hooks.yaml", &|_| None).map_err(|e| redacted(&e))
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    registry: Arc<Registry>,
    status: Arc<ConfigStatusCell>,
    reloader: Reloader,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hooks.yaml");
    std::fs::write(&path, VALID).unwrap();
    let store = Store::open(&dir.path().join("data")).unwrap();
    let mut config = load(VALID).unwrap();
    // As `--listen` would: the running value differs from the file's.
    config.server.listen = Some("127.0.0.1:5000".into());
    let registry = Arc::new(Registry::new(
        Snapshot::build(Arc::new(config), Vec::new()).unwrap(),
    ));
    let status = Arc::new(ConfigStatusCell::new(Some(&path), 0));
    let clock = Arc::new(ManualClock::new(1_000));
    let reloader = Reloader::new(path.clone(), store, registry.clone(), clock, status.clone());
    Fixture {
        _dir: dir,
        path,
        registry,
        status,
        reloader,
    }
}

fn ids(registry: &Registry) -> Vec<String> {
    let snapshot = registry.snapshot();
    snapshot.hooks().map(|h| h.hook.id.clone()).collect()
}

#[test]
fn a_valid_change_swaps_the_hooks_and_keeps_restart_only_settings() {
    let mut f = fixture();
    assert!(f.reloader.check(true));
    let added = VALID.replace("workers: 4", "workers: 8").to_string()
        + "  - id: two\n    triggerConfig: { webhookPath: two, webhookSecret: s }\n    \
           action: webhook\n    actionConfig: { webhookUrl: \"http://127.0.0.1:9/y\" }\n";
    std::fs::write(&f.path, added).unwrap();
    assert!(f.reloader.check(false));
    assert_eq!(ids(&f.registry), ["one", "two"]);
    let config = f.registry.snapshot().config.clone();
    assert_eq!(config.server.listen.as_deref(), Some("127.0.0.1:5000"));
    assert_eq!(config.server.workers, 4, "workers need a restart");
    let status = f.status.get();
    assert!(status.ok);
    assert_eq!(status.error, None);
}

#[test]
fn an_invalid_change_keeps_the_hooks_and_reports_every_issue() {
    let mut f = fixture();
    assert!(f.reloader.check(true));
    let broken = VALID
        .replace("webhookPath: one", "webhookPath: One")
        .replace("workers: 4", "workers: 0");
    std::fs::write(&f.path, broken).unwrap();
    assert!(!f.reloader.check(false));
    assert_eq!(ids(&f.registry), ["one"]);
    let status = f.status.get();
    assert!(!status.ok);
    let error = status.error.unwrap();
    assert_eq!(error.lines().count(), 2, "{error}");
    assert!(error.contains("hooks.yaml:2:"), "{error}");
    assert!(
        error.contains("hooks[0].triggerConfig.webhookPath"),
        "{error}"
    );
    // Fixed again: in force again.
    std::fs::write(&f.path, VALID).unwrap();
    assert!(f.reloader.check(false));
    assert!(f.status.get().ok);
}

#[test]
fn a_missing_file_is_refused_and_the_hooks_stay() {
    let mut f = fixture();
    std::fs::remove_file(&f.path).unwrap();
    assert!(!f.reloader.check(false));
    assert_eq!(ids(&f.registry), ["one"]);
    assert!(
        f.status
            .get()
            .error
            .unwrap()
            .contains("cannot read the file")
    );
}

#[test]
fn restart_only_changes_are_named_without_values() {
    let a = RestartOnly::of(&load(VALID).unwrap());
    let b = RestartOnly::of(&load(&VALID.replace("first-admin-token", "second")).unwrap());
    assert_eq!(a.changed(&b), ["admin.token"]);
    assert!(a.changed(&a).is_empty());
}

#[test]
fn secret_values_are_never_echoed_in_errors() {
    for (field, text) in [
        (
            "admin.token",
            VALID.replace("first-admin-token", "[hunter2-secret]"),
        ),
        (
            "webhookSecret",
            VALID.replace("webhookSecret: s", "webhookSecret: {hunter2-secret: 1}"),
        ),
        (
            "webhookSecret",
            VALID.replace(
                "webhookSecret: s",
                "webhookSecret: [hunter2-a, {hunter2-b: 1}]",
            ),
        ),
    ] {
        let error = load(&text).unwrap_err();
        assert!(error.contains(field), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }
}

/// Issue 19: a misspelt secret field showed `` unknown field `[redacted]` `` in the status.
#[test]
fn field_names_in_errors_about_secret_fields_are_kept() {
    let text = VALID.replace("webhookSecret: s", "webhookSecrets: s");
    let error = load(&text).unwrap_err();
    assert!(
        error.contains(
            "hooks[0].triggerConfig.webhookSecrets: unknown field `webhookSecrets`, expected \
             one of `webhookPath`, `webhookSecret`,"
        ),
        "{error}"
    );
    assert!(!error.contains("[redacted]"), "{error}");
    let missing = VALID.replace(
        "admin: { token: first-admin-token }",
        "admin: { tokens: x }",
    );
    let error = load(&missing).unwrap_err();
    assert!(
        error.contains("unknown field `tokens`, expected `token`"),
        "{error}"
    );
}

#[test]
fn quoted_spans_are_redacted() {
    assert_eq!(
        redact_quoted(r#"invalid type: string "abc", expected `x` here"#),
        "invalid type: string `[redacted]`, expected `[redacted]` here"
    );
    assert_eq!(redact_quoted("no quotes `open"), "no quotes `open");
}
