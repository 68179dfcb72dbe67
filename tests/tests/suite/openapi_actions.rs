//! Actions on the built-in OpenAPI connector, whose operations come from each resource's
//! specification: the resource's operation list, actions that name an operationId, and runs.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use trellis_tests::apps::id_of;
use trellis_tests::runs::RunFixture;
use uuid::Uuid;

/// Version of the built-in OpenAPI connector.
const OPENAPI_VERSION: &str = "0.1.0";

fn petstore() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../services/exec/tests/data/openapi/petstore3.openapi.yaml");
    std::fs::read_to_string(path).unwrap()
}

/// Creates an OpenAPI resource; returns its id.
async fn resource(fixture: &RunFixture, config: Value) -> Uuid {
    let reply = fixture
        .server
        .call(
            Method::POST,
            &fixture.path("/resources"),
            Some(&fixture.owner.access),
            Some(
                json!({"name": format!("API {}", Uuid::new_v4().simple()), "plugin_id": "openapi",
                        "plugin_version": OPENAPI_VERSION, "config": config}),
            ),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    id_of(&reply)
}

async fn add_action(
    fixture: &RunFixture,
    app: Uuid,
    resource: Uuid,
    operation: &str,
    input: Value,
) -> trellis_tests::Reply {
    fixture
        .server
        .post(
            &fixture.path(&format!("/apps/{app}/actions")),
            Some(&fixture.owner.access),
            json!({"name": format!("Op {}", &Uuid::new_v4().simple().to_string()[..8]),
                   "resource_id": resource, "operation": operation, "input": input}),
        )
        .await
}

#[tokio::test]
async fn actions_name_operations_of_the_resource_specification() {
    let fixture = RunFixture::start().await;
    // Port 9 on loopback: the connector may not reach it, so a run ends at the host's policy,
    // after the operation was accepted.
    let api = resource(
        &fixture,
        json!({"spec": petstore(), "server_url": "http://127.0.0.1:9", "credentials": {"api_key": "k"}}),
    )
    .await;
    let app = fixture.app("Pets").await;

    let operations = fixture
        .server
        .get(
            &fixture.path(&format!("/resources/{api}/operations")),
            &fixture.owner.access,
        )
        .await;
    let by_id = add_action(
        &fixture,
        app,
        api,
        "getPetById",
        json!({"path": {"petId": "{{ id }}"}}),
    )
    .await;
    let by_call = add_action(
        &fixture,
        app,
        api,
        "call",
        json!({"operation": "findPetsByStatus"}),
    )
    .await;
    let unknown = add_action(&fixture, app, api, "getPetByName", json!({})).await;

    assert_eq!(operations.status, StatusCode::OK, "{}", operations.text);
    let listed = operations.json()["operations"].as_array().unwrap().clone();
    let names: Vec<&str> = listed.iter().map(|o| o["name"].as_str().unwrap()).collect();
    assert_eq!(&names[..2], ["call", "operations"]);
    assert_eq!(names.len(), 2 + 19, "{names:?}");
    let get = listed.iter().find(|o| o["name"] == "getPetById").unwrap();
    assert_eq!(get["from_config"], json!(true));
    assert_eq!(get["read_only"], json!(true));
    assert_eq!(
        get["input_schema"]["properties"]["path"]["required"],
        json!(["petId"])
    );

    assert_eq!(by_id.status, StatusCode::CREATED, "{}", by_id.text);
    assert_eq!(by_call.status, StatusCode::CREATED, "{}", by_call.text);
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.text);
    assert_eq!(unknown.json()["field"], json!("operation"));
    let detail = unknown.json()["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        detail.contains("getPetByName") && detail.contains("getPetById"),
        "{detail}"
    );

    // The run reaches the connector with the operationId as its operation: the request is
    // built (the template filled the path) and then refused by the host's network policy.
    let run = fixture
        .run_draft(&fixture.owner.access, app, id_of(&by_id), json!({"id": 7}))
        .await;
    assert_eq!(run.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", run.text);
    assert_eq!(
        run.json()["code"],
        json!("connector_denied"),
        "{}",
        run.text
    );
    let missing = add_action(&fixture, app, api, "getPetById", json!({})).await;
    let run = fixture
        .run_draft(&fixture.owner.access, app, id_of(&missing), json!({}))
        .await;
    assert_eq!(
        run.json()["code"],
        json!("connector_invalid_input"),
        "{}",
        run.text
    );
    assert!(run.text.contains("petId"), "{}", run.text);
}

#[tokio::test]
async fn unparseable_specification_fails_action_validation_with_its_line() {
    let fixture = RunFixture::start().await;
    let broken = resource(
        &fixture,
        json!({"spec": "openapi: 3.0.0\npaths:\n\t/pets: {}\n", "server_url": "http://127.0.0.1:9"}),
    )
    .await;
    let app = fixture.app("Broken").await;

    let action = add_action(&fixture, app, broken, "listPets", json!({})).await;
    let operations = fixture
        .server
        .get(
            &fixture.path(&format!("/resources/{broken}/operations")),
            &fixture.owner.access,
        )
        .await;

    assert_eq!(action.status, StatusCode::BAD_REQUEST, "{}", action.text);
    assert!(action.text.contains("line 3"), "{}", action.text);
    assert_eq!(
        operations.status,
        StatusCode::BAD_REQUEST,
        "{}",
        operations.text
    );
    assert!(operations.text.contains("line 3"), "{}", operations.text);
}
