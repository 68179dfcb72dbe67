//! Who may run which actions, and who may read runs and usage.

use reqwest::{Method, StatusCode};
use serde_json::json;
use trellis_tests::runs::RunFixture;

#[tokio::test]
async fn role_matrix_for_runs_and_usage() {
    let fixture = RunFixture::start().await;
    let app = fixture.app("Penguins").await;
    let action = fixture
        .action(app, json!({"input": {"s": "{{ s }}"}}))
        .await;
    fixture.release(app).await;
    let server = &fixture.server;
    let workspace = fixture.workspace;
    let admin = server.member(&fixture.owner, workspace, "admin").await;
    let editor = server.member(&fixture.owner, workspace, "editor").await;
    let viewer = server.member(&fixture.owner, workspace, "viewer").await;
    let outsider = server.signup("outsider").await;
    let params = json!({"s": "x"});

    // (caller, release run, draft run, runs list, usage)
    let expected = [
        ("owner", &fixture.owner, 200, 200, 200, 200),
        ("admin", &admin, 200, 200, 200, 200),
        ("editor", &editor, 200, 200, 200, 403),
        ("viewer", &viewer, 200, 403, 200, 403),
        ("outsider", &outsider, 404, 404, 404, 404),
    ];
    for (name, session, release, draft, runs, usage) in expected {
        let token = &session.access;
        let released = fixture.run(token, app, action, params.clone()).await;
        let drafted = fixture.run_draft(token, app, action, params.clone()).await;
        let listed = server.get(&fixture.path("/runs"), token).await;
        let summed = server.get(&fixture.path("/usage"), token).await;

        assert_eq!(
            released.status.as_u16(),
            release,
            "{name} release: {}",
            released.text
        );
        assert_eq!(
            drafted.status.as_u16(),
            draft,
            "{name} draft: {}",
            drafted.text
        );
        assert_eq!(listed.status.as_u16(), runs, "{name} runs: {}", listed.text);
        assert_eq!(
            summed.status.as_u16(),
            usage,
            "{name} usage: {}",
            summed.text
        );
    }

    let anonymous = server
        .call(
            reqwest::Method::POST,
            &fixture.path(&format!("/apps/{app}/actions/{action}/run")),
            None,
            Some(json!({"params": params})),
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn members_see_only_their_own_runs() {
    let fixture = RunFixture::start().await;
    let app = fixture.app("Penguins").await;
    let action = fixture.action(app, json!({})).await;
    fixture.release(app).await;
    let viewer = fixture
        .server
        .member(&fixture.owner, fixture.workspace, "viewer")
        .await;

    fixture
        .run(&fixture.owner.access, app, action, json!({}))
        .await;
    fixture.run(&viewer.access, app, action, json!({})).await;
    let own = fixture
        .server
        .get(&fixture.path("/runs"), &viewer.access)
        .await;
    let all = fixture
        .server
        .get(&fixture.path("/runs"), &fixture.owner.access)
        .await;

    let own = own.json()["items"].as_array().cloned().unwrap();
    assert_eq!(own.len(), 1);
    assert_eq!(own[0]["user_id"], json!(viewer.user_id));
    assert_eq!(all.json()["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn viewer_needs_release_and_app_access() {
    let fixture = RunFixture::start().await;
    let unreleased = fixture.app("Draft only").await;
    let draft_action = fixture.action(unreleased, json!({})).await;
    let (admins_only, _) = fixture
        .app_with_access("Admins", json!({"roles": ["admin"]}))
        .await;
    let narrowed_action = fixture.action(admins_only, json!({})).await;
    fixture.release(admins_only).await;
    let viewer = fixture
        .server
        .member(&fixture.owner, fixture.workspace, "viewer")
        .await;
    let admin = fixture
        .server
        .member(&fixture.owner, fixture.workspace, "admin")
        .await;

    let no_release = fixture
        .run(&viewer.access, unreleased, draft_action, json!({}))
        .await;
    let not_shared = fixture
        .run(&viewer.access, admins_only, narrowed_action, json!({}))
        .await;
    let shared = fixture
        .run(&admin.access, admins_only, narrowed_action, json!({}))
        .await;

    assert_eq!(
        no_release.status,
        StatusCode::NOT_FOUND,
        "{}",
        no_release.text
    );
    assert_eq!(
        not_shared.status,
        StatusCode::NOT_FOUND,
        "{}",
        not_shared.text
    );
    assert_eq!(shared.status, StatusCode::OK, "{}", shared.text);
}

#[tokio::test]
async fn draft_changes_need_a_release_for_viewers() {
    let fixture = RunFixture::start().await;
    let app = fixture.app("Penguins").await;
    let released = fixture.action(app, json!({"input": {"v": 1}})).await;
    fixture.release(app).await;
    let added_later = fixture.action(app, json!({"input": {"v": 2}})).await;
    let viewer = fixture
        .server
        .member(&fixture.owner, fixture.workspace, "viewer")
        .await;

    let old = fixture.run(&viewer.access, app, released, json!({})).await;
    let new = fixture
        .run(&viewer.access, app, added_later, json!({}))
        .await;
    let draft = fixture
        .run_draft(&fixture.owner.access, app, added_later, json!({}))
        .await;

    assert_eq!(old.status, StatusCode::OK);
    assert_eq!(new.status, StatusCode::NOT_FOUND, "{}", new.text);
    assert_eq!(draft.status, StatusCode::OK, "{}", draft.text);
    assert_eq!(draft.json()["data"], json!({"v": 2}));
}

#[tokio::test]
async fn other_workspace_ids_answer_404() {
    let fixture = RunFixture::start().await;
    let app = fixture.app("Penguins").await;
    let action = fixture.action(app, json!({})).await;
    fixture.release(app).await;
    let server = &fixture.server;
    let token = &fixture.owner.access;
    let second = server.workspace(&fixture.owner, "Beta").await;
    let run_path = format!("/api/v1/workspaces/{second}/apps/{app}/actions/{action}/run");

    let release = server.post(&run_path, Some(token), json!({})).await;
    let draft = server
        .post(&format!("{run_path}?stage=draft"), Some(token), json!({}))
        .await;
    let runs = server
        .get(
            &format!("/api/v1/workspaces/{second}/runs?app_id={app}"),
            token,
        )
        .await;

    assert_eq!(release.status, StatusCode::NOT_FOUND, "{}", release.text);
    assert_eq!(draft.status, StatusCode::NOT_FOUND, "{}", draft.text);
    assert_eq!(runs.status, StatusCode::OK);
    assert_eq!(runs.json()["items"], json!([]));
}

#[tokio::test]
async fn public_app_runs_released_actions_only() {
    let fixture = RunFixture::start().await;
    let (public_app, public_id) = fixture
        .app_with_access("Public", json!({"public": true}))
        .await;
    let public_id = public_id.expect("a public app has a link");
    let released = fixture
        .action(public_app, json!({"input": {"s": "{{ s }}"}}))
        .await;
    fixture.release(public_app).await;
    let draft_only = fixture.action(public_app, json!({})).await;
    let private_app = fixture.app("Private").await;
    let private_action = fixture.action(private_app, json!({})).await;
    fixture.release(private_app).await;

    let ok = fixture
        .run_public(public_id, released, json!({"s": "hi"}))
        .await;
    let draft = fixture.run_public(public_id, draft_only, json!({})).await;
    let foreign = fixture
        .run_public(public_id, private_action, json!({}))
        .await;
    let unknown = fixture
        .run_public(uuid::Uuid::new_v4(), released, json!({}))
        .await;
    let runs = fixture
        .server
        .get(&fixture.path("/runs"), &fixture.owner.access)
        .await;

    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(ok.json()["data"], json!({"s": "hi"}));
    assert_eq!(draft.status, StatusCode::NOT_FOUND, "{}", draft.text);
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{}", foreign.text);
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text);
    assert_eq!(runs.json()["items"][0]["caller"], json!("public"));
    assert_eq!(runs.json()["items"][0]["user_id"], json!(null));
}

#[tokio::test]
async fn private_app_leaves_others_public() {
    let fixture = RunFixture::start().await;
    let (closing, closing_link) = fixture
        .app_with_access("Closing", json!({"public": true}))
        .await;
    let closing_action = fixture.action(closing, json!({})).await;
    fixture.release(closing).await;
    let (staying, staying_link) = fixture
        .app_with_access("Staying", json!({"public": true}))
        .await;
    let staying_action = fixture.action(staying, json!({})).await;
    fixture.release(staying).await;
    let (closing_link, staying_link) = (closing_link.unwrap(), staying_link.unwrap());

    let before = fixture
        .run_public(closing_link, closing_action, json!({}))
        .await;
    let version = fixture
        .server
        .get(
            &fixture.path(&format!("/apps/{closing}")),
            &fixture.owner.access,
        )
        .await
        .json()["version"]
        .clone();
    let closed = fixture
        .server
        .call(
            Method::PATCH,
            &fixture.path(&format!("/apps/{closing}")),
            Some(&fixture.owner.access),
            Some(json!({"version": version, "access": {"public": false}})),
        )
        .await;
    let after = fixture
        .run_public(closing_link, closing_action, json!({}))
        .await;
    let other = fixture
        .run_public(staying_link, staying_action, json!({}))
        .await;
    let member = fixture
        .run(&fixture.owner.access, closing, closing_action, json!({}))
        .await;

    assert_eq!(before.status, StatusCode::OK, "{}", before.text);
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.text);
    assert_eq!(closed.json()["public_id"], json!(null));
    assert_eq!(after.status, StatusCode::NOT_FOUND, "{}", after.text);
    assert_eq!(other.status, StatusCode::OK, "{}", other.text);
    assert_eq!(member.status, StatusCode::OK, "{}", member.text);
}

#[tokio::test]
async fn public_runs_limited_per_app() {
    let fixture = RunFixture::start_with(|settings| {
        settings.rate_limit_public_run_per_minute = 2;
    })
    .await;
    let (app, public_id) = fixture
        .app_with_access("Public", json!({"public": true}))
        .await;
    let action = fixture.action(app, json!({})).await;
    fixture.release(app).await;
    let public_id = public_id.unwrap();

    let first = fixture.run_public(public_id, action, json!({})).await;
    let second = fixture.run_public(public_id, action, json!({})).await;
    let third = fixture.run_public(public_id, action, json!({})).await;
    let member = fixture
        .run(&fixture.owner.access, app, action, json!({}))
        .await;
    let (other_app, other_public_id) = fixture
        .app_with_access("Other public", json!({"public": true}))
        .await;
    let other_action = fixture.action(other_app, json!({})).await;
    fixture.release(other_app).await;
    let other = fixture
        .run_public(other_public_id.unwrap(), other_action, json!({}))
        .await;

    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(
        third.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        third.text
    );
    assert_eq!(member.status, StatusCode::OK, "{}", member.text);
    assert_eq!(other.status, StatusCode::OK, "{}", other.text);
}

#[tokio::test]
async fn echo_resource_passes_connection_test() {
    let fixture = RunFixture::start().await;

    let reply = fixture
        .server
        .post(
            &fixture.path(&format!("/resources/{}/test", fixture.resource)),
            Some(&fixture.owner.access),
            json!({}),
        )
        .await;
    let unknown = fixture
        .server
        .post(
            &fixture.path("/resources"),
            Some(&fixture.owner.access),
            json!({"name": "x", "plugin_id": "echo", "plugin_version": "9.9.9", "config": {}}),
        )
        .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["ok"], json!(true), "{}", reply.text);
    assert!(unknown.status.is_client_error(), "{}", unknown.text);
}
