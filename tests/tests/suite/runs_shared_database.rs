//! Two embedded servers on one PostgreSQL database, as when several processes share it: a change
//! committed through one server reaches the actions and roles that the other keeps in memory. With
//! SQLite one process owns the data, so the tests on the shared server run only on PostgreSQL,
//! and the restart test brings its own PostgreSQL server.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use trellis_config::Secret;
use trellis_tests::postgres::PrivatePostgres;
use trellis_tests::runs::RunFixture;
use trellis_tests::{on_postgres, postgres_admin_url, postgres_count, Reply, TestServer};
use uuid::Uuid;

const LISTEN_QUERY: &str = "SELECT count(*) FROM pg_stat_activity \
    WHERE datname = $1 AND query LIKE 'LISTEN %trellis_apps_changed%'";
const MEMBER_LISTEN_QUERY: &str = "SELECT count(*) FROM pg_stat_activity \
    WHERE datname = $1 AND query LIKE 'LISTEN %trellis_members_changed%'";
const TERMINATE_LISTENERS: &str = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
    WHERE datname = $1 AND query LIKE 'LISTEN %trellis_apps_changed%'";

/// Two servers on the fixture's database, with one app and a draft action whose input is `{"v": 1}`.
struct Shared {
    fixture: RunFixture,
    second: TestServer,
    /// URL that the admin queries connect to.
    admin_url: String,
    database: String,
    app: Uuid,
    action: Uuid,
}

impl Shared {
    /// Starts both servers on the test database.
    async fn start() -> Shared {
        Shared::start_with(None, postgres_admin_url()).await
    }

    /// Starts both servers on `database_url`, or on the test database when it is `None`.
    async fn start_with(database_url: Option<String>, admin_url: String) -> Shared {
        let fixture = RunFixture::start_with(|settings| {
            if let Some(url) = database_url {
                settings.database_url = Some(Secret::new(url));
            }
        })
        .await;
        let first = &fixture.server.settings;
        let (database_url, data_dir) = (first.database_url.clone(), first.data_dir.clone());
        // The same data folder gives the second server the same signing and encryption keys.
        let second = TestServer::start_with(|settings| {
            settings.database_url = database_url;
            settings.data_dir = data_dir;
        })
        .await;
        let url = first.database_url.as_ref().expect("on PostgreSQL").expose();
        let database = url.rsplit('/').next().expect("a database name").to_string();
        let app = fixture.app("Penguins").await;
        let action = fixture.action(app, json!({"input": {"v": 1}})).await;
        Shared {
            fixture,
            second,
            admin_url,
            database,
            app,
            action,
        }
    }

    /// Runs the draft on the second server as the owner.
    async fn run_on_second(&self) -> Reply {
        self.run_on_second_as(&self.fixture.owner.access).await
    }

    /// Runs the draft on the second server with an access token.
    async fn run_on_second_as(&self, token: &str) -> Reply {
        let path = self.fixture.path(&format!(
            "/apps/{}/actions/{}/run?stage=draft",
            self.app, self.action
        ));
        self.second
            .post(&path, Some(token), json!({"params": {}}))
            .await
    }

    /// Runs on the second server until the result is `expected`, for up to five seconds, and
    /// returns the last result.
    async fn run_on_second_until(&self, expected: &Value) -> Value {
        let token = &self.fixture.owner.access;
        let reply = self
            .run_on_second_as_until(token, |reply| &reply.json()["data"] == expected)
            .await;
        reply.json()["data"].clone()
    }

    /// Runs on the second server with an access token until `done` accepts the reply, for up
    /// to five seconds, and returns the last reply.
    async fn run_on_second_as_until(&self, token: &str, done: impl Fn(&Reply) -> bool) -> Reply {
        let mut reply = self.run_on_second_as(token).await;
        for _ in 0..50 {
            if done(&reply) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            reply = self.run_on_second_as(token).await;
        }
        reply
    }

    /// Replaces the draft's input through the first server.
    async fn edit_on_first(&self, input: Value) -> Reply {
        let path = self
            .fixture
            .path(&format!("/apps/{}/actions/{}", self.app, self.action));
        let token = &self.fixture.owner.access;
        self.fixture
            .server
            .call(
                Method::PATCH,
                &path,
                Some(token),
                Some(json!({"input": input})),
            )
            .await
    }

    /// Runs an admin query with the database name as `$1` and returns its one count.
    async fn count(&self, sql: &str) -> i64 {
        postgres_count(&self.admin_url, sql, &self.database).await
    }

    /// Waits up to `seconds` for `expected` connections listening for app changes, and returns
    /// the last count.
    async fn listeners(&self, expected: i64, seconds: u64) -> i64 {
        self.listeners_on(LISTEN_QUERY, expected, seconds).await
    }

    /// Waits up to `seconds` until the count query `sql` returns `expected`, and returns the last
    /// count.
    async fn listeners_on(&self, sql: &str, expected: i64, seconds: u64) -> i64 {
        let mut count = 0;
        for _ in 0..seconds * 10 {
            count = self.count(sql).await;
            if count == expected {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        count
    }

    async fn stop(self) {
        self.second.stop().await;
        self.fixture.server.stop().await;
    }
}

#[tokio::test]
async fn edit_on_one_server_reaches_another() {
    if !on_postgres() {
        eprintln!("skipped: two servers share a database only on PostgreSQL");
        return;
    }
    let shared = Shared::start().await;
    let listening = shared.listeners(2, 5).await;

    let before = shared.run_on_second().await;
    let edited = shared.edit_on_first(json!({"v": 2})).await;
    let after = shared.run_on_second_until(&json!({"v": 2})).await;

    assert_eq!(listening, 2);
    assert_eq!(before.json()["data"], json!({"v": 1}), "{}", before.text);
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
    assert_eq!(after, json!({"v": 2}));
    shared.stop().await;
}

#[tokio::test]
async fn lost_listener_connection_is_replaced() {
    if !on_postgres() {
        eprintln!("skipped: two servers share a database only on PostgreSQL");
        return;
    }
    let shared = Shared::start().await;
    shared.listeners(2, 5).await;

    let before = shared.run_on_second().await;
    let terminated = shared.count(TERMINATE_LISTENERS).await;
    let edited = shared.edit_on_first(json!({"v": 2})).await;
    let after = shared.run_on_second_until(&json!({"v": 2})).await;
    let listening = shared.listeners(2, 5).await;
    let edited_again = shared.edit_on_first(json!({"v": 3})).await;
    let last = shared.run_on_second_until(&json!({"v": 3})).await;

    assert_eq!(before.json()["data"], json!({"v": 1}), "{}", before.text);
    assert_eq!(terminated, 2);
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
    assert_eq!(after, json!({"v": 2}));
    assert_eq!(listening, 2);
    assert_eq!(edited_again.status, StatusCode::OK, "{}", edited_again.text);
    assert_eq!(last, json!({"v": 3}));
    shared.stop().await;
}

#[tokio::test]
async fn listening_resumes_after_database_restart() {
    let Some(database) = PrivatePostgres::start() else {
        panic!("PostgreSQL's server programs are not installed; see scripts/test");
    };
    let shared = Shared::start_with(Some(database.url()), database.url()).await;
    shared.listeners(2, 5).await;

    let before = shared.run_on_second().await;
    database.halt();
    // Longer than the pool's 5-second acquire timeout, so reconnecting fails at least once.
    tokio::time::sleep(Duration::from_secs(7)).await;
    database.resume();
    let listening = shared.listeners(2, 20).await;
    let edited = shared.edit_on_first(json!({"v": 2})).await;
    let after = shared.run_on_second_until(&json!({"v": 2})).await;

    assert_eq!(before.json()["data"], json!({"v": 1}), "{}", before.text);
    assert_eq!(listening, 2);
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
    assert_eq!(after, json!({"v": 2}));
    shared.stop().await;
}

#[tokio::test]
async fn removed_member_loses_access_on_another_server() {
    if !on_postgres() {
        eprintln!("skipped: two servers share a database only on PostgreSQL");
        return;
    }
    let shared = Shared::start().await;
    let listening = shared.listeners_on(MEMBER_LISTEN_QUERY, 2, 5).await;
    let fixture = &shared.fixture;
    let editor = fixture
        .server
        .member(&fixture.owner, fixture.workspace, "editor")
        .await;

    // The second server now keeps the editor's role.
    let before = shared.run_on_second_as(&editor.access).await;
    let path = format!(
        "/api/v1/workspaces/{}/members/{}",
        fixture.workspace, editor.user_id
    );
    let removed = fixture
        .server
        .call(Method::DELETE, &path, Some(&fixture.owner.access), None)
        .await;
    let after = shared
        .run_on_second_as_until(&editor.access, |reply| reply.status != StatusCode::OK)
        .await;

    assert_eq!(listening, 2);
    assert_eq!(before.status, StatusCode::OK, "{}", before.text);
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.text);
    assert_eq!(after.status, StatusCode::NOT_FOUND, "{}", after.text);
    shared.stop().await;
}
