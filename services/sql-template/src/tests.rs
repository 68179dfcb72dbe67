use serde_json::{json, Value};

use crate::{parse, Dialect, TemplateError};

fn bind(sql: &str, dialect: Dialect, values: &[Value]) -> (String, Vec<Value>) {
    parse(sql).unwrap().bind(dialect, values).unwrap()
}

fn postgres(sql: &str, values: &[Value]) -> (String, Vec<Value>) {
    bind(sql, Dialect::Postgres, values)
}

#[test]
fn plain_sql_is_unchanged() {
    let sql = "SELECT 1 FROM t WHERE a = 'x' -- note\n";

    let template = parse(sql).unwrap();

    assert!(template.is_plain());
    assert_eq!(
        template.bind(Dialect::Postgres, &[]).unwrap(),
        (sql.to_string(), vec![])
    );
}

#[test]
fn binding_becomes_placeholder_per_dialect() {
    let sql = "SELECT * FROM t WHERE a = {{ a }} AND b = {{b}}";
    let values = [json!(1), json!("two")];

    let (pg, pg_params) = bind(sql, Dialect::Postgres, &values);
    let (my, my_params) = bind(sql, Dialect::MySql, &values);
    let (lite, _) = bind(sql, Dialect::Sqlite, &values);

    assert_eq!(pg, "SELECT * FROM t WHERE a = $1 AND b = $2");
    assert_eq!(my, "SELECT * FROM t WHERE a = ? AND b = ?");
    assert_eq!(lite, "SELECT * FROM t WHERE a = ?1 AND b = ?2");
    assert_eq!(pg_params, values);
    assert_eq!(my_params, values);
}

#[test]
fn expressions_are_listed_in_order() {
    let template = parse("SELECT {{ user.id }}, {{ items | length }}, {{ user.id }}").unwrap();

    assert_eq!(
        template.expressions(),
        ["user.id", "items | length", "user.id"]
    );
}

#[test]
fn repeated_expression_binds_every_time() {
    let (sql, params) = postgres("SELECT {{ x }} + {{ x }}", &[json!(2), json!(2)]);

    assert_eq!(sql, "SELECT $1 + $2");
    assert_eq!(params, [json!(2), json!(2)]);
}

#[test]
fn closing_braces_inside_expression_string() {
    let template = parse("SELECT {{ \"a}}b\" ~ 'c}}' }}").unwrap();

    assert_eq!(template.expressions(), ["\"a}}b\" ~ 'c}}'"]);
}

#[test]
fn doubled_quotes_stay_inside_literal() {
    let sql = "SELECT 'it''s {{ not }} -- here', {{ x }}";

    let template = parse(sql).unwrap();
    let (out, params) = template
        .bind(Dialect::Postgres, &[json!("a"), json!(1)])
        .unwrap();

    assert_eq!(template.expressions(), ["not", "x"]);
    assert_eq!(out, "SELECT ('it''s ' || $1 || ' -- here'), $2");
    assert_eq!(params, [json!("a"), json!(1)]);
}

#[test]
fn binding_that_is_whole_literal_drops_quotes() {
    let (sql, params) = postgres(
        "SELECT * FROM t WHERE name = '{{ name }}'",
        &[json!("o'brien")],
    );

    assert_eq!(sql, "SELECT * FROM t WHERE name = $1");
    assert_eq!(params, [json!("o'brien")]);
}

#[test]
fn binding_inside_literal_concatenates() {
    let sql = "SELECT * FROM t WHERE name LIKE '%{{ q }}%'";

    let (pg, pg_params) = bind(sql, Dialect::Postgres, &[json!("a%b")]);
    let (my, _) = bind(sql, Dialect::MySql, &[json!("a%b")]);

    assert_eq!(pg, "SELECT * FROM t WHERE name LIKE ('%' || $1 || '%')");
    assert_eq!(my, "SELECT * FROM t WHERE name LIKE CONCAT('%', ?, '%')");
    assert_eq!(pg_params, [json!("a%b")]);
}

#[test]
fn number_inside_literal_binds_as_text() {
    let (_, params) = postgres("SELECT 'v{{ n }}'", &[json!(5)]);

    assert_eq!(params, [json!("5")]);
}

#[test]
fn escape_string_keeps_prefix_and_backslashes() {
    let (sql, _) = postgres(r"SELECT E'a\'{{ x }}\n'", &[json!("b")]);

    assert_eq!(sql, r"SELECT (E'a\'' || $1 || E'\n')");
}

#[test]
fn dollar_quoted_string_is_a_literal() {
    let inside = parse("SELECT $$ {{ inner }} $$").unwrap();
    let (tagged, _) = postgres(
        "SELECT $fn$ it's {{ x }} $fn$, {{ y }}",
        &[json!(1), json!(2)],
    );
    let (whole, params) = postgres("SELECT $${{ v }}$$", &[json!("$$; DROP TABLE t; --")]);

    assert_eq!(inside.expressions(), ["inner"]);
    assert_eq!(tagged, "SELECT ($fn$ it's $fn$ || $1 || $fn$ $fn$), $2");
    assert_eq!(whole, "SELECT $1");
    assert_eq!(params, [json!("$$; DROP TABLE t; --")]);
}

#[test]
fn dollar_quote_hides_quotes_and_comments() {
    let template = parse("SELECT $a$ ' -- /* \" $a$, {{ x }}").unwrap();

    assert_eq!(template.expressions(), ["x"]);
}

#[test]
fn dollar_in_identifier_is_not_a_quote() {
    let template = parse("SELECT a$b$, {{ x }} FROM t").unwrap();

    assert_eq!(template.expressions(), ["x"]);
}

#[test]
fn comments_keep_bindings_as_text() {
    let sql = "SELECT /* {{ a }} */ {{ b }} -- {{ c }}\n, {{ d }} /* /* {{ e }} */ */";

    let template = parse(sql).unwrap();
    let (out, _) = template
        .bind(Dialect::Postgres, &[json!(1), json!(2)])
        .unwrap();

    assert_eq!(template.expressions(), ["b", "d"]);
    assert_eq!(
        out,
        "SELECT /* {{ a }} */ $1 -- {{ c }}\n, $2 /* /* {{ e }} */ */"
    );
}

#[test]
fn quote_inside_comment_does_not_open_literal() {
    let template = parse("SELECT 1 -- it's\n, {{ x }} /* don't */").unwrap();

    assert_eq!(template.expressions(), ["x"]);
}

#[test]
fn question_mark_operators_pass_through_for_postgres() {
    let sql =
        "SELECT data ? 'a', data ?| array['b'], data ?& array['c'] FROM t WHERE id = {{ id }}";

    let (out, params) = postgres(sql, &[json!(3)]);

    assert_eq!(
        out,
        "SELECT data ? 'a', data ?| array['b'], data ?& array['c'] FROM t WHERE id = $1"
    );
    assert_eq!(params, [json!(3)]);
}

#[test]
fn question_mark_rejected_for_mysql_and_sqlite() {
    let template = parse("SELECT {{ a }} WHERE b = ?").unwrap();

    let mysql = template.bind(Dialect::MySql, &[json!(1)]);
    let sqlite = template.bind(Dialect::Sqlite, &[json!(1)]);

    assert!(
        matches!(mysql, Err(TemplateError::Placeholder { .. })),
        "{mysql:?}"
    );
    assert!(
        matches!(sqlite, Err(TemplateError::Placeholder { .. })),
        "{sqlite:?}"
    );
}

#[test]
fn question_mark_in_literal_is_fine_for_mysql() {
    let (sql, _) = bind("SELECT '?', {{ a }}", Dialect::MySql, &[json!(1)]);

    assert_eq!(sql, "SELECT '?', ?");
}

#[test]
fn positional_parameter_mixed_with_binding_rejected() {
    let template = parse("SELECT $1, {{ a }}").unwrap();

    let result = template.bind(Dialect::Postgres, &[json!(1)]);

    assert!(
        matches!(result, Err(TemplateError::Placeholder { .. })),
        "{result:?}"
    );
}

#[test]
fn array_expands_for_in_list() {
    let (sql, params) = postgres(
        "SELECT * FROM t WHERE id IN ({{ ids }})",
        &[json!([1, 2, 3])],
    );
    let (mysql, _) = bind("SELECT {{ ids }}", Dialect::MySql, &[json!(["a", "b"])]);

    assert_eq!(sql, "SELECT * FROM t WHERE id IN ($1, $2, $3)");
    assert_eq!(params, [json!(1), json!(2), json!(3)]);
    assert_eq!(mysql, "SELECT ?, ?");
}

#[test]
fn empty_array_becomes_null() {
    let (sql, params) = postgres("SELECT * FROM t WHERE id IN ({{ ids }})", &[json!([])]);

    assert_eq!(sql, "SELECT * FROM t WHERE id IN (NULL)");
    assert!(params.is_empty());
}

#[test]
fn numbering_continues_after_array() {
    let (sql, _) = bind(
        "SELECT {{ a }}, {{ b }}",
        Dialect::Sqlite,
        &[json!([1, 2]), json!(3)],
    );

    assert_eq!(sql, "SELECT ?1, ?2, ?3");
}

#[test]
fn array_inside_literal_rejected() {
    let template = parse("SELECT '{{ ids }}'").unwrap();

    let result = template.bind(Dialect::Postgres, &[json!([1])]);

    assert!(
        matches!(result, Err(TemplateError::InvalidValue { .. })),
        "{result:?}"
    );
}

#[test]
fn null_binds_null_parameter() {
    let (sql, params) = postgres("SELECT {{ a }}, '{{ b }}'", &[Value::Null, Value::Null]);

    assert_eq!(sql, "SELECT $1, $2");
    assert_eq!(params, [Value::Null, Value::Null]);
}

#[test]
fn object_and_nested_array_bind_json_text() {
    let (_, params) = postgres(
        "SELECT {{ a }}::jsonb, {{ b }}",
        &[json!({"k": 1}), json!([[1]])],
    );

    assert_eq!(params, [json!("{\"k\":1}"), json!("[1]")]);
}

#[test]
fn hostile_values_are_parameters_not_text() {
    let hostile = [
        "'; DROP TABLE t; --",
        "0; DROP TABLE t",
        r"\'; DROP TABLE t; --",
        "$$; DROP TABLE t; $$",
        "*/ DROP TABLE t; /*",
    ];
    for value in hostile {
        let (sql, params) = postgres(
            "SELECT * FROM t WHERE a = {{ v }} OR b = '{{ v }}'",
            &[json!(value), json!(value)],
        );

        assert_eq!(sql, "SELECT * FROM t WHERE a = $1 OR b = $2", "{value}");
        assert_eq!(params, [json!(value), json!(value)], "{value}");
    }
}

#[test]
fn identifier_positions_rejected() {
    let cases = [
        "SELECT * FROM {{ table }}",
        "SELECT * FROM t JOIN {{ table }} ON true",
        "INSERT INTO {{ table }} VALUES (1)",
        "UPDATE {{ table }} SET a = 1",
        "TRUNCATE TABLE {{ table }}",
        "SELECT * from\n  {{ table }}",
        "SELECT \"{{ column }}\" FROM t",
        "SELECT `{{ column }}` FROM t",
        "SELECT * FROM public.{{ table }}",
        "SELECT {{ schema }}.name FROM t",
        "SELECT col_{{ suffix }} FROM t",
    ];
    for sql in cases {
        let result = parse(sql);

        assert!(
            matches!(result, Err(TemplateError::Identifier { .. })),
            "{sql}: {result:?}"
        );
    }
}

#[test]
fn identifier_error_names_expression() {
    let error = parse("SELECT * FROM {{ table }}").unwrap_err();

    assert_eq!(
        error.to_string(),
        "`{{ table }}` at byte 14 is in an identifier position; table and column names cannot be \
         templated, only values"
    );
}

#[test]
fn keyword_suffix_is_not_a_table_keyword() {
    let template = parse("SELECT fromage, {{ x }} FROM t WHERE a = {{ y }}").unwrap();

    assert_eq!(template.expressions(), ["x", "y"]);
}

#[test]
fn quoted_identifier_with_doubled_quote() {
    let template = parse("SELECT \"a\"\"{{ x }}\" FROM t");

    assert!(
        matches!(template, Err(TemplateError::Identifier { .. })),
        "{template:?}"
    );
    assert_eq!(
        parse("SELECT \"a\"\"b\", {{ x }}").unwrap().expressions(),
        ["x"]
    );
}

#[test]
fn unclosed_constructs_rejected() {
    let cases = [
        ("SELECT {{ x", "`{{`"),
        ("SELECT 'abc", "string literal"),
        ("SELECT \"abc", "quoted identifier"),
        ("SELECT /* abc", "block comment"),
        ("SELECT $$ abc", "string literal"),
    ];
    for (sql, expected) in cases {
        let result = parse(sql);

        assert!(
            matches!(result, Err(TemplateError::Unclosed { what, .. }) if what == expected),
            "{sql}: {result:?}"
        );
    }
}

#[test]
fn empty_expression_rejected() {
    let result = parse("SELECT {{  }}");

    assert_eq!(result, Err(TemplateError::EmptyExpression { offset: 7 }));
}

#[test]
fn value_count_must_match() {
    let template = parse("SELECT {{ a }}, {{ b }}").unwrap();

    let result = template.bind(Dialect::Postgres, &[json!(1)]);

    assert_eq!(
        result,
        Err(TemplateError::ValueCount {
            expected: 2,
            actual: 1
        })
    );
}

#[test]
fn multibyte_text_is_kept() {
    let (sql, _) = postgres("SELECT 'héllo → {{ x }}', 'ü' AS ß", &[json!(1)]);

    assert_eq!(sql, "SELECT ('héllo → ' || $1), 'ü' AS ß");
}
