//! The type-mapping table: each engine's types as the connector returns them in JSON.

use serde_json::{json, Value};

use super::{
    admin, mariadb_admin, mariadb_config, postgres_config, sqlite_config, unique, Harness,
};

/// Checks each column of the first row against its expected JSON, one assert per column.
fn assert_row(output: &Value, expected: &[(&str, Value)]) {
    let row = &output["rows"][0];
    for (column, value) in expected {
        assert_eq!(&row[*column], value, "column {column}");
    }
}

#[tokio::test]
async fn postgres_types_map_to_json() {
    let harness = Harness::new().await;
    let sql = "SELECT 1::int2 AS int2, 2::int4 AS int4, 9007199254740993::int8 AS int8, \
        12345678901234567890.123456789::numeric AS numeric, -0.0001::numeric(10,6) AS small, \
        1.5::float4 AS float4, 2.25::float8 AS float8, true AS bool, 'tëxt'::text AS text, \
        'ab'::varchar(5) AS varchar, '\\x00ff'::bytea AS bytea, '2024-02-29'::date AS date, \
        '13:14:15'::time AS time, '2024-02-29 13:14:15.5'::timestamp AS timestamp, \
        '2024-02-29 13:14:15+02'::timestamptz AS timestamptz, '{\"a\": [1]}'::jsonb AS jsonb, \
        '{\"b\": 2}'::json AS json, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS uuid, \
        ARRAY[1, NULL, 3]::int4[] AS int_array, ARRAY['x', 'y']::text[] AS text_array, \
        ARRAY[1.50, 2]::numeric[] AS numeric_array, NULL::text AS nothing";

    let output = harness
        .run(&postgres_config(), "query", json!({ "sql": sql }))
        .await
        .unwrap();

    assert_row(
        &output,
        &[
            ("int2", json!(1)),
            ("int4", json!(2)),
            ("int8", json!(9007199254740993_i64)),
            ("numeric", json!("12345678901234567890.123456789")),
            ("small", json!("-0.000100")),
            ("float4", json!(1.5)),
            ("float8", json!(2.25)),
            ("bool", json!(true)),
            ("text", json!("tëxt")),
            ("varchar", json!("ab")),
            ("bytea", json!("AP8=")),
            ("date", json!("2024-02-29")),
            ("time", json!("13:14:15")),
            ("timestamp", json!("2024-02-29T13:14:15.500")),
            ("timestamptz", json!("2024-02-29T11:14:15Z")),
            ("jsonb", json!({"a": [1]})),
            ("json", json!({"b": 2})),
            ("uuid", json!("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
            ("int_array", json!([1, null, 3])),
            ("text_array", json!(["x", "y"])),
            ("numeric_array", json!(["1.50", "2"])),
            ("nothing", Value::Null),
        ],
    );
    assert_eq!(
        output["columns"][3],
        json!({"name": "numeric", "type": "NUMERIC"})
    );
    assert_eq!(
        output["columns"][18],
        json!({"name": "int_array", "type": "INT4[]"})
    );
}

#[tokio::test]
async fn mariadb_types_map_to_json() {
    let database = unique("trellis_types");
    let mut root = mariadb_admin().await;
    admin(
        &mut root,
        &[
            &format!("CREATE DATABASE {database}"),
            &format!(
                "CREATE TABLE {database}.t (i INT, big BIGINT, u BIGINT UNSIGNED, \
                 d DECIMAL(30,9), f FLOAT, g DOUBLE, flag BOOLEAN, s VARCHAR(20), b BLOB, \
                 day DATE, moment DATETIME(3), stamp TIMESTAMP NULL, doc JSON, nothing TEXT, \
                 exact VARCHAR(20) COLLATE utf8mb4_bin, note LONGTEXT COLLATE utf8mb4_bin, \
                 raw VARBINARY(4), large LONGBLOB)"
            ),
            &format!(
                "INSERT INTO {database}.t VALUES (-1, 9007199254740993, 18446744073709551615, \
                 12345678901234567890.123456789, 1.5, 2.25, TRUE, 'tëxt', X'00FF', \
                 '2024-02-29', '2024-02-29 13:14:15.500', '2024-02-29 13:14:15', \
                 '{{\"a\": 1}}', NULL, 'Ünïcode', '[1, 2]', X'00FF', '{{}}')"
            ),
        ],
    )
    .await;
    let harness = Harness::new().await;

    let output = harness
        .run(
            &mariadb_config(&database),
            "query",
            json!({"sql": "SELECT *, doc AS renamed, JSON_EXTRACT(doc, '$.a') AS extracted \
                   FROM t"}),
        )
        .await;

    admin(&mut root, &[&format!("DROP DATABASE {database}")]).await;
    let output = output.unwrap();
    assert_row(
        &output,
        &[
            ("i", json!(-1)),
            ("big", json!(9007199254740993_i64)),
            ("u", json!("18446744073709551615")),
            ("d", json!("12345678901234567890.123456789")),
            ("f", json!(1.5)),
            ("g", json!(2.25)),
            ("flag", json!(true)),
            ("s", json!("tëxt")),
            ("b", json!("AP8=")),
            ("day", json!("2024-02-29")),
            ("moment", json!("2024-02-29T13:14:15.500")),
            ("stamp", json!("2024-02-29T13:14:15Z")),
            ("nothing", Value::Null),
            ("doc", json!({"a": 1})),
            ("renamed", json!({"a": 1})),
            ("extracted", json!("1")),
            ("exact", json!("Ünïcode")),
            ("note", json!("[1, 2]")),
            ("raw", json!("AP8=")),
            ("large", json!("e30=")),
        ],
    );
    let types: Vec<(&str, &str)> = output["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["type"].as_str().unwrap()))
        .collect();
    for expected in [
        ("doc", "JSON"),
        ("renamed", "JSON"),
        ("exact", "VARCHAR"),
        // MariaDB sends every TEXT and BLOB column with the BLOB type code, whatever its size.
        ("note", "TEXT"),
        ("raw", "VARBINARY"),
        ("large", "BLOB"),
        ("b", "BLOB"),
    ] {
        assert!(types.contains(&expected), "{expected:?} not in {types:?}");
    }
}

#[tokio::test]
async fn mariadb_empty_result_names_json_columns() {
    let database = unique("trellis_types");
    let mut root = mariadb_admin().await;
    admin(
        &mut root,
        &[
            &format!("CREATE DATABASE {database}"),
            &format!("CREATE TABLE {database}.t (id INT, doc JSON)"),
        ],
    )
    .await;
    let harness = Harness::new().await;

    let output = harness
        .run(
            &mariadb_config(&database),
            "query",
            json!({"sql": "SELECT id, doc FROM t WHERE id = 0"}),
        )
        .await;

    admin(&mut root, &[&format!("DROP DATABASE {database}")]).await;
    let output = output.unwrap();
    assert_eq!(output["rows"], json!([]));
    assert_eq!(
        output["columns"],
        json!([{"name": "id", "type": "INT"}, {"name": "doc", "type": "JSON"}])
    );
}

#[tokio::test]
async fn sqlite_types_map_to_json() {
    let harness = Harness::new().await;
    let config = sqlite_config("types.db");
    harness
        .run(
            &config,
            "execute",
            json!({"sql": "CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, flag BOOLEAN, \
                    n NUMERIC, day DATE, missing TEXT)"}),
        )
        .await
        .unwrap();
    harness
        .run(
            &config,
            "execute",
            json!({"sql": "INSERT INTO t VALUES (9007199254740993, 2.25, 'tëxt', X'00FF', 1, \
                    '12.50', '2024-02-29', NULL)"}),
        )
        .await
        .unwrap();

    let output = harness
        .run(&config, "query", json!({"sql": "SELECT * FROM t"}))
        .await
        .unwrap();

    assert_row(
        &output,
        &[
            ("i", json!(9007199254740993_i64)),
            ("r", json!(2.25)),
            ("s", json!("tëxt")),
            ("b", json!("AP8=")),
            ("flag", json!(true)),
            ("n", json!(12.5)),
            ("day", json!("2024-02-29")),
            ("missing", Value::Null),
        ],
    );
}

#[tokio::test]
async fn empty_result_still_names_columns() {
    let harness = Harness::new().await;

    let output = harness
        .run(
            &postgres_config(),
            "query",
            json!({"sql": "SELECT 1::int8 AS id, 'x'::text AS name WHERE false"}),
        )
        .await
        .unwrap();

    assert_eq!(output["rows"], json!([]));
    assert_eq!(
        output["columns"],
        json!([{"name": "id", "type": "INT8"}, {"name": "name", "type": "TEXT"}])
    );
}
