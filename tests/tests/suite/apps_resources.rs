//! Resources: config validated against the connector's schema, secrets encrypted at rest,
//! never returned, kept when an update omits them, and re-encrypted on key rotation.

use reqwest::{Method, StatusCode};
use sea_orm::EntityTrait;
use serde_json::json;
use trellis_tests::apps::{id_of, service_account_json, Fixture, DB_PASSWORD, PEM_KEY};

/// Returns a distinctive piece of every secret of the fixtures.
fn secret_fragments() -> Vec<String> {
    vec![
        DB_PASSWORD.to_string(),
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj".to_string(),
        "5e1d0c9a7b3f4e2d8c6a1b0f9e8d7c6b5a4f3e2d".to_string(),
        "BEGIN PRIVATE KEY".to_string(),
    ]
}

fn assert_no_secret(text: &str, context: &str) {
    for fragment in secret_fragments() {
        assert!(
            !text.contains(&fragment),
            "{context} contains the secret fragment {fragment:?}"
        );
        let escaped = serde_json::to_string(&fragment).unwrap();
        assert!(
            !text.contains(escaped.trim_matches('"')),
            "{context} contains the escaped secret fragment {fragment:?}"
        );
    }
}

/// Reads every column of every apps table, as one string.
async fn dump_apps_database(fixture: &Fixture) -> String {
    use trellis_apps::storage::entities::{
        action, app, app_version, audit_event, release, resource,
    };

    let db = trellis_tests::apps_db(&fixture.server).await;
    let tables = [
        resource::Entity::find().into_json().all(&db).await.unwrap(),
        app::Entity::find().into_json().all(&db).await.unwrap(),
        app_version::Entity::find()
            .into_json()
            .all(&db)
            .await
            .unwrap(),
        action::Entity::find().into_json().all(&db).await.unwrap(),
        release::Entity::find().into_json().all(&db).await.unwrap(),
        audit_event::Entity::find()
            .into_json()
            .all(&db)
            .await
            .unwrap(),
    ];
    tables
        .iter()
        .flatten()
        .map(|row| row.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn config_is_validated_against_schema() {
    let fixture = Fixture::start().await;
    let cases = [
        (json!({"database": "p"}), "config.host"),
        (
            json!({"host": "h", "database": "p", "port": "5432"}),
            "config.port",
        ),
        (
            json!({"host": "h", "database": "p", "port": 70000}),
            "config.port",
        ),
        (
            json!({"host": "h", "database": "p", "tls": {"ca_pem": 5}}),
            "config.tls.ca_pem",
        ),
        (
            json!({"host": "h", "database": "p", "password": 12}),
            "config.password",
        ),
    ];

    for (config, field) in cases {
        let reply = fixture
            .send(
                Method::POST,
                "/resources",
                &fixture.owner.access,
                Some(json!({"name": "db", "plugin_id": "sql", "plugin_version": "1.0.0", "config": config})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
        assert_eq!(reply.json()["field"], field, "{}", reply.text);
    }
    fixture.server.stop().await;
}

#[tokio::test]
async fn unreachable_catalog_gets_503() {
    let fixture = Fixture::start().await;

    let reply = fixture
        .send(
            Method::POST,
            "/resources",
            &fixture.owner.access,
            Some(json!({"name": "db", "plugin_id": "offline", "plugin_version": "1.0.0", "config": {}})),
        )
        .await;

    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.text
    );
    assert!(
        !reply.text.contains("did not respond"),
        "the cause stays in the log"
    );
    fixture.server.stop().await;
}

#[tokio::test]
async fn unknown_connector_is_rejected() {
    let fixture = Fixture::start().await;

    let reply = fixture
        .send(
            Method::POST,
            "/resources",
            &fixture.owner.access,
            Some(
                json!({"name": "db", "plugin_id": "sql", "plugin_version": "9.9.9", "config": {}}),
            ),
        )
        .await;

    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["field"], "plugin_id");
    fixture.server.stop().await;
}

#[tokio::test]
async fn responses_name_secrets_but_never_show_them() {
    let fixture = Fixture::start().await;
    let resource = fixture.sql_resource().await;
    let sheets = fixture
        .send(
            Method::POST,
            "/resources",
            &fixture.owner.access,
            Some(json!({"name": "Sheet", "plugin_id": "sheets", "plugin_version": "1.0.0",
                "config": {"service_account_json": service_account_json(), "spreadsheet_id": "abc"}})),
        )
        .await;
    assert_eq!(sheets.status, StatusCode::CREATED, "{}", sheets.text);
    assert_no_secret(&sheets.text, "the sheets create response");
    assert_eq!(
        sheets.json()["secrets_set"],
        json!(["service_account_json"])
    );

    let get = fixture
        .send(
            Method::GET,
            &format!("/resources/{resource}"),
            &fixture.owner.access,
            None,
        )
        .await;
    assert_eq!(get.status, StatusCode::OK);
    assert_eq!(
        get.json()["secrets_set"],
        json!(["password", "tls.client_key_pem"])
    );
    assert_eq!(get.json()["config"]["tls"]["ca_pem"], "public-ca");
    assert!(get.json()["config"].get("password").is_none());

    let editor = fixture
        .server
        .member(&fixture.owner, fixture.workspace, "editor")
        .await;
    let admin = fixture
        .server
        .member(&fixture.owner, fixture.workspace, "admin")
        .await;
    let viewer = fixture
        .server
        .member(&fixture.owner, fixture.workspace, "viewer")
        .await;
    let app = fixture.app("Penguins").await;
    fixture.action(app, resource, "by_species").await;
    fixture.release(app).await;
    for session in [&fixture.owner, &admin, &editor, &viewer] {
        for rest in [
            "/resources".to_string(),
            format!("/resources/{resource}"),
            format!("/apps/{app}"),
            format!("/apps/{app}/actions"),
            format!("/apps/{app}/releases"),
            format!("/apps/{app}/releases/latest"),
            "/audit".to_string(),
        ] {
            let reply = fixture
                .send(Method::GET, &rest, &session.access, None)
                .await;
            assert_no_secret(&reply.text, &format!("GET {rest}"));
        }
    }
    let test = fixture
        .send(
            Method::POST,
            &format!("/resources/{resource}/test"),
            &fixture.owner.access,
            None,
        )
        .await;
    assert_no_secret(&test.text, "the connection test response");
    fixture.server.stop().await;
}

#[tokio::test]
async fn database_holds_only_ciphertext() {
    let fixture = Fixture::start().await;
    fixture.sql_resource().await;
    fixture
        .send(
            Method::POST,
            "/resources",
            &fixture.owner.access,
            Some(
                json!({"name": "Sheet", "plugin_id": "sheets", "plugin_version": "1.0.0",
                "config": {"service_account_json": service_account_json()}}),
            ),
        )
        .await;

    let dump = dump_apps_database(&fixture).await;

    assert!(dump.contains("db.internal"), "the dump reads the rows");
    assert_no_secret(&dump, "the apps database");
    fixture.server.stop().await;
}

#[tokio::test]
async fn update_keeps_omitted_secrets_and_null_clears_them() {
    let fixture = Fixture::start().await;
    let resource = fixture.sql_resource().await;
    let path = format!("/resources/{resource}");

    let renamed = fixture
        .send(
            Method::PATCH,
            &path,
            &fixture.owner.access,
            Some(json!({"name": "Warehouse (replica)",
                "config": {"host": "replica.internal", "database": "penguins", "tls": {"ca_pem": "ca2"}}})),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    assert_eq!(
        renamed.json()["secrets_set"],
        json!(["password", "tls.client_key_pem"])
    );
    fixture
        .send(
            Method::POST,
            &format!("{path}/test"),
            &fixture.owner.access,
            None,
        )
        .await;
    let tested = fixture.catalog.last_tested.lock().unwrap().clone().unwrap();
    assert_eq!(tested["password"], DB_PASSWORD);
    assert_eq!(tested["tls"]["client_key_pem"], PEM_KEY);
    assert_eq!(tested["host"], "replica.internal");

    let cleared = fixture
        .send(
            Method::PATCH,
            &path,
            &fixture.owner.access,
            Some(json!({"config": {"host": "replica.internal", "database": "penguins", "password": null}})),
        )
        .await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.text);
    assert_eq!(cleared.json()["secrets_set"], json!(["tls.client_key_pem"]));

    let replaced = fixture
        .send(
            Method::PATCH,
            &path,
            &fixture.owner.access,
            Some(json!({"config": {"host": "h", "database": "p", "password": "new-password-1"}})),
        )
        .await;
    assert_no_secret(&replaced.text, "the update response");
    assert!(!replaced.text.contains("new-password-1"));
    fixture.server.stop().await;
}

#[tokio::test]
async fn connection_test_gets_decrypted_config() {
    let fixture = Fixture::start().await;
    let resource = fixture.sql_resource().await;

    let reply = fixture
        .send(
            Method::POST,
            &format!("/resources/{resource}/test"),
            &fixture.owner.access,
            None,
        )
        .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["ok"], true);
    let tested = fixture.catalog.last_tested.lock().unwrap().clone().unwrap();
    assert_eq!(tested["password"], DB_PASSWORD);
    fixture.server.stop().await;
}

#[tokio::test]
async fn resource_used_by_action_cannot_be_deleted() {
    let fixture = Fixture::start().await;
    let resource = fixture.sql_resource().await;
    let app = fixture.app("Penguins").await;
    let action = fixture.action(app, resource, "by_species").await;

    let refused = fixture
        .send(
            Method::DELETE,
            &format!("/resources/{resource}"),
            &fixture.owner.access,
            None,
        )
        .await;
    fixture
        .send(
            Method::DELETE,
            &format!("/apps/{app}/actions/{action}"),
            &fixture.owner.access,
            None,
        )
        .await;
    let deleted = fixture
        .send(
            Method::DELETE,
            &format!("/resources/{resource}"),
            &fixture.owner.access,
            None,
        )
        .await;

    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    fixture.server.stop().await;
}

#[tokio::test]
async fn key_rotation_reencrypts_every_secret() {
    let fixture = Fixture::start().await;
    let first = fixture.sql_resource().await;
    let second = fixture.sql_resource().await;
    let before = trellis::keys::encryption_keys(&fixture.server.settings).unwrap();
    let old_key = before.current_id().to_string();

    let new_key = trellis::keys::rotate_encryption_key(&fixture.server.settings).unwrap();
    let state = fixture.apps_state().await;
    let report = trellis_apps::rotation::reencrypt_all(&state.db, &state.keys(), 1)
        .await
        .unwrap();

    assert_ne!(new_key, old_key);
    assert_eq!(report.reencrypted, 2);
    assert_eq!(report.remaining, 0);
    assert!(report.failed.is_empty());
    let dump = dump_apps_database(&fixture).await;
    assert!(!dump.contains(&old_key), "no row names the old key");
    assert!(dump.contains(&new_key));
    // The old key alone no longer opens anything; the new ring opens everything.
    for resource in [first, second] {
        let row = trellis_apps::storage::resources::find(&state.db, fixture.workspace, resource)
            .await
            .unwrap()
            .unwrap();
        assert!(trellis_apps::secrets::open(&before, &row).is_err());
        let opened = trellis_apps::secrets::open(&state.keys(), &row).unwrap();
        assert_eq!(opened["password"], DB_PASSWORD);
    }
    fixture.server.stop().await;
}

#[tokio::test]
async fn running_server_loads_rotated_key() {
    let fixture = Fixture::start().await;
    let resource = fixture.sql_resource().await;

    trellis::keys::rotate_encryption_key(&fixture.server.settings).unwrap();
    let state = fixture.apps_state().await;
    trellis_apps::rotation::reencrypt_all(&state.db, &state.keys(), 100)
        .await
        .unwrap();
    // The server checks the key files every ten seconds.
    tokio::time::sleep(std::time::Duration::from_secs(
        trellis::server::ENCRYPTION_KEY_RELOAD_SECONDS + 2,
    ))
    .await;
    let tested = fixture
        .send(
            Method::POST,
            &format!("/resources/{resource}/test"),
            &fixture.owner.access,
            None,
        )
        .await;
    let created = fixture
        .send(
            Method::POST,
            "/resources",
            &fixture.owner.access,
            Some(
                json!({"name": "Sheet", "plugin_id": "sheets", "plugin_version": "1.0.0",
                "config": {"service_account_json": service_account_json()}}),
            ),
        )
        .await;

    assert_eq!(tested.status, StatusCode::OK, "{}", tested.text);
    assert_eq!(tested.json()["ok"], true);
    assert_eq!(created.status, StatusCode::CREATED);
    let row = trellis_apps::storage::resources::find(&state.db, fixture.workspace, id_of(&created))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.key_id.as_deref(), Some(state.keys().current_id()));
    fixture.server.stop().await;
}
