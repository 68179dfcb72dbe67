//! Every resource, app, action, release and audit route, called by every role, responds as the
//! role table sets out. Another workspace's ids get 404, and changes land in the audit log.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use trellis_tests::apps::{id_of, Fixture};
use uuid::Uuid;

const ROLES: [&str; 4] = ["viewer", "editor", "admin", "owner"];

fn rank(role: &str) -> usize {
    ROLES.iter().position(|r| *r == role).unwrap()
}

struct Targets {
    resource: Uuid,
    app: Uuid,
    action: Uuid,
}

async fn targets(fixture: &Fixture) -> Targets {
    let resource = fixture.sql_resource().await;
    let app = fixture.app("Penguins").await;
    let action = fixture.action(app, resource, "by_species").await;
    fixture.release(app).await;
    Targets {
        resource,
        app,
        action,
    }
}

/// (method, path under the workspace, body, least role allowed); nothing here deletes.
fn routes(t: &Targets) -> Vec<(Method, String, Option<Value>, &'static str)> {
    let app = format!("/apps/{}", t.app);
    let resource = format!("/resources/{}", t.resource);
    let action = format!("{app}/actions/{}", t.action);
    let sql = json!({"name": "db", "plugin_id": "sql", "plugin_version": "1.0.0",
        "config": {"host": "h", "database": "d", "password": "pw"}});
    vec![
        (Method::GET, "/resources".into(), None, "editor"),
        (Method::POST, "/resources".into(), Some(sql), "admin"),
        (Method::GET, resource.clone(), None, "editor"),
        (
            Method::PATCH,
            resource.clone(),
            Some(json!({"name": "Renamed"})),
            "admin",
        ),
        (Method::POST, format!("{resource}/test"), None, "admin"),
        (Method::GET, "/apps".into(), None, "viewer"),
        (
            Method::POST,
            "/apps".into(),
            Some(json!({"name": "New"})),
            "editor",
        ),
        (Method::GET, app.clone(), None, "editor"),
        (
            Method::PATCH,
            app.clone(),
            Some(json!({"version": 1, "name": "Renamed"})),
            "editor",
        ),
        (Method::GET, format!("{app}/versions"), None, "editor"),
        (Method::GET, format!("{app}/versions/1"), None, "editor"),
        (Method::GET, format!("{app}/releases"), None, "editor"),
        (Method::POST, format!("{app}/releases"), None, "editor"),
        (Method::GET, format!("{app}/releases/1"), None, "editor"),
        (
            Method::GET,
            format!("{app}/releases/latest"),
            None,
            "viewer",
        ),
        (
            Method::POST,
            format!("{app}/releases/1/rollback"),
            None,
            "editor",
        ),
        (Method::GET, format!("{app}/actions"), None, "editor"),
        (
            Method::POST,
            format!("{app}/actions"),
            Some(
                json!({"name": format!("a{}", Uuid::new_v4().simple()), "resource_id": t.resource,
                "operation": "query", "input": {"sql": "select 1"}}),
            ),
            "editor",
        ),
        (Method::GET, action.clone(), None, "editor"),
        (
            Method::PATCH,
            action.clone(),
            Some(json!({"timeout_ms": 1000})),
            "editor",
        ),
        (Method::GET, "/audit".into(), None, "admin"),
    ]
}

#[tokio::test]
async fn every_route_enforces_its_role() {
    let fixture = Fixture::start().await;
    let targets = targets(&fixture).await;
    let mut sessions = Vec::new();
    for role in ROLES {
        let session = if role == "owner" {
            fixture.owner.clone()
        } else {
            fixture
                .server
                .member(&fixture.owner, fixture.workspace, role)
                .await
        };
        sessions.push((role, session));
    }

    for (method, path, body, least) in routes(&targets) {
        for (role, session) in &sessions {
            let reply = fixture
                .send(method.clone(), &path, &session.access, body.clone())
                .await;
            if rank(role) >= rank(least) {
                assert!(
                    ![
                        StatusCode::FORBIDDEN,
                        StatusCode::NOT_FOUND,
                        StatusCode::UNAUTHORIZED
                    ]
                    .contains(&reply.status),
                    "{role} {method} {path} should pass but got {}: {}",
                    reply.status,
                    reply.text
                );
            } else {
                assert_eq!(
                    reply.status,
                    StatusCode::FORBIDDEN,
                    "{role} {method} {path}: {}",
                    reply.text
                );
            }
        }
    }
    fixture.server.stop().await;
}

#[tokio::test]
async fn anonymous_calls_get_401() {
    let fixture = Fixture::start().await;
    let targets = targets(&fixture).await;

    for (method, path, body, _) in routes(&targets) {
        let reply = fixture
            .server
            .call(method.clone(), &fixture.path(&path), None, body)
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
    fixture.server.stop().await;
}

#[tokio::test]
async fn deletes_enforce_their_role() {
    let fixture = Fixture::start().await;
    for role in ["viewer", "editor", "admin"] {
        let session = fixture
            .server
            .member(&fixture.owner, fixture.workspace, role)
            .await;
        let resource = fixture.sql_resource().await;
        let app = fixture.app("Doomed").await;
        let action = fixture.action(app, resource, "gone").await;

        let action_reply = fixture
            .send(
                Method::DELETE,
                &format!("/apps/{app}/actions/{action}"),
                &session.access,
                None,
            )
            .await;
        let app_reply = fixture
            .send(
                Method::DELETE,
                &format!("/apps/{app}"),
                &session.access,
                None,
            )
            .await;
        if action_reply.status != StatusCode::NO_CONTENT {
            fixture
                .send(
                    Method::DELETE,
                    &format!("/apps/{app}"),
                    &fixture.owner.access,
                    None,
                )
                .await;
        }
        let resource_reply = fixture
            .send(
                Method::DELETE,
                &format!("/resources/{resource}"),
                &session.access,
                None,
            )
            .await;

        let editor_or_more = rank(role) >= rank("editor");
        let admin_or_more = rank(role) >= rank("admin");
        let expect = |allowed: bool| {
            if allowed {
                StatusCode::NO_CONTENT
            } else {
                StatusCode::FORBIDDEN
            }
        };
        assert_eq!(
            action_reply.status,
            expect(editor_or_more),
            "{role} deletes an action"
        );
        assert_eq!(
            app_reply.status,
            expect(editor_or_more),
            "{role} deletes an app"
        );
        assert_eq!(
            resource_reply.status,
            expect(admin_or_more),
            "{role} deletes a resource"
        );
    }
    fixture.server.stop().await;
}

#[tokio::test]
async fn other_workspace_ids_get_404() {
    let fixture = Fixture::start().await;
    let targets = targets(&fixture).await;
    let stranger = fixture.server.signup("stranger").await;
    let own_workspace = fixture.server.workspace(&stranger, "Elsewhere").await;

    for (method, path, body, _) in routes(&targets) {
        // A member of nothing in this workspace gets 404 on its routes.
        let outsider = fixture
            .send(method.clone(), &path, &stranger.access, body.clone())
            .await;
        assert_eq!(
            outsider.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            outsider.text
        );

        // The ids of this workspace get 404 under the stranger's own workspace.
        if path.contains(&targets.app.to_string()) || path.contains(&targets.resource.to_string()) {
            let crossed = fixture
                .server
                .call(
                    method.clone(),
                    &format!("/api/v1/workspaces/{own_workspace}{path}"),
                    Some(&stranger.access),
                    body.clone(),
                )
                .await;
            assert_eq!(
                crossed.status,
                StatusCode::NOT_FOUND,
                "crossed {method} {path}: {}",
                crossed.text
            );
        }
    }
    for path in [
        format!("/apps/{}/actions/{}", targets.app, targets.action),
        format!("/apps/{}", targets.app),
        format!("/resources/{}", targets.resource),
    ] {
        let crossed = fixture
            .server
            .call(
                Method::DELETE,
                &format!("/api/v1/workspaces/{own_workspace}{path}"),
                Some(&stranger.access),
                None,
            )
            .await;
        assert_eq!(
            crossed.status,
            StatusCode::NOT_FOUND,
            "crossed DELETE {path}"
        );
    }
    let still_there = fixture
        .send(
            Method::GET,
            &format!("/apps/{}", targets.app),
            &fixture.owner.access,
            None,
        )
        .await;
    assert_eq!(still_there.status, StatusCode::OK);
    fixture.server.stop().await;
}

#[tokio::test]
async fn audit_log_records_changes_with_actor_and_address() {
    let fixture = Fixture::start().await;
    let targets = targets(&fixture).await;
    fixture
        .send(
            Method::POST,
            &format!("/apps/{}/releases/1/rollback", targets.app),
            &fixture.owner.access,
            None,
        )
        .await;
    let new_app = fixture.app("Temporary").await;
    fixture
        .send(
            Method::DELETE,
            &format!("/apps/{new_app}"),
            &fixture.owner.access,
            None,
        )
        .await;

    let first_page = fixture
        .send(Method::GET, "/audit?limit=3", &fixture.owner.access, None)
        .await;
    let all = fixture
        .send(Method::GET, "/audit", &fixture.owner.access, None)
        .await;

    let items = all.json()["items"].as_array().unwrap().clone();
    let actions: Vec<&str> = items
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in [
        "resource.create",
        "app.create",
        "action.create",
        "release.create",
        "release.rollback",
        "app.delete",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} missing from {actions:?}"
        );
    }
    assert_eq!(actions[0], "app.delete", "newest first");
    assert_eq!(items[0]["actor_user_id"], fixture.owner.user_id.to_string());
    assert_eq!(items[0]["client_address"], "127.0.0.1");
    assert_eq!(items[0]["target_id"], new_app.to_string());
    assert_eq!(first_page.json()["items"].as_array().unwrap().len(), 3);
    assert_eq!(first_page.json()["next_offset"], 3);
    fixture.server.stop().await;
}

#[tokio::test]
async fn member_changes_are_audited_beside_app_changes() {
    let fixture = Fixture::start().await;
    let server = &fixture.server;
    let editor = server
        .member(&fixture.owner, fixture.workspace, "editor")
        .await;
    let leaver = server
        .member(&fixture.owner, fixture.workspace, "viewer")
        .await;
    let invite = server
        .post(
            &fixture.path("/invites"),
            Some(&fixture.owner.access),
            json!({"email": "later@example.com", "role": "viewer"}),
        )
        .await;
    assert_eq!(invite.status, StatusCode::CREATED, "{}", invite.text);
    let invite_id = invite.json()["invite"]["id"].as_str().unwrap().to_string();
    let revoke = fixture
        .send(
            Method::DELETE,
            &format!("/invites/{invite_id}"),
            &fixture.owner.access,
            None,
        )
        .await;
    let promote = fixture
        .send(
            Method::PATCH,
            &format!("/members/{}", editor.user_id),
            &fixture.owner.access,
            Some(json!({"role": "admin"})),
        )
        .await;
    let app = fixture.app("After the team changes").await;
    let leave = fixture
        .send(
            Method::DELETE,
            &format!("/members/{}", leaver.user_id),
            &leaver.access,
            None,
        )
        .await;
    let remove = fixture
        .send(
            Method::DELETE,
            &format!("/members/{}", editor.user_id),
            &fixture.owner.access,
            None,
        )
        .await;

    let audit = fixture
        .send(Method::GET, "/audit", &fixture.owner.access, None)
        .await;
    let second_page = fixture
        .send(
            Method::GET,
            "/audit?offset=2&limit=2",
            &fixture.owner.access,
            None,
        )
        .await;
    let too_deep = fixture
        .send(
            Method::GET,
            "/audit?offset=9900&limit=200",
            &fixture.owner.access,
            None,
        )
        .await;

    assert_eq!(revoke.status, StatusCode::NO_CONTENT, "{}", revoke.text);
    assert_eq!(promote.status, StatusCode::OK, "{}", promote.text);
    assert_eq!(leave.status, StatusCode::NO_CONTENT, "{}", leave.text);
    assert_eq!(remove.status, StatusCode::NO_CONTENT, "{}", remove.text);
    let items = audit.json()["items"].as_array().unwrap().clone();
    let actions: Vec<&str> = items
        .iter()
        .map(|event| event["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        &actions[..6],
        [
            "member.remove",
            "member.leave",
            "app.create",
            "member.role_change",
            "invite.revoke",
            "invite.create",
        ],
        "{actions:?}"
    );
    assert_eq!(items[0]["target_id"], editor.user_id.to_string());
    assert_eq!(items[0]["actor_user_id"], fixture.owner.user_id.to_string());
    assert_eq!(items[0]["client_address"], "127.0.0.1");
    assert_eq!(items[1]["actor_user_id"], leaver.user_id.to_string());
    assert_eq!(items[2]["target_id"], app.to_string());
    assert_eq!(
        items[3]["details"],
        json!({"from": "editor", "to": "admin"})
    );
    assert_eq!(items[4]["target_id"], invite_id);
    assert_eq!(
        items[5]["details"],
        json!({"email": "later@example.com", "role": "viewer"})
    );
    let joined = actions.iter().filter(|a| **a == "member.join").count();
    assert_eq!(joined, 3, "the owner and two invited members: {actions:?}");
    assert_eq!(second_page.json()["items"].as_array().unwrap().len(), 2);
    assert_eq!(second_page.json()["items"][0]["id"], items[2]["id"]);
    assert_eq!(second_page.json()["items"][1]["id"], items[3]["id"]);
    assert_eq!(
        too_deep.status,
        StatusCode::BAD_REQUEST,
        "{}",
        too_deep.text
    );
    assert!(too_deep.text.contains("offset"), "{}", too_deep.text);
    fixture.server.stop().await;
}

#[tokio::test]
async fn api_key_changes_are_audited_by_key() {
    let fixture = Fixture::start().await;
    let key = fixture
        .server
        .post(
            &fixture.path("/api-keys"),
            Some(&fixture.owner.access),
            json!({"name": "ci", "role": "editor"}),
        )
        .await;
    let secret = key.json()["key"].as_str().unwrap().to_string();
    let key_id = key.json()["api_key"]["id"].as_str().unwrap().to_string();

    let created = fixture
        .send(
            Method::POST,
            "/apps",
            &secret,
            Some(json!({"name": "From CI"})),
        )
        .await;
    let audit = fixture
        .send(Method::GET, "/audit", &fixture.owner.access, None)
        .await;

    assert_eq!(created.status, StatusCode::CREATED);
    let event = &audit.json()["items"][0];
    assert_eq!(event["target_id"], id_of(&created).to_string());
    assert_eq!(event["actor_api_key_id"], key_id);
    assert_eq!(event["actor_user_id"], Value::Null);
    fixture.server.stop().await;
}
