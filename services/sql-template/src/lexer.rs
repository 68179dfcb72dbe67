//! Splits SQL text into plain text, string literals that contain bindings, and `{{ }}`
//! bindings, skipping comments and quoted identifiers the way PostgreSQL, MySQL and SQLite read
//! them.

use crate::{Binding, Literal, LiteralPart, Piece, Template, TemplateError};

/// Keywords after which the next token names a table, so a binding there is an identifier.
const TABLE_KEYWORDS: &[&str] = &["FROM", "JOIN", "INTO", "UPDATE", "TABLE"];

/// Literal prefixes that change how PostgreSQL or MySQL read a string literal.
const LITERAL_PREFIXES: &[&str] = &["E", "N", "B", "X"];

pub(crate) fn parse(sql: &str) -> Result<Template, TemplateError> {
    Lexer {
        sql,
        position: 0,
        pieces: Vec::new(),
        text: String::new(),
        template: Flags::default(),
    }
    .run()
}

#[derive(Default)]
struct Flags {
    question_mark: bool,
    dollar_parameter: bool,
}

struct Lexer<'a> {
    sql: &'a str,
    position: usize,
    pieces: Vec<Piece>,
    /// Plain text not yet pushed as a piece.
    text: String,
    template: Flags,
}

impl Lexer<'_> {
    fn run(mut self) -> Result<Template, TemplateError> {
        while let Some(character) = self.peek() {
            let rest = &self.sql[self.position..];
            if rest.starts_with("{{") {
                self.binding()?;
            } else if rest.starts_with("--") {
                self.line_comment();
            } else if rest.starts_with("/*") {
                self.block_comment()?;
            } else if character == '\'' {
                self.string_literal()?;
            } else if character == '"' || character == '`' {
                self.quoted_identifier(character)?;
            } else if character == '$' {
                self.dollar()?;
            } else if character == '?' {
                self.template.question_mark = true;
                self.copy(1);
            } else {
                self.copy(character.len_utf8());
            }
        }
        self.flush();
        Ok(Template {
            pieces: self.pieces,
            has_question_mark: self.template.question_mark,
            has_dollar_parameter: self.template.dollar_parameter,
        })
    }

    fn peek(&self) -> Option<char> {
        self.sql[self.position..].chars().next()
    }

    fn copy(&mut self, length: usize) {
        self.text
            .push_str(&self.sql[self.position..self.position + length]);
        self.position += length;
    }

    fn flush(&mut self) {
        if !self.text.is_empty() {
            self.pieces
                .push(Piece::Text(std::mem::take(&mut self.text)));
        }
    }

    fn binding(&mut self) -> Result<(), TemplateError> {
        let start = self.position;
        let expression = self.expression()?;
        let previous = self.text.chars().next_back();
        let next = self.peek();
        let glued = |character: Option<char>| {
            character.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
        };
        if glued(previous) || glued(next) || self.after_table_keyword() {
            return Err(TemplateError::Identifier {
                expression,
                offset: start,
            });
        }
        self.flush();
        self.pieces.push(Piece::Binding(Binding {
            expression,
            offset: start,
        }));
        Ok(())
    }

    /// Reads `{{ expression }}` at the current position, honouring quotes inside the
    /// expression so that `{{ "}}" }}` works.
    fn expression(&mut self) -> Result<String, TemplateError> {
        let start = self.position;
        let body = &self.sql[start + 2..];
        let mut quote: Option<char> = None;
        let mut escaped = false;
        for (index, character) in body.char_indices() {
            if let Some(open) = quote {
                if escaped {
                    escaped = false;
                } else if character == '\\' {
                    escaped = true;
                } else if character == open {
                    quote = None;
                }
                continue;
            }
            if character == '\'' || character == '"' {
                quote = Some(character);
            } else if body[index..].starts_with("}}") {
                let expression = body[..index].trim().to_string();
                if expression.is_empty() {
                    return Err(TemplateError::EmptyExpression { offset: start });
                }
                self.position = start + 2 + index + 2;
                return Ok(expression);
            }
        }
        Err(TemplateError::Unclosed {
            what: "`{{`",
            offset: start,
        })
    }

    /// True when the last keyword of the pending text, ignoring whitespace, names a table.
    fn after_table_keyword(&self) -> bool {
        let trimmed = self.text.trim_end();
        let word_start = trimmed
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(0, |index| index + 1);
        let word = &trimmed[word_start..];
        TABLE_KEYWORDS
            .iter()
            .any(|keyword| word.eq_ignore_ascii_case(keyword))
    }

    fn line_comment(&mut self) {
        let rest = &self.sql[self.position..];
        let length = rest.find('\n').map_or(rest.len(), |index| index + 1);
        self.copy(length);
    }

    /// Copies a block comment; PostgreSQL nests them, so this does too.
    fn block_comment(&mut self) -> Result<(), TemplateError> {
        let start = self.position;
        let mut depth = 0usize;
        let mut index = start;
        while index < self.sql.len() {
            let rest = &self.sql[index..];
            if rest.starts_with("/*") {
                depth += 1;
                index += 2;
            } else if rest.starts_with("*/") {
                depth -= 1;
                index += 2;
                if depth == 0 {
                    self.copy(index - start);
                    return Ok(());
                }
            } else {
                index += rest.chars().next().map_or(1, char::len_utf8);
            }
        }
        Err(TemplateError::Unclosed {
            what: "block comment",
            offset: start,
        })
    }

    fn quoted_identifier(&mut self, quote: char) -> Result<(), TemplateError> {
        let start = self.position;
        let mut index = start + 1;
        loop {
            let rest = &self.sql[index..];
            let Some(character) = rest.chars().next() else {
                return Err(TemplateError::Unclosed {
                    what: "quoted identifier",
                    offset: start,
                });
            };
            if rest.starts_with("{{") {
                self.position = index;
                let expression = self.expression()?;
                return Err(TemplateError::Identifier {
                    expression,
                    offset: index,
                });
            }
            if character == quote {
                // A doubled quote stands for one quote inside the identifier.
                if rest[1..].starts_with(quote) {
                    index += 2;
                    continue;
                }
                index += 1;
                break;
            }
            index += character.len_utf8();
        }
        self.copy(index - start);
        Ok(())
    }

    /// Reads what a `$` starts: a dollar-quoted string (`$$...$$`, `$tag$...$tag$`), a
    /// positional parameter (`$1`), or the rest of a word.
    fn dollar(&mut self) -> Result<(), TemplateError> {
        let rest = &self.sql[self.position..];
        let after = &rest[1..];
        let in_word = self
            .text
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        if in_word {
            self.copy(1);
            return Ok(());
        }
        let digits = after.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 {
            self.template.dollar_parameter = true;
            self.copy(1 + digits);
            return Ok(());
        }
        let tag_length = after
            .char_indices()
            .take_while(|&(index, c)| {
                c.is_alphabetic() || c == '_' || (index > 0 && c.is_ascii_digit())
            })
            .map(|(_, c)| c.len_utf8())
            .sum::<usize>();
        if after[tag_length..].starts_with('$') {
            let delimiter = rest[..tag_length + 2].to_string();
            return self.literal(String::new(), delimiter.clone(), delimiter, false);
        }
        self.copy(1);
        Ok(())
    }

    fn string_literal(&mut self) -> Result<(), TemplateError> {
        let prefix = self.literal_prefix();
        let backslash_escapes = prefix.eq_ignore_ascii_case("E");
        self.text.truncate(self.text.len() - prefix.len());
        self.literal(prefix, "'".into(), "'".into(), backslash_escapes)
    }

    /// Returns the one-letter prefix of a literal (`E'...'`, `N'...'`) when it directly precedes it.
    fn literal_prefix(&self) -> String {
        let mut characters = self.text.chars().rev();
        let Some(last) = characters.next() else {
            return String::new();
        };
        let standalone = characters
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        let letter = last.to_string();
        let is_prefix = LITERAL_PREFIXES
            .iter()
            .any(|p| p.eq_ignore_ascii_case(&letter));
        if standalone && is_prefix {
            letter
        } else {
            String::new()
        }
    }

    /// Reads a string literal from its opening delimiter, splitting out any bindings. A literal
    /// without bindings stays in the plain text unchanged.
    fn literal(
        &mut self,
        prefix: String,
        open: String,
        close: String,
        backslash_escapes: bool,
    ) -> Result<(), TemplateError> {
        let start = self.position;
        let single_quote = close == "'";
        self.position += open.len();
        let mut parts = Vec::new();
        let mut raw = String::new();
        loop {
            let rest = &self.sql[self.position..];
            let Some(character) = rest.chars().next() else {
                return Err(TemplateError::Unclosed {
                    what: "string literal",
                    offset: start,
                });
            };
            if rest.starts_with("{{") {
                let offset = self.position;
                let expression = self.expression()?;
                parts.push(LiteralPart::Text(std::mem::take(&mut raw)));
                parts.push(LiteralPart::Binding(Binding { expression, offset }));
                continue;
            }
            if backslash_escapes && character == '\\' {
                let escaped = rest[1..].chars().next().map_or(0, char::len_utf8);
                raw.push_str(&rest[..1 + escaped]);
                self.position += 1 + escaped;
                continue;
            }
            if rest.starts_with(close.as_str()) {
                // In a quoted literal, a doubled quote stands for one quote.
                if single_quote && rest[1..].starts_with('\'') {
                    raw.push_str("''");
                    self.position += 2;
                    continue;
                }
                self.position += close.len();
                break;
            }
            raw.push(character);
            self.position += character.len_utf8();
        }
        if parts.is_empty() {
            self.text.push_str(&prefix);
            self.text.push_str(&self.sql[start..self.position]);
            return Ok(());
        }
        parts.push(LiteralPart::Text(raw));
        parts.retain(|part| !matches!(part, LiteralPart::Text(text) if text.is_empty()));
        self.flush();
        self.pieces.push(Piece::Literal(Literal {
            prefix,
            open,
            close,
            parts,
        }));
        Ok(())
    }
}
