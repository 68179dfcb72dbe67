//! Hostile values through every templating form stay data: each is compared as a whole
//! string, and the table survives.

use serde_json::{json, Value};

use super::{
    admin, mariadb_admin, mariadb_config, postgres_admin, postgres_config, sqlite_config, unique,
    AdminConnection, Harness,
};

const HOSTILE: &[&str] = &[
    "'; DROP TABLE {t}; --",
    "0; DROP TABLE {t}",
    "\\'; DROP TABLE {t}; --",
    "it's \"quoted\" \\ and \\\\ back",
    "$$; DROP TABLE {t}; $$",
    "*/ DROP TABLE {t}; /*",
    "-- DROP TABLE {t}",
];

/// Templates with one `{{ v }}` binding each, counting the rows whose name equals the value.
fn forms(table: &str, postgres: bool) -> Vec<String> {
    let mut forms = vec![
        format!("SELECT COUNT(*) AS n FROM {table} WHERE name = {{{{ v }}}}"),
        format!("SELECT COUNT(*) AS n FROM {table} WHERE name = '{{{{ v }}}}'"),
        format!("SELECT COUNT(*) AS n FROM {table} WHERE name IN ({{{{ v }}}})"),
        format!(
            "SELECT COUNT(*) AS n FROM {table} /* '{{{{ c }}}}' */ WHERE name = /* x */ {{{{ v }}}} -- '\n"
        ),
        format!("SELECT COUNT(*) AS n FROM {table} WHERE 'x' || name = 'x{{{{ v }}}}'"),
    ];
    if postgres {
        forms.push(format!(
            "SELECT COUNT(*) AS n FROM {table} WHERE name = $${{{{ v }}}}$$"
        ));
        forms.push(format!(
            "SELECT COUNT(*) AS n FROM {table} WHERE name = $q${{{{ v }}}}$q$"
        ));
    }
    forms
}

/// Inserts every hostile value as a row, then looks each one up through every form and checks
/// that exactly its own row matches.
async fn check_engine(harness: &Harness, config: &Value, table: &str, postgres: bool) {
    for value in HOSTILE {
        let value = value.replace("{t}", table);
        let insert = format!("INSERT INTO {table} (name) VALUES ({{{{ v }}}})");
        harness
            .run(
                config,
                "execute",
                json!({"sql": insert, "bindings": [value]}),
            )
            .await
            .unwrap();
    }

    for form in forms(table, postgres) {
        for value in HOSTILE {
            let value = value.replace("{t}", table);
            let input = json!({"sql": form, "bindings": [value]});

            let output = harness.run(config, "query", input).await;

            // SQLite's || concatenates, MySQL's is OR unless PIPES_AS_CONCAT is set (sqlx sets
            // it), so the concatenating form works on all three.
            let count = output.unwrap_or_else(|error| panic!("{form} with {value}: {error}"))
                ["rows"][0]["n"]
                .clone();
            assert_eq!(count, json!(1), "{form} with {value}");
        }
    }
}

#[tokio::test]
async fn postgres_templates_bind_hostile_values() {
    let table = unique("inject");
    let mut root = postgres_admin().await;
    admin(
        &mut root,
        &[&format!("CREATE TABLE {table} (id SERIAL, name TEXT)")],
    )
    .await;
    let harness = Harness::new().await;

    check_engine(&harness, &postgres_config(), &table, true).await;

    let survived = sqlx::query(&format!("SELECT COUNT(*) FROM {table}"))
        .execute(&mut root)
        .await;
    admin(&mut root, &[&format!("DROP TABLE {table}")]).await;
    assert!(survived.is_ok(), "{survived:?}");
}

#[tokio::test]
async fn mariadb_templates_bind_hostile_values() {
    let database = unique("inject");
    let mut root = mariadb_admin().await;
    admin(
        &mut root,
        &[
            &format!("CREATE DATABASE {database}"),
            &format!("CREATE TABLE {database}.t (id INT AUTO_INCREMENT PRIMARY KEY, name TEXT)"),
        ],
    )
    .await;
    let harness = Harness::new().await;

    check_engine(&harness, &mariadb_config(&database), "t", false).await;

    let survived = root
        .run(&format!("SELECT COUNT(*) FROM {database}.t"))
        .await;
    admin(&mut root, &[&format!("DROP DATABASE {database}")]).await;
    assert!(survived.is_ok(), "{survived:?}");
}

#[tokio::test]
async fn sqlite_templates_bind_hostile_values() {
    let harness = Harness::new().await;
    let config = sqlite_config("inject.db");
    harness
        .run(
            &config,
            "execute",
            json!({"sql": "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)"}),
        )
        .await
        .unwrap();

    check_engine(&harness, &config, "t", false).await;

    let survived = harness
        .run(
            &config,
            "query",
            json!({"sql": "SELECT COUNT(*) AS n FROM t"}),
        )
        .await;
    assert_eq!(survived.unwrap()["rows"][0]["n"], json!(HOSTILE.len()));
}

#[tokio::test]
async fn table_name_binding_is_rejected() {
    let harness = Harness::new().await;
    let input = json!({"sql": "SELECT * FROM {{ table }}", "bindings": ["t; DROP TABLE t"]});

    let result = harness
        .run(&sqlite_config("ident.db"), "query", input)
        .await;

    let Err(trellis_exec::RunError::InvalidInput { message }) = result else {
        panic!("expected invalid input, got {result:?}");
    };
    assert!(message.contains("identifier position"), "{message}");
}
