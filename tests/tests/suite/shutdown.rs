//! A stopped server closes the databases it opened, so a process that starts and stops
//! servers (a test run, an embedding program) does not keep their databases and engines.

use std::time::{Duration, Instant};

use trellis_tests::{postgres_admin_url, postgres_count, TestServer};

/// Returns the files this process has open under `folder`.
fn open_files_under(folder: &std::path::Path) -> Vec<String> {
    let entries = std::fs::read_dir("/proc/self/fd").expect("listing /proc/self/fd");
    entries
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.starts_with(folder))
        .map(|target| target.display().to_string())
        .collect()
}

/// Returns the number of open PostgreSQL connections to `database`.
async fn postgres_connections(database: &str) -> i64 {
    let sql = "SELECT count(*) FROM pg_stat_activity WHERE datname = $1";
    postgres_count(&postgres_admin_url(), sql, database).await
}

#[tokio::test]
async fn stopped_server_closes_its_databases() {
    let server = TestServer::start().await;
    let owner = server.signup("owner").await;
    server.workspace(&owner, "Closing").await;
    let folder = server.settings.data_dir.clone();
    let database = server.settings.database_url.as_ref().map(|url| {
        let url = url.expose().to_string();
        url.rsplit_once('/').unwrap().1.to_string()
    });
    if database.is_none() {
        assert!(
            !open_files_under(&folder).is_empty(),
            "a running server on SQLite keeps its database files open"
        );
    }

    server.stop().await;

    let started = Instant::now();
    loop {
        let still_open = match &database {
            Some(name) => postgres_connections(name).await,
            None => open_files_under(&folder).len() as i64,
        };
        if still_open == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{still_open} database files or connections stay open 10 s after the server stopped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
