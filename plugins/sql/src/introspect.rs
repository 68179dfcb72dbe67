//! The `introspect` operation: schemas, tables and views, their columns with types, primary
//! keys and foreign keys, read from each engine's catalog.

use std::collections::BTreeMap;

use trellis_connector_sdk::sql::{self, StatementOptions, Value};
use trellis_connector_sdk::{json, serde_json, Error};

use crate::rows::to_json_value;
use crate::Engine;

const POSTGRES_SCHEMAS: &str = "\
SELECT n.nspname::text FROM pg_namespace n
WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
  AND ($1::text IS NULL OR n.nspname = $1)
ORDER BY 1";

const POSTGRES_COLUMNS: &str = "\
SELECT n.nspname::text, c.relname::text,
  CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' ELSE 'table' END,
  a.attname::text, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
  AND ($1::text IS NULL OR n.nspname = $1)
ORDER BY 1, 2, a.attnum";

const POSTGRES_KEYS: &str = "\
SELECT n.nspname::text, c.relname::text, con.contype::text, con.conname::text,
  ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, position)
        JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
        ORDER BY k.position),
  rn.nspname::text, rc.relname::text,
  ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, position)
        JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
        ORDER BY k.position)
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class rc ON rc.oid = con.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
WHERE con.contype IN ('p', 'f')
  AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
  AND ($1::text IS NULL OR n.nspname = $1)
ORDER BY 1, 2, 4";

const MYSQL_SYSTEM_SCHEMAS: &str = "('mysql', 'information_schema', 'performance_schema', 'sys')";

fn mysql_schemas() -> String {
    format!(
        "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA \
         WHERE SCHEMA_NAME NOT IN {MYSQL_SYSTEM_SCHEMAS} AND (? IS NULL OR SCHEMA_NAME = ?) \
         ORDER BY 1"
    )
}

fn mysql_columns() -> String {
    format!(
        "SELECT c.TABLE_SCHEMA, c.TABLE_NAME, \
           CASE WHEN t.TABLE_TYPE LIKE '%VIEW' THEN 'view' ELSE 'table' END, \
           c.COLUMN_NAME, c.COLUMN_TYPE, c.IS_NULLABLE = 'YES' \
         FROM information_schema.COLUMNS c \
         JOIN information_schema.TABLES t \
           ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME \
         WHERE c.TABLE_SCHEMA NOT IN {MYSQL_SYSTEM_SCHEMAS} AND (? IS NULL OR c.TABLE_SCHEMA = ?) \
         ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION"
    )
}

/// Builds the key query, which returns one row per key column; the caller groups the rows of
/// one constraint by its name.
fn mysql_keys() -> String {
    format!(
        "SELECT TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, \
           REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME \
         FROM information_schema.KEY_COLUMN_USAGE \
         WHERE (CONSTRAINT_NAME = 'PRIMARY' OR REFERENCED_TABLE_NAME IS NOT NULL) \
           AND TABLE_SCHEMA NOT IN {MYSQL_SYSTEM_SCHEMAS} AND (? IS NULL OR TABLE_SCHEMA = ?) \
         ORDER BY TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION"
    )
}

const SQLITE_COLUMNS: &str = "\
SELECT m.name, m.type, p.name, p.type, p.\"notnull\" = 0, p.pk
FROM sqlite_master m JOIN pragma_table_info(m.name) p
WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
ORDER BY m.name, p.cid";

const SQLITE_KEYS: &str = "\
SELECT m.name, f.id, f.\"from\", f.\"table\", f.\"to\"
FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f
WHERE m.type = 'table'
ORDER BY m.name, f.id, f.seq";

#[derive(Default)]
struct Table {
    kind: String,
    columns: Vec<serde_json::Value>,
    primary_key: Vec<serde_json::Value>,
    foreign_keys: Vec<serde_json::Value>,
}

/// Tables by schema and name.
#[derive(Default)]
struct Catalog {
    schemas: BTreeMap<String, BTreeMap<String, Table>>,
    truncated: bool,
}

impl Catalog {
    fn table(&mut self, schema: &str, table: &str) -> &mut Table {
        let tables = self.schemas.entry(schema.to_string()).or_default();
        tables.entry(table.to_string()).or_default()
    }

    fn into_json(self) -> serde_json::Value {
        let schemas: Vec<serde_json::Value> = self
            .schemas
            .into_iter()
            .map(|(name, tables)| {
                let tables: Vec<serde_json::Value> = tables
                    .into_iter()
                    .map(|(name, table)| {
                        json!({
                            "name": name,
                            "kind": table.kind,
                            "columns": table.columns,
                            "primary_key": table.primary_key,
                            "foreign_keys": table.foreign_keys,
                        })
                    })
                    .collect();
                json!({ "name": name, "tables": tables })
            })
            .collect();
        json!({ "schemas": schemas, "truncated": self.truncated })
    }
}

/// Runs the catalog queries of `engine`, limited to `schema` when given.
pub(crate) fn run(engine: Engine, schema: Option<&str>) -> Result<serde_json::Value, Error> {
    let mut catalog = Catalog::default();
    let filter = schema.map_or(Value::Null, |name| Value::Text(name.to_string()));
    match engine {
        Engine::Postgres => {
            let params = [filter];
            postgres(&mut catalog, &params)?;
        }
        Engine::MySql => {
            let params = [filter.clone(), filter];
            mysql(&mut catalog, &params)?;
        }
        Engine::Sqlite => {
            // SQLite's own database is the schema `main`; attached ones are not listed.
            if schema.is_none_or(|name| name == "main") {
                sqlite(&mut catalog)?;
            }
        }
    }
    Ok(catalog.into_json())
}

/// Runs a catalog query and returns its rows as JSON values by column position.
fn fetch(
    catalog: &mut Catalog,
    statement: &str,
    params: &[Value],
) -> Result<Vec<Vec<serde_json::Value>>, Error> {
    let options = StatementOptions {
        timeout_ms: None,
        max_rows: None,
        max_bytes: None,
    };
    let result = sql::query_with_options(statement, params, options)?;
    catalog.truncated |= result.truncated;
    let rows = result.rows.iter().map(|row| {
        let typed = row.iter().zip(&result.columns);
        typed
            .map(|(value, column)| to_json_value(value, &column.type_name))
            .collect()
    });
    Ok(rows.collect())
}

fn text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Reads a flag that the engine returns as a boolean or as 0 and 1.
fn flag(value: &serde_json::Value) -> bool {
    value
        .as_bool()
        .unwrap_or_else(|| value.as_i64().is_some_and(|number| number != 0))
}

fn column(
    name: &serde_json::Value,
    type_name: &serde_json::Value,
    nullable: bool,
) -> serde_json::Value {
    json!({ "name": text(name), "type": text(type_name), "nullable": nullable })
}

fn postgres(catalog: &mut Catalog, params: &[Value]) -> Result<(), Error> {
    for row in fetch(catalog, POSTGRES_SCHEMAS, params)? {
        catalog.schemas.entry(text(&row[0])).or_default();
    }
    for row in fetch(catalog, POSTGRES_COLUMNS, params)? {
        let table = catalog.table(&text(&row[0]), &text(&row[1]));
        table.kind = text(&row[2]);
        table.columns.push(column(&row[3], &row[4], flag(&row[5])));
    }
    for row in fetch(catalog, POSTGRES_KEYS, params)? {
        let table = catalog.table(&text(&row[0]), &text(&row[1]));
        if text(&row[2]) == "p" {
            table.primary_key = row[4].as_array().cloned().unwrap_or_default();
        } else {
            table.foreign_keys.push(json!({
                "name": text(&row[3]),
                "columns": row[4],
                "references": { "schema": text(&row[5]), "table": text(&row[6]), "columns": row[7] },
            }));
        }
    }
    Ok(())
}

fn mysql(catalog: &mut Catalog, params: &[Value]) -> Result<(), Error> {
    for row in fetch(catalog, &mysql_schemas(), params)? {
        catalog.schemas.entry(text(&row[0])).or_default();
    }
    for row in fetch(catalog, &mysql_columns(), params)? {
        let table = catalog.table(&text(&row[0]), &text(&row[1]));
        table.kind = text(&row[2]);
        table.columns.push(column(&row[3], &row[4], flag(&row[5])));
    }
    for row in fetch(catalog, &mysql_keys(), params)? {
        let table = catalog.table(&text(&row[0]), &text(&row[1]));
        let name = text(&row[2]);
        if name == "PRIMARY" {
            table.primary_key.push(row[3].clone());
            continue;
        }
        // Consecutive rows of one foreign key share its name; add to the last key or start one.
        let last = table
            .foreign_keys
            .last_mut()
            .filter(|key| key["name"] == json!(name));
        match last {
            Some(key) => {
                push(&mut key["columns"], &row[3]);
                push(&mut key["references"]["columns"], &row[6]);
            }
            None => table.foreign_keys.push(json!({
                "name": name,
                "columns": [row[3]],
                "references": { "schema": text(&row[4]), "table": text(&row[5]), "columns": [row[6]] },
            })),
        }
    }
    Ok(())
}

fn sqlite(catalog: &mut Catalog) -> Result<(), Error> {
    catalog.schemas.entry("main".into()).or_default();
    let mut primary_keys: BTreeMap<String, Vec<(i64, serde_json::Value)>> = BTreeMap::new();
    for row in fetch(catalog, SQLITE_COLUMNS, &[])? {
        let table_name = text(&row[0]);
        let table = catalog.table("main", &table_name);
        table.kind = text(&row[1]);
        table.columns.push(column(&row[2], &row[3], flag(&row[4])));
        // `pk` is the column's position in the primary key, or 0 when it is not part of it.
        let position = row[5].as_i64().unwrap_or(0);
        if position > 0 {
            primary_keys
                .entry(table_name)
                .or_default()
                .push((position, row[2].clone()));
        }
    }
    for (table_name, mut columns) in primary_keys {
        columns.sort_by_key(|(position, _)| *position);
        catalog.table("main", &table_name).primary_key =
            columns.into_iter().map(|(_, name)| name).collect();
    }
    for row in fetch(catalog, SQLITE_KEYS, &[])? {
        let table = catalog.table("main", &text(&row[0]));
        let id = row[1].clone();
        let last = table.foreign_keys.last_mut().filter(|key| key["id"] == id);
        match last {
            Some(key) => {
                push(&mut key["columns"], &row[2]);
                push(&mut key["references"]["columns"], &row[4]);
            }
            None => table.foreign_keys.push(json!({
                "id": id,
                "columns": [row[2]],
                "references": { "schema": "main", "table": text(&row[3]), "columns": [row[4]] },
            })),
        }
    }
    // SQLite names foreign keys by number only, which is no use outside this query.
    for tables in catalog.schemas.values_mut() {
        for table in tables.values_mut() {
            for key in &mut table.foreign_keys {
                if let Some(object) = key.as_object_mut() {
                    object.remove("id");
                }
            }
        }
    }
    Ok(())
}

fn push(list: &mut serde_json::Value, item: &serde_json::Value) {
    if let Some(items) = list.as_array_mut() {
        items.push(item.clone());
    }
}
