//! PostgreSQL for the tests: one server for this test process, and a new empty database on it
//! for each test that wants one, so tests never see each other's rows.
//!
//! The server is `HOOKHUB_TEST_DATABASE_URL` when it is set (`scripts/test.sh` starts one
//! cluster for the whole run and sets it), else a throwaway cluster that `scripts/pg.sh` starts
//! the first time a test asks, in a temporary directory, and stops and deletes once this process
//! has exited.

use std::sync::OnceLock;

/// A superuser URL of the server for this test process.
pub fn server_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| match std::env::var("HOOKHUB_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => start_cluster(),
    })
    .clone()
}

/// Starts a cluster with `scripts/pg.sh`, watched so it goes when this process does.
fn start_cluster() -> String {
    let dir = std::env::temp_dir().join(format!(
        "hookhub-pg-{}-{}",
        std::process::id(),
        ulid::Ulid::new()
    ));
    let output = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/pg.sh"))
        .arg("start")
        .arg(&dir)
        .args(["--watch", &std::process::id().to_string()])
        .output()
        .expect("cannot run scripts/pg.sh");
    assert!(
        output.status.success(),
        "scripts/pg.sh start {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("scripts/pg.sh printed a URL that is not UTF-8")
        .trim()
        .to_string()
}

/// Creates a new, empty database on [`server_url`]'s server and returns its URL.
pub async fn fresh_database() -> String {
    // Unique across test processes and runs sharing one server; lower case, as PostgreSQL
    // folds unquoted names.
    let name = format!(
        "hookhub_test_{}",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    let server = server_url();
    let (client, connection) = tokio_postgres::connect(&server, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {server}: {e}"));
    let connection = tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap_or_else(|e| panic!("cannot create database {name} on {server}: {e}"));
    drop(client);
    let _ = connection.await;
    let mut url = reqwest::Url::parse(&server)
        .unwrap_or_else(|e| panic!("the server URL {server} does not parse: {e}"));
    url.set_path(&name);
    url.to_string()
}
