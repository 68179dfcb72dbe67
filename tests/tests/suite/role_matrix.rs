//! Every workspace, member, invite and API-key route, called by every role, responds as the
//! role table requires. Another workspace's ids get 404.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use trellis_tests::{Session, TestServer};
use uuid::Uuid;

const ROLES: [&str; 4] = ["viewer", "editor", "admin", "owner"];

fn rank(role: &str) -> usize {
    ROLES.iter().position(|r| *r == role).unwrap()
}

/// Ids a route may need besides the workspace.
struct Targets {
    member_to_change: Uuid,
    member_to_remove: Uuid,
    invite: Uuid,
    api_key: Uuid,
}

async fn targets(server: &TestServer, owner: &Session, workspace: Uuid) -> Targets {
    let change = server.member(owner, workspace, "editor").await;
    let remove = server.member(owner, workspace, "viewer").await;
    let invite = server
        .post(
            &format!("/api/v1/workspaces/{workspace}/invites"),
            Some(&owner.access),
            json!({"email": "someone@example.com", "role": "viewer"}),
        )
        .await;
    let key = server
        .post(
            &format!("/api/v1/workspaces/{workspace}/api-keys"),
            Some(&owner.access),
            json!({"name": "ci", "role": "viewer"}),
        )
        .await;
    Targets {
        member_to_change: change.user_id,
        member_to_remove: remove.user_id,
        invite: invite.json()["invite"]["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap(),
        api_key: key.json()["api_key"]["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap(),
    }
}

/// (method, path, body, least role allowed); the workspace delete comes last.
fn routes(ws: Uuid, t: &Targets) -> Vec<(Method, String, Option<Value>, &'static str)> {
    let base = format!("/api/v1/workspaces/{ws}");
    vec![
        (Method::GET, base.clone(), None, "viewer"),
        (Method::GET, format!("{base}/members"), None, "viewer"),
        (
            Method::PATCH,
            format!("{base}/members/{}", t.member_to_change),
            Some(json!({"role": "viewer"})),
            "admin",
        ),
        (
            Method::DELETE,
            format!("{base}/members/{}", t.member_to_remove),
            None,
            "admin",
        ),
        (Method::GET, format!("{base}/invites"), None, "admin"),
        (
            Method::POST,
            format!("{base}/invites"),
            Some(json!({"email": "new@example.com", "role": "viewer"})),
            "admin",
        ),
        (
            Method::DELETE,
            format!("{base}/invites/{}", t.invite),
            None,
            "admin",
        ),
        (Method::GET, format!("{base}/api-keys"), None, "admin"),
        (
            Method::POST,
            format!("{base}/api-keys"),
            Some(json!({"name": "k", "role": "viewer"})),
            "admin",
        ),
        (
            Method::DELETE,
            format!("{base}/api-keys/{}", t.api_key),
            None,
            "admin",
        ),
        (
            Method::PATCH,
            base.clone(),
            Some(json!({"name": "Renamed"})),
            "owner",
        ),
        (Method::DELETE, base, None, "owner"),
    ]
}

#[tokio::test]
async fn every_role_gets_what_the_role_table_allows() {
    let server = TestServer::start().await;
    let owner = server.signup("owner").await;

    for role in ROLES {
        let workspace = server.workspace(&owner, &format!("{role} workspace")).await;
        let caller = if role == "owner" {
            server.member(&owner, workspace, "owner").await
        } else {
            server.member(&owner, workspace, role).await
        };
        let targets = targets(&server, &owner, workspace).await;

        for (method, path, body, least) in routes(workspace, &targets) {
            let reply = server
                .call(method.clone(), &path, Some(&caller.access), body)
                .await;
            if rank(role) >= rank(least) {
                assert!(
                    reply.status.is_success(),
                    "{role} {method} {path}: {} {}",
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
                assert_eq!(reply.json()["code"], "forbidden");
            }
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn other_workspace_ids_answer_not_found() {
    let server = TestServer::start().await;
    let alice = server.signup("alice").await;
    let bob = server.signup("bob").await;
    let alices = server.workspace(&alice, "Alice's").await;
    let bobs = server.workspace(&bob, "Bob's").await;
    let bob_targets = targets(&server, &bob, bobs).await;

    // Alice, an owner elsewhere, on every route of Bob's workspace.
    for (method, path, body, _) in routes(bobs, &bob_targets) {
        let reply = server
            .call(method.clone(), &path, Some(&alice.access), body)
            .await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            reply.text
        );
    }

    // Alice's own workspace with ids that belong to Bob's.
    for (method, path, body, _) in routes(alices, &bob_targets) {
        if !path.ends_with(&bob_targets.member_to_change.to_string())
            && !path.ends_with(&bob_targets.member_to_remove.to_string())
            && !path.ends_with(&bob_targets.invite.to_string())
            && !path.ends_with(&bob_targets.api_key.to_string())
        {
            continue;
        }
        let reply = server
            .call(method.clone(), &path, Some(&alice.access), body)
            .await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            reply.text
        );
    }

    // Bob's workspace is untouched.
    let members = server
        .get(&format!("/api/v1/workspaces/{bobs}/members"), &bob.access)
        .await;
    assert_eq!(members.json()["items"].as_array().unwrap().len(), 3);
    let keys = server
        .get(&format!("/api/v1/workspaces/{bobs}/api-keys"), &bob.access)
        .await;
    assert_eq!(keys.json()["items"].as_array().unwrap().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn api_key_of_one_workspace_cannot_reach_another() {
    let server = TestServer::start().await;
    let alice = server.signup("alice").await;
    let alices = server.workspace(&alice, "Alice's").await;
    let other = server.workspace(&alice, "Alice's other").await;
    let created = server
        .post(
            &format!("/api/v1/workspaces/{alices}/api-keys"),
            Some(&alice.access),
            json!({"name": "k", "role": "admin"}),
        )
        .await;
    let key = created.json()["key"].as_str().unwrap().to_string();

    let own = server
        .get(&format!("/api/v1/workspaces/{alices}/members"), &key)
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text);
    let foreign = server
        .get(&format!("/api/v1/workspaces/{other}/members"), &key)
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    server.stop().await;
}

#[tokio::test]
async fn unauthenticated_tenant_routes_answer_401() {
    let server = TestServer::start().await;
    let owner = server.signup("owner").await;
    let workspace = server.workspace(&owner, "w").await;
    let targets = targets(&server, &owner, workspace).await;

    for (method, path, body, _) in routes(workspace, &targets) {
        let reply = server.call(method.clone(), &path, None, body).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(reply.json()["code"], "unauthenticated");
    }
    server.stop().await;
}
