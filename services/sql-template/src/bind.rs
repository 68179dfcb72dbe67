//! Renders a parsed template with one database's placeholders.

use serde_json::Value;

use crate::{Binding, Literal, LiteralPart, Piece, Template, TemplateError};

/// The placeholder syntax of a database engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// PostgreSQL: `$1`, `$2`, ...
    Postgres,
    /// MySQL and MariaDB: `?`.
    MySql,
    /// SQLite: `?1`, `?2`, ...
    Sqlite,
}

impl Dialect {
    fn placeholder(self, number: usize) -> String {
        match self {
            Dialect::Postgres => format!("${number}"),
            Dialect::MySql => "?".into(),
            Dialect::Sqlite => format!("?{number}"),
        }
    }
}

impl Template {
    /// Renders the statement for `dialect` with one value per binding, in the order of
    /// [`Template::expressions`], and returns it with the parameters to bind in order.
    pub fn bind(
        &self,
        dialect: Dialect,
        values: &[Value],
    ) -> Result<(String, Vec<Value>), TemplateError> {
        let expected = self.bindings().count();
        if values.len() != expected {
            return Err(TemplateError::ValueCount {
                expected,
                actual: values.len(),
            });
        }
        self.check_placeholders(dialect)?;

        let mut output = Output {
            dialect,
            sql: String::new(),
            params: Vec::new(),
        };
        let mut values = values.iter();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => output.sql.push_str(text),
                Piece::Binding(_) => {
                    let value = values.next().expect("counted above");
                    output.push_value(value);
                }
                Piece::Literal(literal) => output.push_literal(literal, &mut values)?,
            }
        }
        Ok((output.sql, output.params))
    }

    fn check_placeholders(&self, dialect: Dialect) -> Result<(), TemplateError> {
        if self.is_plain() {
            return Ok(());
        }
        if dialect != Dialect::Postgres && self.has_question_mark {
            return Err(TemplateError::Placeholder {
                message: "the SQL contains `?` outside a string, which MySQL and SQLite read as \
                          a placeholder; use {{ }} bindings only"
                    .into(),
            });
        }
        if self.has_dollar_parameter {
            return Err(TemplateError::Placeholder {
                message: "the SQL mixes {{ }} bindings with positional parameters such as $1; \
                          use {{ }} bindings only"
                    .into(),
            });
        }
        Ok(())
    }
}

struct Output {
    dialect: Dialect,
    sql: String,
    params: Vec<Value>,
}

impl Output {
    fn placeholder(&mut self, value: Value) -> String {
        self.params.push(value);
        self.dialect.placeholder(self.params.len())
    }

    fn push_value(&mut self, value: &Value) {
        let Value::Array(items) = value else {
            let placeholder = self.placeholder(scalar(value));
            self.sql.push_str(&placeholder);
            return;
        };
        if items.is_empty() {
            self.sql.push_str("NULL");
            return;
        }
        let placeholders: Vec<String> = items
            .iter()
            .map(|item| self.placeholder(scalar(item)))
            .collect();
        self.sql.push_str(&placeholders.join(", "));
    }

    /// Renders a literal with bindings inside it: alone, the binding replaces the literal;
    /// with text around it, the pieces are concatenated.
    fn push_literal<'a>(
        &mut self,
        literal: &Literal,
        values: &mut impl Iterator<Item = &'a Value>,
    ) -> Result<(), TemplateError> {
        let mut operands = Vec::new();
        for part in &literal.parts {
            match part {
                LiteralPart::Text(text) => operands.push(format!(
                    "{}{}{text}{}",
                    literal.prefix, literal.open, literal.close
                )),
                LiteralPart::Binding(binding) => {
                    let value = values.next().expect("counted above");
                    check_inside_literal(binding, value)?;
                    operands.push(self.placeholder(text_value(value)));
                }
            }
        }
        if let [single] = operands.as_slice() {
            self.sql.push_str(single);
            return Ok(());
        }
        let joined = match self.dialect {
            Dialect::MySql => format!("CONCAT({})", operands.join(", ")),
            Dialect::Postgres | Dialect::Sqlite => format!("({})", operands.join(" || ")),
        };
        self.sql.push_str(&joined);
        Ok(())
    }
}

fn check_inside_literal(binding: &Binding, value: &Value) -> Result<(), TemplateError> {
    if value.is_array() {
        return Err(TemplateError::InvalidValue {
            expression: binding.expression.clone(),
            message: "is an array, which cannot be bound inside a string literal; remove the \
                      quotes to expand it as a list"
                .into(),
        });
    }
    Ok(())
}

/// Converts a value outside any list to a parameter: objects and arrays travel as JSON text.
fn scalar(value: &Value) -> Value {
    match value {
        Value::Array(_) | Value::Object(_) => Value::String(value.to_string()),
        other => other.clone(),
    }
}

/// Converts the value of a binding inside a string literal to text, because the literal was
/// text. Null stays null.
fn text_value(value: &Value) -> Value {
    match value {
        Value::Null => Value::Null,
        Value::String(text) => Value::String(text.clone()),
        other => Value::String(other.to_string()),
    }
}
