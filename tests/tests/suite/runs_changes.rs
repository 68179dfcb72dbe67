//! Runs after a change: repeated runs of an action may skip the database, yet each run uses
//! the definition and access rules committed before it started.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use trellis_tests::runs::RunFixture;
use trellis_tests::Reply;
use uuid::Uuid;

/// Replaces the input of an action's draft, as the owner.
async fn edit_input(fixture: &RunFixture, app: Uuid, action: Uuid, input: Value) -> Reply {
    fixture
        .server
        .call(
            Method::PATCH,
            &fixture.path(&format!("/apps/{app}/actions/{action}")),
            Some(&fixture.owner.access),
            Some(json!({"input": input})),
        )
        .await
}

#[tokio::test]
async fn edited_draft_runs_new_input() {
    let fixture = RunFixture::start().await;
    let app = fixture.app("Penguins").await;
    let action = fixture.action(app, json!({"input": {"v": 1}})).await;
    let owner = &fixture.owner.access;

    let before = fixture.run_draft(owner, app, action, json!({})).await;
    let edited = edit_input(&fixture, app, action, json!({"v": 2})).await;
    let after = fixture.run_draft(owner, app, action, json!({})).await;

    assert_eq!(before.json()["data"], json!({"v": 1}), "{}", before.text);
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
    assert_eq!(after.json()["data"], json!({"v": 2}), "{}", after.text);
}

#[tokio::test]
async fn rollback_runs_restored_release() {
    let fixture = RunFixture::start().await;
    let app = fixture.app("Penguins").await;
    let action = fixture.action(app, json!({"input": {"v": 1}})).await;
    let viewer = fixture
        .server
        .member(&fixture.owner, fixture.workspace, "viewer")
        .await;
    fixture.release(app).await;

    let first = fixture.run(&viewer.access, app, action, json!({})).await;
    let edited = edit_input(&fixture, app, action, json!({"v": 2})).await;
    fixture.release(app).await;
    let second = fixture.run(&viewer.access, app, action, json!({})).await;
    let rolled_back = fixture
        .server
        .post(
            &fixture.path(&format!("/apps/{app}/releases/1/rollback")),
            Some(&fixture.owner.access),
            json!({}),
        )
        .await;
    let third = fixture.run(&viewer.access, app, action, json!({})).await;

    assert_eq!(first.json()["data"], json!({"v": 1}), "{}", first.text);
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
    assert_eq!(second.json()["data"], json!({"v": 2}), "{}", second.text);
    assert!(rolled_back.status.is_success(), "{}", rolled_back.text);
    assert_eq!(third.json()["data"], json!({"v": 1}), "{}", third.text);
}

#[tokio::test]
async fn narrowed_access_applies_to_next_run() {
    let fixture = RunFixture::start().await;
    let app = fixture.app("Penguins").await;
    let action = fixture.action(app, json!({})).await;
    fixture.release(app).await;
    let server = &fixture.server;
    let viewer = server
        .member(&fixture.owner, fixture.workspace, "viewer")
        .await;
    let admin = server
        .member(&fixture.owner, fixture.workspace, "admin")
        .await;

    let open = fixture.run(&viewer.access, app, action, json!({})).await;
    let stored = server
        .get(
            &fixture.path(&format!("/apps/{app}")),
            &fixture.owner.access,
        )
        .await;
    let narrowed = server
        .call(
            Method::PATCH,
            &fixture.path(&format!("/apps/{app}")),
            Some(&fixture.owner.access),
            Some(json!({"version": stored.json()["version"], "access": {"roles": ["admin"]}})),
        )
        .await;
    let rejected = fixture.run(&viewer.access, app, action, json!({})).await;
    let allowed = fixture.run(&admin.access, app, action, json!({})).await;

    assert_eq!(open.status, StatusCode::OK, "{}", open.text);
    assert_eq!(narrowed.status, StatusCode::OK, "{}", narrowed.text);
    assert_eq!(rejected.status, StatusCode::NOT_FOUND, "{}", rejected.text);
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.text);
}

#[tokio::test]
async fn deleted_app_stops_runs() {
    let fixture = RunFixture::start().await;
    let app = fixture.app("Penguins").await;
    let action = fixture.action(app, json!({})).await;
    fixture.release(app).await;
    let owner = &fixture.owner.access;

    let before = fixture.run(owner, app, action, json!({})).await;
    let deleted = fixture
        .server
        .call(
            Method::DELETE,
            &fixture.path(&format!("/apps/{app}")),
            Some(owner),
            None,
        )
        .await;
    let after = fixture.run(owner, app, action, json!({})).await;

    assert_eq!(before.status, StatusCode::OK, "{}", before.text);
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    assert_eq!(after.status, StatusCode::NOT_FOUND, "{}", after.text);
}
