//! Forged, expired and misaddressed access tokens are refused; rotated keys keep verifying.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::json;
use trellis_tests::TestServer;
use trellis_tokens::{Claims, KeyRing};
use uuid::Uuid;

fn claims(server: &TestServer, user_id: Uuid) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        iss: server.settings.token_issuer.clone(),
        aud: server.settings.token_audience.clone(),
        sub: user_id,
        exp: now + 600,
        nbf: now,
        iat: now,
        jti: Uuid::new_v4(),
    }
}

fn ring(server: &TestServer) -> KeyRing {
    KeyRing::load(&server.settings.signing_keys_path()).unwrap()
}

async fn assert_refused(server: &TestServer, token: &str, case: &str) {
    let reply = server.get("/api/v1/me", token).await;
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "{case}: {}",
        reply.text
    );
    assert_eq!(reply.json()["code"], "unauthenticated", "{case}");
}

#[tokio::test]
async fn forged_and_misaddressed_tokens_answer_401() {
    let server = TestServer::start().await;
    let session = server.signup("target").await;
    let ring = ring(&server);

    // The genuine token works, so each refusal below is about the one thing changed.
    let genuine = ring.sign(&claims(&server, session.user_id)).unwrap();
    assert_eq!(
        server.get("/api/v1/me", &genuine).await.status,
        StatusCode::OK
    );

    let mut tampered = genuine.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    assert_refused(&server, &tampered, "tampered signature").await;

    let (_, rest) = genuine.split_once('.').unwrap();
    let payload = rest.split_once('.').unwrap().0;
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    assert_refused(&server, &format!("{none_header}.{payload}."), "alg none").await;

    let public_key = ring.current().public_key().unwrap();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(ring.current().kid.clone());
    let hs256 = jsonwebtoken::encode(
        &header,
        &claims(&server, session.user_id),
        &EncodingKey::from_secret(&public_key),
    )
    .unwrap();
    assert_refused(&server, &hs256, "HS256 with the public key").await;
    let jwk_x = ring.current().jwk().unwrap().x;
    let hs256_x = jsonwebtoken::encode(
        &header,
        &claims(&server, session.user_id),
        &EncodingKey::from_secret(jwk_x.as_bytes()),
    )
    .unwrap();
    assert_refused(&server, &hs256_x, "HS256 with the JWK text").await;

    let mut expired = claims(&server, session.user_id);
    expired.exp = chrono::Utc::now().timestamp() - 120;
    expired.nbf = expired.exp - 900;
    assert_refused(&server, &ring.sign(&expired).unwrap(), "expired").await;

    let mut early = claims(&server, session.user_id);
    early.nbf = chrono::Utc::now().timestamp() + 600;
    assert_refused(&server, &ring.sign(&early).unwrap(), "not yet valid").await;

    let mut audience = claims(&server, session.user_id);
    audience.aud = "another-api".into();
    assert_refused(&server, &ring.sign(&audience).unwrap(), "wrong aud").await;

    let mut issuer = claims(&server, session.user_id);
    issuer.iss = "someone-else".into();
    assert_refused(&server, &ring.sign(&issuer).unwrap(), "wrong iss").await;

    let stranger = KeyRing::generate().unwrap();
    assert_refused(
        &server,
        &stranger.sign(&claims(&server, session.user_id)).unwrap(),
        "unknown kid",
    )
    .await;

    assert_refused(&server, "not-a-token", "garbage").await;
    server.stop().await;
}

#[tokio::test]
async fn jwks_lists_the_signing_key() {
    let server = TestServer::start().await;

    let reply = server
        .client
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    let jwks: serde_json::Value = reply.json().await.unwrap();

    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["kid"].as_str().unwrap(), ring(&server).current().kid);
    assert!(
        key.get("d").is_none(),
        "the private part must never be published"
    );
    server.stop().await;
}

#[tokio::test]
async fn rotated_key_signs_and_old_tokens_still_verify() {
    let server = TestServer::start().await;
    let session = server.signup("rotation").await;
    let old_kid = ring(&server).current().kid.clone();

    let new_kid = trellis::keys::rotate_signing_keys(&server.settings).unwrap();
    let server = server.restart_with(|_| {}).await;

    // The token signed before the rotation still verifies.
    assert_eq!(
        server.get("/api/v1/me", &session.access).await.status,
        StatusCode::OK
    );
    let login = server
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": session.email, "password": trellis_tests::PASSWORD}),
        )
        .await;
    let token = login.json()["access_token"].as_str().unwrap().to_string();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.kid.as_deref(), Some(new_kid.as_str()));
    assert_ne!(new_kid, old_kid);
    let jwks = server
        .client
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    let jwks: serde_json::Value = jwks.json().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn access_token_claims_are_complete() {
    let server = TestServer::start().await;
    let session = server.signup("claims").await;

    let header = jsonwebtoken::decode_header(&session.access).unwrap();
    let payload = session.access.split('.').nth(1).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();

    assert_eq!(header.alg, Algorithm::EdDSA);
    assert!(header.kid.is_some());
    for claim in ["iss", "aud", "sub", "exp", "nbf", "iat", "jti"] {
        assert!(claims.get(claim).is_some(), "missing {claim}");
    }
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    server.stop().await;
}
