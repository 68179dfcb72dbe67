//! The `{{ expr }}` bindings of a SQL template.

/// Returns the expression text of each `{{ expr }}` in SQL text, in order. Quotes and
/// comments do not hide a binding: a binding inside a string literal still becomes a parameter.
// TODO: replace with the shared SQL template lexer once it is part of the workspace, so the
// runner and the SQL connector split templates the same way (identifier positions included).
pub fn binding_expressions(sql: &str) -> Result<Vec<&str>, String> {
    let mut expressions = Vec::new();
    let mut rest = sql;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "a `{{` has no closing `}}`".to_string())?;
        let expression = after[..end].trim();
        if expression.is_empty() {
            return Err("a `{{ }}` binding is empty".into());
        }
        expressions.push(expression);
        rest = &after[end + 2..];
    }
    if rest.contains("}}") {
        return Err("a `}}` has no opening `{{`".into());
    }
    Ok(expressions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_binding_in_order() {
        let sql = "select {{ a }}, '{{b}}' from t where c = {{ c.d }}";
        assert_eq!(binding_expressions(sql).unwrap(), vec!["a", "b", "c.d"]);
    }

    #[test]
    fn unclosed_binding_is_rejected() {
        assert!(binding_expressions("select {{ a").is_err());
    }
}
