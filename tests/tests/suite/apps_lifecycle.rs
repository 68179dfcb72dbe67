//! Apps, draft revisions, optimistic concurrency, releases, rollback, access rules, public
//! links, actions and the load-for-run API.

use reqwest::{Method, StatusCode};
use serde_json::json;
use trellis_apps::runs::{load_action_for_run, Stage};
use trellis_tests::apps::{Fixture, DB_PASSWORD};
use uuid::Uuid;

fn document(title: &str) -> serde_json::Value {
    json!({"components": [{"type": "text", "value": title}], "layout": {"rows": 1}, "settings": {}})
}

#[tokio::test]
async fn stale_version_gets_409() {
    let fixture = Fixture::start().await;
    let app = fixture.app("Penguins").await;
    let path = format!("/apps/{app}");

    let first = fixture
        .send(
            Method::PATCH,
            &path,
            &fixture.owner.access,
            Some(json!({"version": 1, "document": document("first")})),
        )
        .await;
    let stale = fixture
        .send(
            Method::PATCH,
            &path,
            &fixture.owner.access,
            Some(json!({"version": 1, "document": document("second")})),
        )
        .await;
    let current = fixture
        .send(Method::GET, &path, &fixture.owner.access, None)
        .await;

    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.json()["version"], 2);
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert_eq!(stale.json()["code"], "stale_version");
    assert_eq!(current.json()["document"], document("first"));
    fixture.server.stop().await;
}

#[tokio::test]
async fn every_save_is_a_draft_revision() {
    let fixture = Fixture::start().await;
    let app = fixture.app("Penguins").await;
    for version in 1..=3 {
        let reply = fixture
            .send(
                Method::PATCH,
                &format!("/apps/{app}"),
                &fixture.owner.access,
                Some(
                    json!({"version": version, "document": document(&format!("v{}", version + 1))}),
                ),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    }

    let versions = fixture
        .send(
            Method::GET,
            &format!("/apps/{app}/versions"),
            &fixture.owner.access,
            None,
        )
        .await;
    let second = fixture
        .send(
            Method::GET,
            &format!("/apps/{app}/versions/2"),
            &fixture.owner.access,
            None,
        )
        .await;

    let numbers: Vec<i64> = versions.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["version"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, vec![4, 3, 2, 1]);
    assert_eq!(second.json()["document"], document("v2"));
    fixture.server.stop().await;
}

#[tokio::test]
async fn document_shape_and_size_are_checked() {
    let fixture = Fixture::start().await;
    let big = "x".repeat(5 * 1024 * 1024);

    let shapeless = fixture
        .send(
            Method::POST,
            "/apps",
            &fixture.owner.access,
            Some(json!({"name": "a", "document": {"components": []}})),
        )
        .await;
    let oversized = fixture
        .send(Method::POST, "/apps", &fixture.owner.access,
            Some(json!({"name": "a", "document": {"components": [], "layout": {}, "settings": {"blob": big}}})))
        .await;
    let near_limit = fixture
        .send(Method::POST, "/apps", &fixture.owner.access,
            Some(json!({"name": "a", "document": {"components": [], "layout": {}, "settings": {"blob": "x".repeat(5 * 1024 * 1024 - 1024)}}})))
        .await;

    assert_eq!(shapeless.status, StatusCode::BAD_REQUEST);
    assert_eq!(shapeless.json()["field"], "document.layout");
    assert_eq!(
        oversized.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        oversized.text
    );
    assert_eq!(
        near_limit.status,
        StatusCode::CREATED,
        "{}",
        near_limit.text
    );
    fixture.server.stop().await;
}

#[tokio::test]
async fn release_freezes_draft_and_actions() {
    let fixture = Fixture::start().await;
    let resource = fixture.sql_resource().await;
    let app = fixture.app("Penguins").await;
    let action = fixture.action(app, resource, "by_species").await;
    fixture
        .send(
            Method::PATCH,
            &format!("/apps/{app}"),
            &fixture.owner.access,
            Some(json!({"version": 1, "document": document("released")})),
        )
        .await;
    let number = fixture.release(app).await;

    fixture
        .send(
            Method::PATCH,
            &format!("/apps/{app}"),
            &fixture.owner.access,
            Some(json!({"version": 2, "document": document("draft")})),
        )
        .await;
    fixture
        .send(
            Method::PATCH,
            &format!("/apps/{app}/actions/{action}"),
            &fixture.owner.access,
            Some(json!({"input": {"sql": "delete from penguins"}, "operation": "execute"})),
        )
        .await;
    let viewer = fixture
        .server
        .member(&fixture.owner, fixture.workspace, "viewer")
        .await;
    let opened = fixture
        .send(
            Method::GET,
            &format!("/apps/{app}/releases/latest"),
            &viewer.access,
            None,
        )
        .await;
    let release = fixture
        .send(
            Method::GET,
            &format!("/apps/{app}/releases/{number}"),
            &fixture.owner.access,
            None,
        )
        .await;

    assert_eq!(number, 1);
    assert_eq!(opened.status, StatusCode::OK, "{}", opened.text);
    assert_eq!(opened.json()["document"], document("released"));
    assert_eq!(opened.json()["actions"][0]["name"], "by_species");
    assert!(
        opened.json()["actions"][0].get("input").is_none(),
        "viewers get no definitions"
    );
    assert_eq!(release.json()["actions"][0]["operation"], "query");
    assert_eq!(release.json()["source_version"], 2);

    let state = fixture.apps_state().await;
    let released =
        load_action_for_run(&state, fixture.workspace, app, action, Stage::LatestRelease)
            .await
            .unwrap();
    let draft = load_action_for_run(&state, fixture.workspace, app, action, Stage::Draft)
        .await
        .unwrap();
    assert_eq!(released.release, Some(1));
    assert_eq!(released.action.operation, "query");
    assert_eq!(draft.action.operation, "execute");
    assert_eq!(released.resource.config.expose()["password"], DB_PASSWORD);
    assert!(
        !format!("{released:?}").contains(DB_PASSWORD),
        "Debug output hides secrets"
    );
    fixture.server.stop().await;
}

#[tokio::test]
async fn rollback_republishes_earlier_release() {
    let fixture = Fixture::start().await;
    let app = fixture.app("Penguins").await;
    fixture
        .send(
            Method::PATCH,
            &format!("/apps/{app}"),
            &fixture.owner.access,
            Some(json!({"version": 1, "document": document("one")})),
        )
        .await;
    fixture.release(app).await;
    fixture
        .send(
            Method::PATCH,
            &format!("/apps/{app}"),
            &fixture.owner.access,
            Some(json!({"version": 2, "document": document("two")})),
        )
        .await;
    fixture.release(app).await;

    let rollback = fixture
        .send(
            Method::POST,
            &format!("/apps/{app}/releases/1/rollback"),
            &fixture.owner.access,
            None,
        )
        .await;
    let latest = fixture
        .send(
            Method::GET,
            &format!("/apps/{app}/releases/latest"),
            &fixture.owner.access,
            None,
        )
        .await;
    let second = fixture
        .send(
            Method::GET,
            &format!("/apps/{app}/releases/2"),
            &fixture.owner.access,
            None,
        )
        .await;
    let draft = fixture
        .send(
            Method::GET,
            &format!("/apps/{app}"),
            &fixture.owner.access,
            None,
        )
        .await;

    assert_eq!(rollback.status, StatusCode::CREATED, "{}", rollback.text);
    assert_eq!(rollback.json()["number"], 3);
    assert_eq!(rollback.json()["rolled_back_from"], 1);
    assert_eq!(latest.json()["release"], 3);
    assert_eq!(latest.json()["document"], document("one"));
    assert_eq!(
        second.json()["document"],
        document("two"),
        "releases never change"
    );
    assert_eq!(
        draft.json()["document"],
        document("two"),
        "the draft is left alone"
    );
    assert_eq!(draft.json()["latest_release"], 3);
    fixture.server.stop().await;
}

#[tokio::test]
async fn narrowed_access_admits_named_roles_and_members() {
    let fixture = Fixture::start().await;
    let named = fixture
        .server
        .member(&fixture.owner, fixture.workspace, "viewer")
        .await;
    let other = fixture
        .server
        .member(&fixture.owner, fixture.workspace, "viewer")
        .await;
    let editor = fixture
        .server
        .member(&fixture.owner, fixture.workspace, "editor")
        .await;
    let app = fixture.app("Payroll").await;
    let narrowed = fixture
        .send(
            Method::PATCH,
            &format!("/apps/{app}"),
            &fixture.owner.access,
            Some(json!({"version": 1, "access": {"members": [named.user_id]}})),
        )
        .await;
    assert_eq!(narrowed.status, StatusCode::OK, "{}", narrowed.text);
    fixture.release(app).await;
    let latest = format!("/apps/{app}/releases/latest");

    let named_open = fixture
        .send(Method::GET, &latest, &named.access, None)
        .await;
    let other_open = fixture
        .send(Method::GET, &latest, &other.access, None)
        .await;
    let editor_open = fixture
        .send(Method::GET, &latest, &editor.access, None)
        .await;
    let other_list = fixture
        .send(Method::GET, "/apps", &other.access, None)
        .await;
    let named_list = fixture
        .send(Method::GET, "/apps", &named.access, None)
        .await;

    assert_eq!(named_open.status, StatusCode::OK);
    assert_eq!(other_open.status, StatusCode::NOT_FOUND);
    assert_eq!(editor_open.status, StatusCode::OK);
    assert_eq!(other_list.json()["items"], json!([]));
    assert_eq!(named_list.json()["items"][0]["id"], app.to_string());
    fixture.server.stop().await;
}

#[tokio::test]
async fn viewers_see_only_released_apps() {
    let fixture = Fixture::start().await;
    let viewer = fixture
        .server
        .member(&fixture.owner, fixture.workspace, "viewer")
        .await;
    let draft_only = fixture.app("Draft").await;
    let released = fixture.app("Released").await;
    fixture.release(released).await;

    let list = fixture
        .send(Method::GET, "/apps", &viewer.access, None)
        .await;
    let draft_open = fixture
        .send(
            Method::GET,
            &format!("/apps/{draft_only}/releases/latest"),
            &viewer.access,
            None,
        )
        .await;

    let ids: Vec<String> = list.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, vec![released.to_string()]);
    assert_eq!(draft_open.status, StatusCode::NOT_FOUND);
    fixture.server.stop().await;
}

#[tokio::test]
async fn public_app_opens_without_account() {
    let fixture = Fixture::start().await;
    let app = fixture.app("Status page").await;
    let editor = fixture
        .server
        .member(&fixture.owner, fixture.workspace, "editor")
        .await;
    let by_editor = fixture
        .send(
            Method::PATCH,
            &format!("/apps/{app}"),
            &editor.access,
            Some(json!({"version": 1, "access": {"public": true}})),
        )
        .await;
    let made_public = fixture
        .send(
            Method::PATCH,
            &format!("/apps/{app}"),
            &fixture.owner.access,
            Some(json!({"version": 1, "access": {"public": true}})),
        )
        .await;
    let public_id = made_public.json()["public_id"]
        .as_str()
        .unwrap()
        .to_string();
    let link = format!("/api/v1/public/apps/{public_id}");

    let before_release = fixture.server.call(Method::GET, &link, None, None).await;
    fixture.release(app).await;
    let opened = fixture.server.call(Method::GET, &link, None, None).await;
    fixture
        .send(
            Method::PATCH,
            &format!("/apps/{app}"),
            &fixture.owner.access,
            Some(json!({"version": 2, "access": {"public": false}})),
        )
        .await;
    let after_private = fixture.server.call(Method::GET, &link, None, None).await;
    let unknown = fixture
        .server
        .call(
            Method::GET,
            &format!("/api/v1/public/apps/{}", Uuid::new_v4()),
            None,
            None,
        )
        .await;

    assert_eq!(by_editor.status, StatusCode::FORBIDDEN);
    assert_eq!(before_release.status, StatusCode::NOT_FOUND);
    assert_eq!(opened.status, StatusCode::OK, "{}", opened.text);
    assert_eq!(opened.json()["name"], "Status page");
    assert_eq!(after_private.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    fixture.server.stop().await;
}

#[tokio::test]
async fn action_definitions_are_validated() {
    let fixture = Fixture::start().await;
    let resource = fixture.sql_resource().await;
    let app = fixture.app("Penguins").await;
    let base = json!({"name": "q", "resource_id": resource, "operation": "query",
        "input": {"sql": "select 1"}});
    let with = |field: &str, value: serde_json::Value| {
        let mut body = base.clone();
        body[field] = value;
        body
    };
    let cases = [
        (
            with("input", json!({"sql": "select {{ species.value "})),
            "input.sql",
        ),
        (with("transformer", json!("map(")), "transformer"),
        (
            with("transformer", json!("undefined_function(1)")),
            "transformer",
        ),
        (with("params_schema", json!({"type": 12})), "params_schema"),
        (with("timeout_ms", json!(10)), "timeout_ms"),
        (with("timeout_ms", json!(3_600_000)), "timeout_ms"),
        (
            with("cache_ttl_seconds", json!(10_000_000)),
            "cache_ttl_seconds",
        ),
        (with("operation", json!("drop_everything")), "operation"),
        (with("resource_id", json!(Uuid::new_v4())), "resource_id"),
        (with("name", json!("  ")), "name"),
    ];

    for (body, field) in cases {
        let reply = fixture
            .send(
                Method::POST,
                &format!("/apps/{app}/actions"),
                &fixture.owner.access,
                Some(body),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{field}: {}",
            reply.text
        );
        assert_eq!(reply.json()["field"], field, "{}", reply.text);
    }
    let valid = fixture
        .send(
            Method::POST,
            &format!("/apps/{app}/actions"),
            &fixture.owner.access,
            Some(base.clone()),
        )
        .await;
    let duplicate = fixture
        .send(
            Method::POST,
            &format!("/apps/{app}/actions"),
            &fixture.owner.access,
            Some(base),
        )
        .await;
    assert_eq!(valid.status, StatusCode::CREATED, "{}", valid.text);
    assert_eq!(valid.json()["timeout_ms"], 30000);
    assert_eq!(valid.json()["requires_confirmation"], false);
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    fixture.server.stop().await;
}

#[tokio::test]
async fn action_patch_clears_optional_fields_with_null() {
    let fixture = Fixture::start().await;
    let resource = fixture.sql_resource().await;
    let app = fixture.app("Penguins").await;
    let action = fixture.action(app, resource, "by_species").await;
    let path = format!("/apps/{app}/actions/{action}");

    let kept = fixture
        .send(
            Method::PATCH,
            &path,
            &fixture.owner.access,
            Some(json!({"requires_confirmation": true})),
        )
        .await;
    let cleared = fixture
        .send(
            Method::PATCH,
            &path,
            &fixture.owner.access,
            Some(json!({"transformer": null})),
        )
        .await;

    assert_eq!(kept.json()["transformer"], "map(.body_mass_g)");
    assert_eq!(kept.json()["requires_confirmation"], true);
    assert_eq!(cleared.json()["transformer"], serde_json::Value::Null);
    assert_eq!(cleared.json()["cache_ttl_seconds"], 60);
    fixture.server.stop().await;
}

#[tokio::test]
async fn load_for_run_rejects_other_workspace_and_unreleased() {
    let fixture = Fixture::start().await;
    let resource = fixture.sql_resource().await;
    let app = fixture.app("Penguins").await;
    let action = fixture.action(app, resource, "by_species").await;
    let state = fixture.apps_state().await;

    let unreleased =
        load_action_for_run(&state, fixture.workspace, app, action, Stage::LatestRelease).await;
    let elsewhere = load_action_for_run(&state, Uuid::new_v4(), app, action, Stage::Draft).await;
    let other_app = load_action_for_run(
        &state,
        fixture.workspace,
        Uuid::new_v4(),
        action,
        Stage::Draft,
    )
    .await;

    assert!(matches!(
        unreleased,
        Err(trellis_apps::error::AppsError::NotFound(_))
    ));
    assert!(matches!(
        elsewhere,
        Err(trellis_apps::error::AppsError::NotFound(_))
    ));
    assert!(matches!(
        other_app,
        Err(trellis_apps::error::AppsError::NotFound(_))
    ));
    fixture.server.stop().await;
}
