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

/// Runs a released action as `token` and returns the status.
async fn run_status(fixture: &RunFixture, token: &str, app: Uuid, action: Uuid) -> StatusCode {
    fixture.run(token, app, action, json!({})).await.status
}

/// Creates an app with one released action, and a viewer of the workspace.
async fn released_with_viewer(fixture: &RunFixture) -> (Uuid, Uuid, trellis_tests::Session) {
    let app = fixture.app("Penguins").await;
    let action = fixture.action(app, json!({"input": {"v": 1}})).await;
    fixture.release(app).await;
    let viewer = fixture
        .server
        .member(&fixture.owner, fixture.workspace, "viewer")
        .await;
    (app, action, viewer)
}

#[tokio::test]
async fn removed_member_runs_nothing() {
    let fixture = RunFixture::start().await;
    let (app, action, viewer) = released_with_viewer(&fixture).await;

    let before = run_status(&fixture, &viewer.access, app, action).await;
    let removed = fixture
        .server
        .call(
            Method::DELETE,
            &fixture.path(&format!("/members/{}", viewer.user_id)),
            Some(&fixture.owner.access),
            None,
        )
        .await;
    let after = run_status(&fixture, &viewer.access, app, action).await;

    assert_eq!(before, StatusCode::OK);
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.text);
    assert_eq!(after, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn demoted_editor_no_longer_runs_drafts() {
    let fixture = RunFixture::start().await;
    let app = fixture.app("Penguins").await;
    let action = fixture.action(app, json!({"input": {"v": 1}})).await;
    let editor = fixture
        .server
        .member(&fixture.owner, fixture.workspace, "editor")
        .await;

    let before = fixture
        .run_draft(&editor.access, app, action, json!({}))
        .await;
    let demoted = fixture
        .server
        .call(
            Method::PATCH,
            &fixture.path(&format!("/members/{}", editor.user_id)),
            Some(&fixture.owner.access),
            Some(json!({"role": "viewer"})),
        )
        .await;
    let after = fixture
        .run_draft(&editor.access, app, action, json!({}))
        .await;

    assert_eq!(before.status, StatusCode::OK, "{}", before.text);
    assert_eq!(demoted.status, StatusCode::OK, "{}", demoted.text);
    assert_eq!(after.status, StatusCode::FORBIDDEN, "{}", after.text);
}

#[tokio::test]
async fn accepted_invite_lets_a_refused_user_run() {
    let fixture = RunFixture::start().await;
    let app = fixture.app("Penguins").await;
    let action = fixture.action(app, json!({"input": {"v": 1}})).await;
    fixture.release(app).await;
    let newcomer = fixture.server.signup("newcomer").await;

    let refused = run_status(&fixture, &newcomer.access, app, action).await;
    let invite = fixture
        .server
        .post(
            &fixture.path("/invites"),
            Some(&fixture.owner.access),
            json!({"email": newcomer.email, "role": "viewer"}),
        )
        .await;
    let token = invite.json()["token"].as_str().unwrap().to_string();
    let accepted = fixture
        .server
        .post(
            &format!("/api/v1/invites/{token}/accept"),
            Some(&newcomer.access),
            json!({}),
        )
        .await;
    let allowed = run_status(&fixture, &newcomer.access, app, action).await;

    assert_eq!(refused, StatusCode::NOT_FOUND);
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text);
    assert_eq!(allowed, StatusCode::OK);
}

#[tokio::test]
async fn deleted_workspace_runs_nothing() {
    let fixture = RunFixture::start().await;
    let (app, action, viewer) = released_with_viewer(&fixture).await;
    let owner = &fixture.owner.access;

    let before = run_status(&fixture, owner, app, action).await;
    let viewer_before = run_status(&fixture, &viewer.access, app, action).await;
    let deleted = fixture
        .server
        .call(Method::DELETE, &fixture.path(""), Some(owner), None)
        .await;
    let after = run_status(&fixture, owner, app, action).await;
    let runs = fixture.server.get(&fixture.path("/runs"), owner).await;

    assert_eq!((before, viewer_before), (StatusCode::OK, StatusCode::OK));
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    assert_eq!(after, StatusCode::NOT_FOUND);
    assert_eq!(runs.status, StatusCode::NOT_FOUND, "{}", runs.text);
}
