//! Action runs on the built-in echo connector: templating, parameter checks, the transformer,
//! the result cache, quotas, run records and usage.

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};
use trellis_tests::exec_db;
use trellis_tests::runs::{RunFixture, ECHO_TOKEN};

#[tokio::test]
async fn run_renders_templates_with_json_types() {
    let fixture = RunFixture::start().await;
    let app = fixture.app("Penguins").await;
    let action = fixture
        .action(
            app,
            json!({"input": {
                "species": "{{ species }}",
                "twice": "{{ species }}/{{ species }}",
                "code": "{{ code }}",
                "bay": "{{ bay }}",
                "ids": "{{ ids }}",
                "mass": "{{ mass }}",
                "nothing": "{{ nothing }}",
                "around_null": "[{{ nothing }}]",
                "emoji": "{{ emoji }}",
                "fixed": {"nested": ["{{ code }}", 7]}
            }}),
        )
        .await;
    fixture.release(app).await;

    let params = json!({
        "species": "Adélie",
        "code": "0001",
        "bay": "2104D",
        "ids": [1, 2, 3],
        "mass": 3750.5,
        "nothing": null,
        "emoji": "🐧 南極 ∑"
    });
    let reply = fixture
        .run(&fixture.owner.access, app, action, params)
        .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let body = reply.json();
    let data = &body["data"];
    assert_eq!(data["species"], json!("Adélie"));
    assert_eq!(data["twice"], json!("Adélie/Adélie"));
    assert_eq!(data["code"], json!("0001"));
    assert_eq!(data["bay"], json!("2104D"));
    assert_eq!(data["ids"], json!([1, 2, 3]));
    assert_eq!(data["mass"], json!(3750.5));
    assert_eq!(data["nothing"], Value::Null);
    assert_eq!(data["around_null"], json!("[]"));
    assert_eq!(data["emoji"], json!("🐧 南極 ∑"));
    assert_eq!(data["fixed"], json!({"nested": ["0001", 7]}));
    assert!(body["meta"]["run_id"].is_string());
    assert_eq!(body["meta"]["cached"], json!(false));
    assert_eq!(body["meta"]["truncated"], json!(false));
}

#[tokio::test]
async fn missing_parameter_is_named() {
    let fixture = RunFixture::start().await;
    let app = fixture.app("Penguins").await;
    let action = fixture
        .action(app, json!({"input": {"where": "island = {{ island }}"}}))
        .await;
    fixture.release(app).await;

    let reply = fixture
        .run(&fixture.owner.access, app, action, json!({}))
        .await;

    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert_eq!(reply.json()["field"], json!("input.where"));
    assert!(reply.text.contains("`island`"), "{}", reply.text);
}

#[tokio::test]
async fn params_schema_names_invalid_field() {
    let fixture = RunFixture::start().await;
    let app = fixture.app("Penguins").await;
    let schema = json!({
        "type": "object",
        "required": ["species"],
        "properties": {"species": {"type": "string"}, "mass": {"type": "integer"}}
    });
    let action = fixture
        .action(
            app,
            json!({"input": {"s": "{{ species }}"}, "params_schema": schema}),
        )
        .await;
    fixture.release(app).await;
    let token = &fixture.owner.access;

    let missing = fixture.run(token, app, action, json!({})).await;
    let wrong_type = fixture
        .run(
            token,
            app,
            action,
            json!({"species": "Gentoo", "mass": "heavy"}),
        )
        .await;
    let not_object = fixture.run(token, app, action, json!([1])).await;

    assert_eq!(missing.status, StatusCode::BAD_REQUEST, "{}", missing.text);
    assert_eq!(missing.json()["field"], json!("params.species"));
    assert_eq!(wrong_type.status, StatusCode::BAD_REQUEST);
    assert_eq!(wrong_type.json()["field"], json!("params.mass"));
    assert_eq!(not_object.status, StatusCode::BAD_REQUEST);
    assert_eq!(not_object.json()["field"], json!("params"));
}

#[tokio::test]
async fn injection_attempts_stay_data() {
    let fixture = RunFixture::start().await;
    let app = fixture.app("Penguins").await;
    let action = fixture
        .action(
            app,
            json!({"input": {"v": "{{ v }}", "text": "name: {{ v }}"}}),
        )
        .await;
    let reads_config = fixture
        .action(app, json!({"input": {"v": "{{ token }}"}}))
        .await;
    fixture.release(app).await;
    let token = &fixture.owner.access;

    let attempts = [
        "{{ token }}",
        "{% include 'secrets' %}",
        "'; DROP TABLE penguins; --",
        "{{ range(10000000) | list }}",
    ];
    for attempt in attempts {
        let reply = fixture.run(token, app, action, json!({"v": attempt})).await;
        assert_eq!(reply.status, StatusCode::OK, "{attempt}: {}", reply.text);
        assert_eq!(reply.json()["data"]["v"], json!(attempt));
        assert_eq!(
            reply.json()["data"]["text"],
            json!(format!("name: {attempt}"))
        );
    }
    let config = fixture.run(token, app, reads_config, json!({})).await;

    assert_eq!(config.status, StatusCode::BAD_REQUEST, "{}", config.text);
    assert!(!config.text.contains(ECHO_TOKEN));
}

#[tokio::test]
async fn transformer_shapes_data() {
    let fixture = RunFixture::start().await;
    let app = fixture.app("Penguins").await;
    let action = fixture
        .action(
            app,
            json!({
                "input": {"rows": "{{ rows }}"},
                "transformer": ".rows | group_by(.species) | map({species: .[0].species, mass: (map(.mass) | add)})"
            }),
        )
        .await;
    let failing = fixture
        .action(app, json!({"input": {"n": 1}, "transformer": ".n | keys"}))
        .await;
    fixture.release(app).await;
    let rows = json!([
        {"species": "Gentoo", "mass": 5000},
        {"species": "Adelie", "mass": 3700},
        {"species": "Gentoo", "mass": 5200}
    ]);

    let reply = fixture
        .run(&fixture.owner.access, app, action, json!({"rows": rows}))
        .await;
    let failed = fixture
        .run(&fixture.owner.access, app, failing, json!({}))
        .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        reply.json()["data"],
        json!([{"species": "Adelie", "mass": 3700}, {"species": "Gentoo", "mass": 10200}])
    );
    assert_eq!(
        failed.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        failed.text
    );
    assert_eq!(failed.json()["code"], json!("transformer_failed"));
}

#[tokio::test]
async fn cache_returns_identical_run() {
    let fixture = RunFixture::start().await;
    let app = fixture.app("Penguins").await;
    let action = fixture
        .action(
            app,
            json!({"input": {"s": "{{ s }}"}, "cache_ttl_seconds": 60}),
        )
        .await;
    let uncached = fixture
        .action(app, json!({"input": {"s": "{{ s }}"}}))
        .await;
    fixture.release(app).await;
    let token = &fixture.owner.access;

    let first = fixture.run(token, app, action, json!({"s": "a"})).await;
    let second = fixture.run(token, app, action, json!({"s": "a"})).await;
    let other = fixture.run(token, app, action, json!({"s": "b"})).await;
    let plain = fixture.run(token, app, uncached, json!({"s": "a"})).await;
    let plain_again = fixture.run(token, app, uncached, json!({"s": "a"})).await;

    assert_eq!(first.json()["meta"]["cached"], json!(false));
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    assert_eq!(second.json()["meta"]["cached"], json!(true));
    assert_eq!(second.json()["data"], json!({"s": "a"}));
    assert_ne!(
        second.json()["meta"]["run_id"],
        first.json()["meta"]["run_id"]
    );
    assert_eq!(other.json()["meta"]["cached"], json!(false));
    assert_eq!(other.json()["data"], json!({"s": "b"}));
    assert_eq!(plain.json()["meta"]["cached"], json!(false));
    assert_eq!(plain_again.json()["meta"]["cached"], json!(false));
}

#[tokio::test]
async fn cache_is_shared_through_redis() {
    let fixture = RunFixture::start_with(|settings| {
        settings.redis_url = Some(trellis_config::Secret::new(trellis_tests::redis_url()));
    })
    .await;
    let app = fixture.app("Penguins").await;
    let action = fixture
        .action(
            app,
            json!({"input": {"s": "{{ s }}"}, "cache_ttl_seconds": 60}),
        )
        .await;
    fixture.release(app).await;
    let token = &fixture.owner.access;

    let first = fixture.run(token, app, action, json!({"s": "a"})).await;
    let second = fixture.run(token, app, action, json!({"s": "a"})).await;

    assert_eq!(
        first.json()["meta"]["cached"],
        json!(false),
        "{}",
        first.text
    );
    assert_eq!(
        second.json()["meta"]["cached"],
        json!(true),
        "{}",
        second.text
    );
}

#[tokio::test]
async fn runs_quota_answers_429() {
    let fixture = RunFixture::start_with(|settings| settings.quota_runs_per_minute = 2).await;
    let app = fixture.app("Penguins").await;
    let action = fixture.action(app, json!({})).await;
    fixture.release(app).await;
    let token = &fixture.owner.access;

    let first = fixture.run(token, app, action, json!({})).await;
    let second = fixture.run(token, app, action, json!({})).await;
    let third = fixture.run(token, app, action, json!({})).await;

    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(
        third.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        third.text
    );
    assert_eq!(third.json()["code"], json!("quota_exceeded"));
    assert!(third.text.contains("runs_per_minute"), "{}", third.text);
    assert!(third.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn tokens_quota_answers_429() {
    let fixture = RunFixture::start_with(|settings| settings.quota_llm_tokens_per_day = 100).await;
    let app = fixture.app("Summaries").await;
    // The echo connector returns the input, so the input plays an LLM reporting its usage.
    let action = fixture
        .action(
            app,
            json!({"input": {"model": "m-1", "usage": {"prompt_tokens": "{{ n }}", "completion_tokens": 10}}}),
        )
        .await;
    fixture.release(app).await;
    let token = &fixture.owner.access;

    let first = fixture.run(token, app, action, json!({"n": 95})).await;
    let second = fixture.run(token, app, action, json!({"n": 1})).await;
    let usage = fixture.server.get(&fixture.path("/usage"), token).await;

    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(
        first.json()["meta"]["usage"],
        json!({"input_tokens": 95, "output_tokens": 10, "model": "m-1"})
    );
    assert_eq!(
        second.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        second.text
    );
    assert!(
        second.text.contains("llm_tokens_per_day"),
        "{}",
        second.text
    );
    assert_eq!(usage.status, StatusCode::OK, "{}", usage.text);
    let items = usage.json()["items"].as_array().cloned().unwrap();
    assert_eq!(items.len(), 1, "{}", usage.text);
    assert_eq!(items[0]["input_tokens"], json!(95));
    assert_eq!(items[0]["output_tokens"], json!(10));
}

#[tokio::test]
async fn concurrent_runs_each_recorded() {
    let fixture = RunFixture::start().await;
    let app = fixture.app("Penguins").await;
    let action = fixture
        .action(app, json!({"input": {"s": "{{ s }}"}}))
        .await;
    fixture.release(app).await;
    let token = &fixture.owner.access;

    let runs =
        (0..40).map(|index| fixture.run(token, app, action, json!({"s": index.to_string()})));
    let replies = futures_util::future::join_all(runs).await;
    let listed = fixture
        .server
        .get(&fixture.path("/runs?limit=100"), token)
        .await;

    let mut returned = Vec::new();
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        returned.push(reply.json()["meta"]["run_id"].as_str().unwrap().to_string());
    }
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let mut recorded: Vec<String> = listed.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_string())
        .collect();
    returned.sort();
    recorded.sort();
    assert_eq!(recorded, returned);
}

#[tokio::test]
async fn runs_are_recorded_and_summed() {
    let fixture = RunFixture::start().await;
    let app = fixture.app("Penguins").await;
    let action = fixture
        .action(app, json!({"input": {"s": "{{ s }}"}}))
        .await;
    fixture.release(app).await;
    let token = &fixture.owner.access;

    let ok = fixture.run(token, app, action, json!({"s": "x"})).await;
    let failed = fixture.run(token, app, action, json!({})).await;
    let all = fixture.server.get(&fixture.path("/runs"), token).await;
    let errors = fixture
        .server
        .get(&fixture.path("/runs?outcome=error"), token)
        .await;
    let other_app = fixture
        .server
        .get(
            &fixture.path(&format!("/runs?app_id={}", uuid::Uuid::new_v4())),
            token,
        )
        .await;
    let bad_filter = fixture
        .server
        .get(&fixture.path("/runs?outcome=maybe"), token)
        .await;
    let usage = fixture.server.get(&fixture.path("/usage"), token).await;

    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(failed.status, StatusCode::BAD_REQUEST);
    assert_eq!(all.status, StatusCode::OK, "{}", all.text);
    let items = all.json()["items"].as_array().cloned().unwrap();
    assert_eq!(items.len(), 2, "{}", all.text);
    assert_eq!(items[0]["outcome"], json!("error"));
    assert_eq!(items[0]["error_code"], json!("validation_failed"));
    assert_eq!(items[1]["outcome"], json!("ok"));
    assert_eq!(items[1]["id"], ok.json()["meta"]["run_id"]);
    assert_eq!(items[1]["release"], json!(1));
    assert_eq!(items[1]["caller"], json!("user"));
    assert_eq!(items[1]["user_id"], json!(fixture.owner.user_id));
    assert_eq!(errors.json()["items"].as_array().unwrap().len(), 1);
    assert_eq!(other_app.json()["items"], json!([]));
    assert_eq!(bad_filter.status, StatusCode::BAD_REQUEST);
    assert_eq!(usage.status, StatusCode::OK, "{}", usage.text);
    let usage = usage.json();
    assert_eq!(usage["items"][0]["runs"], json!(2), "{usage}");
    assert_eq!(usage["items"][0]["errors"], json!(1));
    assert_eq!(usage["items"][0]["app_id"], json!(app));
    assert_eq!(usage["items"][0]["resource_id"], json!(fixture.resource));
}

#[tokio::test]
async fn secret_never_appears_in_runs() {
    let fixture = RunFixture::start().await;
    let app = fixture.app("Penguins").await;
    let action = fixture
        .action(
            app,
            json!({"input": {"s": "{{ s }}"}, "cache_ttl_seconds": 60}),
        )
        .await;
    fixture.release(app).await;
    let token = &fixture.owner.access;

    let replies = [
        fixture.run(token, app, action, json!({"s": "x"})).await,
        fixture.run(token, app, action, json!({"s": "x"})).await,
        fixture.run(token, app, action, json!({})).await,
        fixture
            .run_draft(token, app, action, json!({"s": "y"}))
            .await,
        fixture.server.get(&fixture.path("/runs"), token).await,
        fixture.server.get(&fixture.path("/usage"), token).await,
    ];
    let db = exec_db(&fixture.server).await;
    let rows = db
        .query_all(Statement::from_string(
            db.get_database_backend(),
            "SELECT * FROM exec_runs",
        ))
        .await
        .unwrap();

    for reply in &replies {
        assert!(!reply.text.contains(ECHO_TOKEN), "{}", reply.text);
    }
    assert_eq!(rows.len(), 4);
    for row in rows {
        let text = format!("{row:?}");
        assert!(!text.contains(ECHO_TOKEN), "{text}");
    }
}
