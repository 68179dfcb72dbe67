//! Templated SQL: `{{ expression }}` marks in SQL text become bound parameters, never spliced
//! text.
//!
//! [`parse`] finds the bindings with a lexer that skips line and block comments and quoted
//! identifiers, and reads string literals with doubled quotes, `E'...'` backslash escapes and
//! PostgreSQL dollar quotes (`$$...$$`, `$tag$...$tag$`). The caller evaluates each of
//! [`Template::expressions`] and passes the values to [`Template::bind`], which returns the
//! statement with placeholders for one [`Dialect`] and the parameters in order.
//!
//! ```
//! use serde_json::json;
//! use trellis_sql_template::{parse, Dialect};
//!
//! let template = parse("SELECT * FROM users WHERE id IN ({{ ids }}) AND name = '{{ name }}'")?;
//! assert_eq!(template.expressions(), ["ids", "name"]);
//! let (sql, params) = template.bind(Dialect::Postgres, &[json!([7, 9]), json!("ada")])?;
//! assert_eq!(sql, "SELECT * FROM users WHERE id IN ($1, $2) AND name = $3");
//! assert_eq!(params, [json!(7), json!(9), json!("ada")]);
//! # Ok::<(), trellis_sql_template::TemplateError>(())
//! ```
//!
//! Rules:
//! - Every occurrence of an expression is its own parameter, so repeating one binds it again.
//! - A JSON array expands to one parameter per element, for `IN ({{ ids }})`. An empty array
//!   becomes `NULL`, which matches no row in `IN`, and by SQL's rules none in `NOT IN` either.
//! - JSON null binds SQL `NULL`; an object or a nested array binds its JSON text.
//! - A binding that is a whole string literal (`'{{ name }}'`) becomes a parameter and the quotes
//!   are dropped. One inside a longer literal (`'%{{ q }}%'`) becomes a concatenation of the
//!   literal's pieces and the parameter.
//! - Identifiers cannot be templated: a binding inside a quoted identifier, right after
//!   `FROM`, `JOIN`, `INTO`, `UPDATE` or `TABLE`, or glued to a word or a `.` is an error.
//! - Bindings inside comments are left as comment text and never evaluated.

mod bind;
mod lexer;

use std::fmt;

pub use bind::Dialect;

/// Parses SQL text with `{{ }}` bindings.
///
/// NOTE: single-quoted literals are read as standard SQL, where a backslash is an ordinary
/// character (PostgreSQL with `standard_conforming_strings`, SQLite). MySQL's default backslash
/// escapes inside `'...'` are not understood, so a literal such as `'it\'s'` fails to parse
/// with MySQL; write `'it''s'` instead.
pub fn parse(sql: &str) -> Result<Template, TemplateError> {
    lexer::parse(sql)
}

/// SQL text split into plain text and bindings.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pieces: Vec<Piece>,
    /// True when the plain text contains `?`, which MySQL and SQLite read as a placeholder.
    has_question_mark: bool,
    /// True when the plain text contains a positional parameter such as `$1`.
    has_dollar_parameter: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Binding(Binding),
    Literal(Literal),
}

#[derive(Debug, Clone, PartialEq)]
struct Binding {
    expression: String,
    /// Byte offset of the `{{` in the SQL text.
    offset: usize,
}

/// A string literal with at least one binding inside it.
#[derive(Debug, Clone, PartialEq)]
struct Literal {
    /// `E`, `N`, `B` or `X` before the quote, or empty.
    prefix: String,
    open: String,
    close: String,
    parts: Vec<LiteralPart>,
}

#[derive(Debug, Clone, PartialEq)]
enum LiteralPart {
    /// Literal text exactly as written, with its escapes.
    Text(String),
    Binding(Binding),
}

impl Template {
    /// Returns the expression text of each binding, in order of appearance.
    pub fn expressions(&self) -> Vec<&str> {
        self.bindings()
            .map(|binding| binding.expression.as_str())
            .collect()
    }

    /// Returns true when the SQL contains no bindings.
    pub fn is_plain(&self) -> bool {
        self.bindings().next().is_none()
    }

    fn bindings(&self) -> impl Iterator<Item = &Binding> {
        self.pieces.iter().flat_map(|piece| match piece {
            Piece::Text(_) => Vec::new(),
            Piece::Binding(binding) => vec![binding],
            Piece::Literal(literal) => literal
                .parts
                .iter()
                .filter_map(|part| match part {
                    LiteralPart::Binding(binding) => Some(binding),
                    LiteralPart::Text(_) => None,
                })
                .collect(),
        })
    }
}

/// An error from parsing or binding templated SQL.
#[derive(Debug, Clone, PartialEq)]
pub enum TemplateError {
    /// A `{{`, string literal, quoted identifier or block comment is never closed.
    Unclosed { what: &'static str, offset: usize },
    /// `{{ }}` with nothing inside.
    EmptyExpression { offset: usize },
    /// A binding in a place that names a table, column or other identifier.
    Identifier { expression: String, offset: usize },
    /// The number of values differs from the number of bindings.
    ValueCount { expected: usize, actual: usize },
    /// A value that cannot be bound where it is used, such as an array inside a literal.
    InvalidValue { expression: String, message: String },
    /// The plain text uses a placeholder syntax that would clash with the bound parameters.
    Placeholder { message: String },
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::Unclosed { what, offset } => {
                write!(f, "the {what} at byte {offset} is never closed")
            }
            TemplateError::EmptyExpression { offset } => {
                write!(f, "the `{{{{ }}}}` at byte {offset} has no expression")
            }
            TemplateError::Identifier { expression, offset } => write!(
                f,
                "`{{{{ {expression} }}}}` at byte {offset} is in an identifier position; table \
                 and column names cannot be templated, only values"
            ),
            TemplateError::ValueCount { expected, actual } => write!(
                f,
                "the SQL has {expected} bindings but {actual} values were given"
            ),
            TemplateError::InvalidValue {
                expression,
                message,
            } => {
                write!(f, "the value of `{{{{ {expression} }}}}` {message}")
            }
            TemplateError::Placeholder { message } => f.write_str(message),
        }
    }
}

impl std::error::Error for TemplateError {}

#[cfg(test)]
mod tests;
