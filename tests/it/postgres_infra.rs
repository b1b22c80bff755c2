//! The PostgreSQL the tests run against (`common::pg`): each fresh database is a database of
//! its own on the one server, empty and usable.

use crate::common;

use common::pg::{fresh_database, server_url};

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
    tokio::spawn(connection);
    client
}

#[tokio::test]
async fn two_fresh_databases_are_distinct_and_usable() {
    let (first, second) = (fresh_database().await, fresh_database().await);
    assert_ne!(first, second);
    let (a, b) = (connect(&first).await, connect(&second).await);
    for (client, url) in [(&a, &first), (&b, &second)] {
        let tables: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(tables, 0, "{url} is not empty");
    }
    a.batch_execute("CREATE TABLE seen (n int); INSERT INTO seen VALUES (1), (2)")
        .await
        .unwrap();
    let count: i64 = a
        .query_one("SELECT count(*) FROM seen", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 2);
    let missing = b.query_one("SELECT count(*) FROM seen", &[]).await;
    assert!(
        missing.is_err(),
        "the second database sees the first's table"
    );
    b.batch_execute("CREATE TABLE seen (n int)").await.unwrap();
    // One server for the whole process.
    assert_eq!(server_url(), server_url());
}
