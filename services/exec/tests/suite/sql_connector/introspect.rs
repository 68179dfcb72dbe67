//! The `introspect` operation against real catalogs.

use serde_json::{json, Value};

use super::{
    admin, mariadb_admin, mariadb_config, postgres_admin, postgres_config, sqlite_config, unique,
    Harness,
};

/// Returns the table named `name` in the schema named `schema` of an introspect output.
fn table<'a>(output: &'a Value, schema: &str, name: &str) -> &'a Value {
    let schemas = output["schemas"].as_array().expect("schemas is a list");
    let schema = schemas
        .iter()
        .find(|entry| entry["name"] == schema)
        .unwrap_or_else(|| panic!("no schema {schema} in {output}"));
    let tables = schema["tables"].as_array().expect("tables is a list");
    tables
        .iter()
        .find(|entry| entry["name"] == name)
        .unwrap_or_else(|| panic!("no table {name} in {schema}"))
}

#[tokio::test]
async fn postgres_introspect_lists_keys() {
    let schema = unique("introspect");
    let mut root = postgres_admin().await;
    admin(
        &mut root,
        &[
            &format!("CREATE SCHEMA {schema}"),
            &format!("CREATE TABLE {schema}.parent (a INT, b TEXT, PRIMARY KEY (a, b))"),
            &format!(
                "CREATE TABLE {schema}.child (id BIGINT PRIMARY KEY, pa INT NOT NULL, pb TEXT, \
                 price NUMERIC(10,2), FOREIGN KEY (pa, pb) REFERENCES {schema}.parent (a, b))"
            ),
            &format!("CREATE VIEW {schema}.names AS SELECT b FROM {schema}.parent"),
        ],
    )
    .await;
    let harness = Harness::new().await;

    let output = harness
        .run(
            &postgres_config(),
            "introspect",
            json!({ "schema": schema }),
        )
        .await;

    admin(&mut root, &[&format!("DROP SCHEMA {schema} CASCADE")]).await;
    let output = output.unwrap();
    assert_eq!(output["schemas"].as_array().unwrap().len(), 1);
    let parent = table(&output, &schema, "parent");
    let child = table(&output, &schema, "child");
    let view = table(&output, &schema, "names");
    assert_eq!(parent["primary_key"], json!(["a", "b"]));
    assert_eq!(child["primary_key"], json!(["id"]));
    assert_eq!(
        child["columns"],
        json!([
            {"name": "id", "type": "bigint", "nullable": false},
            {"name": "pa", "type": "integer", "nullable": false},
            {"name": "pb", "type": "text", "nullable": true},
            {"name": "price", "type": "numeric(10,2)", "nullable": true},
        ])
    );
    let key = &child["foreign_keys"][0];
    assert_eq!(key["columns"], json!(["pa", "pb"]));
    assert_eq!(
        key["references"],
        json!({"schema": schema, "table": "parent", "columns": ["a", "b"]})
    );
    assert_eq!(view["kind"], json!("view"));
    assert_eq!(output["truncated"], json!(false));
}

#[tokio::test]
async fn mariadb_introspect_lists_keys() {
    let database = unique("introspect");
    let mut root = mariadb_admin().await;
    admin(
        &mut root,
        &[
            &format!("CREATE DATABASE {database}"),
            &format!(
                "CREATE TABLE {database}.parent (a INT, b VARCHAR(10), PRIMARY KEY (a, b)) \
                 ENGINE=InnoDB"
            ),
            &format!(
                "CREATE TABLE {database}.child (id BIGINT PRIMARY KEY, pa INT NOT NULL, \
                 pb VARCHAR(10), FOREIGN KEY (pa, pb) REFERENCES {database}.parent (a, b)) \
                 ENGINE=InnoDB"
            ),
        ],
    )
    .await;
    let harness = Harness::new().await;

    let output = harness
        .run(
            &mariadb_config(&database),
            "introspect",
            json!({ "schema": database }),
        )
        .await;

    admin(&mut root, &[&format!("DROP DATABASE {database}")]).await;
    let output = output.unwrap();
    let parent = table(&output, &database, "parent");
    let child = table(&output, &database, "child");
    assert_eq!(parent["primary_key"], json!(["a", "b"]));
    assert_eq!(child["primary_key"], json!(["id"]));
    assert_eq!(
        child["columns"][2],
        json!({"name": "pb", "type": "varchar(10)", "nullable": true})
    );
    assert_eq!(child["foreign_keys"][0]["columns"], json!(["pa", "pb"]));
    assert_eq!(
        child["foreign_keys"][0]["references"],
        json!({"schema": database, "table": "parent", "columns": ["a", "b"]})
    );
}

#[tokio::test]
async fn sqlite_introspect_lists_keys() {
    let harness = Harness::new().await;
    let config = sqlite_config("introspect.db");
    for sql in [
        "CREATE TABLE parent (a INTEGER, b TEXT, PRIMARY KEY (b, a))",
        "CREATE TABLE child (id INTEGER PRIMARY KEY, pa INTEGER NOT NULL, pb TEXT, \
         FOREIGN KEY (pa, pb) REFERENCES parent (a, b))",
    ] {
        harness
            .run(&config, "execute", json!({ "sql": sql }))
            .await
            .unwrap();
    }

    let output = harness.run(&config, "introspect", json!({})).await.unwrap();

    let parent = table(&output, "main", "parent");
    let child = table(&output, "main", "child");
    assert_eq!(parent["primary_key"], json!(["b", "a"]));
    assert_eq!(child["primary_key"], json!(["id"]));
    assert_eq!(
        child["columns"][1],
        json!({"name": "pa", "type": "INTEGER", "nullable": false})
    );
    assert_eq!(
        child["foreign_keys"],
        json!([{
            "columns": ["pa", "pb"],
            "references": {"schema": "main", "table": "parent", "columns": ["a", "b"]}
        }])
    );
}
