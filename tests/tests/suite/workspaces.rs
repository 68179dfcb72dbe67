//! Workspaces, members, invites and API keys behave as owners and admins expect.

use reqwest::{Method, StatusCode};
use serde_json::json;
use trellis_tests::TestServer;

#[tokio::test]
async fn creator_becomes_owner_and_lists_workspace() {
    let server = TestServer::start().await;
    let owner = server.signup("owner").await;

    let workspace = server.workspace(&owner, "Acme").await;
    let list = server.get("/api/v1/workspaces", &owner.access).await;

    let items = list.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], workspace.to_string());
    assert_eq!(items[0]["role"], "owner");
    server.stop().await;
}

#[tokio::test]
async fn last_owner_can_neither_leave_nor_be_demoted() {
    let server = TestServer::start().await;
    let owner = server.signup("owner").await;
    let workspace = server.workspace(&owner, "w").await;
    let member_path = format!("/api/v1/workspaces/{workspace}/members/{}", owner.user_id);

    let demote = server
        .call(
            Method::PATCH,
            &member_path,
            Some(&owner.access),
            Some(json!({"role": "admin"})),
        )
        .await;
    let leave = server
        .call(Method::DELETE, &member_path, Some(&owner.access), None)
        .await;

    assert_eq!(demote.status, StatusCode::CONFLICT);
    assert_eq!(demote.json()["code"], "last_owner");
    assert_eq!(leave.status, StatusCode::CONFLICT);

    // With a second owner the first may step down.
    let second = server.member(&owner, workspace, "owner").await;
    let demote = server
        .call(
            Method::PATCH,
            &member_path,
            Some(&second.access),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(demote.status, StatusCode::OK, "{}", demote.text);
    server.stop().await;
}

#[tokio::test]
async fn admin_cannot_grant_or_touch_ownership() {
    let server = TestServer::start().await;
    let owner = server.signup("owner").await;
    let workspace = server.workspace(&owner, "w").await;
    let admin = server.member(&owner, workspace, "admin").await;
    let editor = server.member(&owner, workspace, "editor").await;
    let base = format!("/api/v1/workspaces/{workspace}");

    let promote = server
        .call(
            Method::PATCH,
            &format!("{base}/members/{}", editor.user_id),
            Some(&admin.access),
            Some(json!({"role": "owner"})),
        )
        .await;
    let demote_owner = server
        .call(
            Method::PATCH,
            &format!("{base}/members/{}", owner.user_id),
            Some(&admin.access),
            Some(json!({"role": "viewer"})),
        )
        .await;
    let remove_owner = server
        .call(
            Method::DELETE,
            &format!("{base}/members/{}", owner.user_id),
            Some(&admin.access),
            None,
        )
        .await;
    let invite_owner = server
        .post(
            &format!("{base}/invites"),
            Some(&admin.access),
            json!({"email": "x@example.com", "role": "owner"}),
        )
        .await;
    let key_owner = server
        .post(
            &format!("{base}/api-keys"),
            Some(&admin.access),
            json!({"name": "k", "role": "owner"}),
        )
        .await;
    let make_admin = server
        .call(
            Method::PATCH,
            &format!("{base}/members/{}", editor.user_id),
            Some(&admin.access),
            Some(json!({"role": "admin"})),
        )
        .await;

    assert_eq!(promote.status, StatusCode::FORBIDDEN);
    assert_eq!(demote_owner.status, StatusCode::FORBIDDEN);
    assert_eq!(remove_owner.status, StatusCode::FORBIDDEN);
    assert_eq!(invite_owner.status, StatusCode::FORBIDDEN);
    assert_eq!(key_owner.status, StatusCode::FORBIDDEN);
    assert_eq!(make_admin.status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn member_may_leave_on_their_own() {
    let server = TestServer::start().await;
    let owner = server.signup("owner").await;
    let workspace = server.workspace(&owner, "w").await;
    let viewer = server.member(&owner, workspace, "viewer").await;

    let path = format!("/api/v1/workspaces/{workspace}/members/{}", viewer.user_id);
    let leave = server
        .call(Method::DELETE, &path, Some(&viewer.access), None)
        .await;
    let after = server
        .get(&format!("/api/v1/workspaces/{workspace}"), &viewer.access)
        .await;

    assert_eq!(leave.status, StatusCode::NO_CONTENT);
    assert_eq!(after.status, StatusCode::NOT_FOUND);
    server.stop().await;
}

#[tokio::test]
async fn invite_works_once_and_only_for_its_email() {
    let server = TestServer::start().await;
    let owner = server.signup("owner").await;
    let workspace = server.workspace(&owner, "w").await;
    let invitee = server.signup("invitee").await;
    let stranger = server.signup("stranger").await;

    let created = server
        .post(
            &format!("/api/v1/workspaces/{workspace}/invites"),
            Some(&owner.access),
            json!({"email": invitee.email.to_uppercase(), "role": "editor"}),
        )
        .await;
    let token = created.json()["token"].as_str().unwrap().to_string();
    let accept_path = format!("/api/v1/invites/{token}/accept");

    let wrong_person = server
        .post(&accept_path, Some(&stranger.access), json!({}))
        .await;
    let accepted = server
        .post(&accept_path, Some(&invitee.access), json!({}))
        .await;
    let again = server
        .post(&accept_path, Some(&invitee.access), json!({}))
        .await;

    assert_eq!(wrong_person.status, StatusCode::NOT_FOUND);
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text);
    assert_eq!(accepted.json()["role"], "editor");
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let me = server.get("/api/v1/me", &invitee.access).await;
    assert_eq!(me.json()["workspaces"][0]["role"], "editor");
    server.stop().await;
}

#[tokio::test]
async fn revoked_and_expired_invites_cannot_be_accepted() {
    let server = TestServer::start().await;
    let owner = server.signup("owner").await;
    let workspace = server.workspace(&owner, "w").await;
    let invitee = server.signup("invitee").await;
    let invites = format!("/api/v1/workspaces/{workspace}/invites");

    let revoked = server
        .post(
            &invites,
            Some(&owner.access),
            json!({"email": invitee.email, "role": "viewer"}),
        )
        .await;
    let revoked_id = revoked.json()["invite"]["id"].as_str().unwrap().to_string();
    let revoked_token = revoked.json()["token"].as_str().unwrap().to_string();
    let revoke = server
        .call(
            Method::DELETE,
            &format!("{invites}/{revoked_id}"),
            Some(&owner.access),
            None,
        )
        .await;
    assert_eq!(revoke.status, StatusCode::NO_CONTENT);
    let listed = server.get(&invites, &owner.access).await;
    assert_eq!(listed.json()["items"].as_array().unwrap().len(), 0);

    let expiring = server
        .post(
            &invites,
            Some(&owner.access),
            json!({"email": invitee.email, "role": "viewer"}),
        )
        .await;
    let expiring_token = expiring.json()["token"].as_str().unwrap().to_string();
    use sea_orm::ConnectionTrait;
    let db = trellis_tests::auth_db(&server).await;
    db.execute_unprepared("UPDATE invites SET expires_at = '2020-01-01T00:00:00Z'")
        .await
        .unwrap();

    for token in [revoked_token, expiring_token] {
        let reply = server
            .post(
                &format!("/api/v1/invites/{token}/accept"),
                Some(&invitee.access),
                json!({}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text);
    }
    server.stop().await;
}

#[tokio::test]
async fn api_key_is_shown_once_used_and_revocable() {
    let server = TestServer::start().await;
    let owner = server.signup("owner").await;
    let workspace = server.workspace(&owner, "w").await;
    let keys = format!("/api/v1/workspaces/{workspace}/api-keys");

    let created = server
        .post(
            &keys,
            Some(&owner.access),
            json!({"name": "deploy bot", "role": "editor"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let key = created.json()["key"].as_str().unwrap().to_string();
    let id = created.json()["api_key"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(key.starts_with("trk_"));

    let used = server
        .get(&format!("/api/v1/workspaces/{workspace}/members"), &key)
        .await;
    assert_eq!(used.status, StatusCode::OK);
    let listed = server.get(&keys, &owner.access).await;
    assert!(!listed.text.contains(&key), "the key is shown only once");
    assert!(listed.json()["items"][0]["last_used_at"].is_string());
    // An editor key may not do an admin's work.
    let forbidden = server.get(&keys, &key).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);

    let revoke = server
        .call(
            Method::DELETE,
            &format!("{keys}/{id}"),
            Some(&owner.access),
            None,
        )
        .await;
    assert_eq!(revoke.status, StatusCode::NO_CONTENT);
    let after = server
        .get(&format!("/api/v1/workspaces/{workspace}/members"), &key)
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    server.stop().await;
}

#[tokio::test]
async fn api_key_is_capped_by_its_creators_current_role() {
    let server = TestServer::start().await;
    let owner = server.signup("owner").await;
    let workspace = server.workspace(&owner, "w").await;
    let admin = server.member(&owner, workspace, "admin").await;
    let created = server
        .post(
            &format!("/api/v1/workspaces/{workspace}/api-keys"),
            Some(&admin.access),
            json!({"name": "k", "role": "admin"}),
        )
        .await;
    let key = created.json()["key"].as_str().unwrap().to_string();
    let invites = format!("/api/v1/workspaces/{workspace}/invites");
    assert_eq!(server.get(&invites, &key).await.status, StatusCode::OK);

    let member = format!("/api/v1/workspaces/{workspace}/members/{}", admin.user_id);
    server
        .call(
            Method::PATCH,
            &member,
            Some(&owner.access),
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(
        server.get(&invites, &key).await.status,
        StatusCode::FORBIDDEN
    );

    server
        .call(Method::DELETE, &member, Some(&owner.access), None)
        .await;
    assert_eq!(
        server.get(&invites, &key).await.status,
        StatusCode::UNAUTHORIZED
    );
    server.stop().await;
}

#[tokio::test]
async fn deleting_workspace_removes_its_keys_and_members() {
    let server = TestServer::start().await;
    let owner = server.signup("owner").await;
    let workspace = server.workspace(&owner, "w").await;
    let viewer = server.member(&owner, workspace, "viewer").await;
    let created = server
        .post(
            &format!("/api/v1/workspaces/{workspace}/api-keys"),
            Some(&owner.access),
            json!({"name": "k", "role": "viewer"}),
        )
        .await;
    let key = created.json()["key"].as_str().unwrap().to_string();

    let deleted = server
        .call(
            Method::DELETE,
            &format!("/api/v1/workspaces/{workspace}"),
            Some(&owner.access),
            None,
        )
        .await;

    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        server
            .get(&format!("/api/v1/workspaces/{workspace}"), &viewer.access)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server
            .get(&format!("/api/v1/workspaces/{workspace}"), &key)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    server.stop().await;
}
