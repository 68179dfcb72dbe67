//! A1 notation and spreadsheet ids: validation, and percent-encoding for URL paths.
//!
//! A range is `Sheet1!A1:D10`, `'My sheet'!A:D`, `Sheet1!5:9`, `Sheet1`, or cells alone such
//! as `A1:D10`, which Google applies to the first sheet. A name that is not a cell reference,
//! like `Sheet1` or `Penguins`, names a sheet or a named range.

/// The largest column Google Sheets has, `ZZZ`.
const MAX_COLUMN: u32 = 18_278;
/// The largest row Google Sheets has, since a spreadsheet contains at most 10 million cells.
const MAX_ROW: u32 = 10_000_000;
/// The longest range accepted, in characters.
// NOTE: Google documents no limit for a range. This one keeps URLs and messages short.
const MAX_RANGE_CHARS: usize = 1_000;

/// A validated range.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Range {
    /// The sheet part as written, quotes included, without the `!`.
    pub sheet: Option<String>,
    pub cells: Option<Cells>,
}

/// The cell part of a range, such as `A1:D10`, `A:D` or `5:9`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Cells {
    pub start: Cell,
    pub end: Option<Cell>,
}

/// One end of a cell range: a column, a row, or both, each 1-based.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Cell {
    pub column: Option<u32>,
    pub row: Option<u32>,
}

/// Parses and checks a range in A1 notation. The error describes what is wrong, and the caller
/// adds the field name.
pub(crate) fn parse(text: &str) -> Result<Range, String> {
    if text.trim().is_empty() {
        return Err("the range is empty".into());
    }
    if text.chars().count() > MAX_RANGE_CHARS {
        return Err(format!(
            "the range is longer than {MAX_RANGE_CHARS} characters"
        ));
    }
    if text.chars().any(char::is_control) {
        return Err("the range contains a control character".into());
    }

    if let Some(rest) = text.strip_prefix('\'') {
        let end = closing_quote(rest).ok_or(
            "the sheet name opens a quote `'` that is not closed; write `''` for a quote inside \
             the name",
        )?;
        let name = &rest[..end];
        if name.is_empty() {
            return Err("the quoted sheet name is empty".into());
        }
        let sheet = format!("'{name}'");
        let after = &rest[end + 1..];
        if after.is_empty() {
            return Ok(Range {
                sheet: Some(sheet),
                cells: None,
            });
        }
        let cells = after.strip_prefix('!').ok_or(
            "a quoted sheet name must be followed by `!` and cells, such as `'My sheet'!A1:D10`",
        )?;
        return Ok(Range {
            sheet: Some(sheet),
            cells: Some(parse_cells(cells)?),
        });
    }

    match text.split_once('!') {
        Some((sheet, cells)) => {
            check_unquoted_name(sheet)?;
            Ok(Range {
                sheet: Some(sheet.to_string()),
                cells: Some(parse_cells(cells)?),
            })
        }
        None => match parse_cells(text) {
            Ok(cells) => Ok(Range {
                sheet: None,
                cells: Some(cells),
            }),
            Err(_) => {
                check_unquoted_name(text)?;
                Ok(Range {
                    sheet: Some(text.to_string()),
                    cells: None,
                })
            }
        },
    }
}

/// Returns the byte offset of the quote that closes a quoted sheet name, skipping `''`.
fn closing_quote(rest: &str) -> Option<usize> {
    let bytes = rest.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'\'' {
            if bytes.get(index + 1) == Some(&b'\'') {
                index += 2;
                continue;
            }
            return Some(index);
        }
        index += 1;
    }
    None
}

/// Checks a sheet or named-range name written without quotes: letters, digits, `_` and `.`.
fn check_unquoted_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the sheet name before `!` is empty".into());
    }
    if name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.'))
    {
        return Ok(());
    }
    Err(format!(
        "`{name}` is not a valid range: quote a sheet name that has spaces or punctuation, \
         such as `'{}'!A1:D10`",
        name.split('!').next().unwrap_or(name).replace('\'', "''")
    ))
}

fn parse_cells(text: &str) -> Result<Cells, String> {
    let invalid = || {
        format!(
            "`{text}` is not a cell range in A1 notation, such as `A1`, `A1:D10`, `A:D` or `5:9`"
        )
    };
    let (start, end) = match text.split_once(':') {
        Some((start, end)) => (start, Some(end)),
        None => (text, None),
    };
    let start = parse_cell(start).ok_or_else(invalid)?;
    let end = match end {
        Some(end) => Some(parse_cell(end).ok_or_else(invalid)?),
        None => None,
    };
    match end {
        // A lone column or row (`A`, `5`) is a name, not a range.
        None if start.column.is_none() || start.row.is_none() => return Err(invalid()),
        // `A:5` mixes a whole column with a whole row.
        Some(end)
            if (start.column.is_none() && end.row.is_none())
                || (start.row.is_none() && end.column.is_none()) =>
        {
            return Err(invalid())
        }
        _ => {}
    }
    Ok(Cells { start, end })
}

/// Parses `A1`, `A`, `1`, or `$A$1`; returns `None` for anything else.
fn parse_cell(text: &str) -> Option<Cell> {
    let text = text.strip_prefix('$').unwrap_or(text);
    let letters = text.chars().take_while(char::is_ascii_alphabetic).count();
    let (column_text, rest) = text.split_at(letters);
    let rest = rest.strip_prefix('$').unwrap_or(rest);
    if rest.starts_with('$') || (column_text.is_empty() && rest.is_empty()) {
        return None;
    }
    let column = match column_text {
        "" => None,
        letters if letters.len() <= 3 => Some(column_number(letters)),
        _ => return None,
    };
    let row = match rest {
        "" => None,
        digits if digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0') => {
            Some(digits.parse::<u32>().ok().filter(|row| *row <= MAX_ROW)?)
        }
        _ => return None,
    };
    if column.is_some_and(|column| column > MAX_COLUMN) {
        return None;
    }
    Some(Cell { column, row })
}

fn column_number(letters: &str) -> u32 {
    letters.bytes().fold(0, |number, letter| {
        number * 26 + u32::from(letter.to_ascii_uppercase() - b'A' + 1)
    })
}

/// Returns the letters of a 1-based column number: 1 is `A`, 27 is `AA`.
pub(crate) fn column_letters(mut number: u32) -> String {
    let mut letters = Vec::new();
    while number > 0 {
        let rest = (number - 1) % 26;
        letters.push(b'A' + rest as u8);
        number = (number - 1) / 26;
    }
    letters.reverse();
    String::from_utf8(letters).unwrap_or_default()
}

/// Quotes a sheet title for use in a range: `It's` becomes `'It''s'`.
pub(crate) fn quote_sheet(title: &str) -> String {
    format!("'{}'", title.replace('\'', "''"))
}

impl Range {
    /// Returns the whole row where the range's table starts, such as `Sheet1!5:5`, and the
    /// 1-based first and last columns of the table within it.
    pub fn header_row(&self) -> (String, u32, Option<u32>) {
        let (row, first, last) = match self.cells {
            Some(cells) => {
                let end = cells.end.unwrap_or(cells.start);
                (
                    cells.start.row.unwrap_or(1),
                    cells.start.column.unwrap_or(1),
                    end.column,
                )
            }
            None => (1, 1, None),
        };
        let range = match &self.sheet {
            Some(sheet) => format!("{sheet}!{row}:{row}"),
            None => format!("{row}:{row}"),
        };
        (range, first, last)
    }
}

/// Checks a spreadsheet id, or takes it from a spreadsheet's URL
/// (`https://docs.google.com/spreadsheets/d/{id}/edit`).
pub(crate) fn spreadsheet_id(text: &str) -> Result<String, String> {
    let text = text.trim();
    let id = match text.split_once("/spreadsheets/d/") {
        Some((_, rest)) => rest.split(['/', '?', '#']).next().unwrap_or_default(),
        None => text,
    };
    if id.is_empty() || id.len() > 200 {
        return Err("a spreadsheet id has 1 to 200 characters".into());
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
    {
        return Err(format!(
            "`{id}` is not a spreadsheet id; it has only letters, digits, `-` and `_`, as in \
             the spreadsheet's URL after /spreadsheets/d/"
        ));
    }
    Ok(id.to_string())
}

/// Percent-encodes text for one URL path segment or one form value: every byte except the
/// unreserved characters of RFC 3986. `!` and `:` are encoded too, so a range cannot run into
/// the `:append` or `:clear` that follows it.
pub(crate) fn encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(column: Option<u32>, row: Option<u32>) -> Cell {
        Cell { column, row }
    }

    #[test]
    fn sheet_and_cells() {
        let range = parse("Sheet1!A1:D10").unwrap();

        assert_eq!(range.sheet.as_deref(), Some("Sheet1"));
        assert_eq!(
            range.cells,
            Some(Cells {
                start: cell(Some(1), Some(1)),
                end: Some(cell(Some(4), Some(10)))
            })
        );
    }

    #[test]
    fn quoted_sheet_with_quote_inside() {
        let range = parse("'Bob''s data'!B:C").unwrap();

        assert_eq!(range.sheet.as_deref(), Some("'Bob''s data'"));
        assert_eq!(
            range.cells,
            Some(Cells {
                start: cell(Some(2), None),
                end: Some(cell(Some(3), None))
            })
        );
    }

    #[test]
    fn accepted_forms() {
        for text in [
            "A1",
            "a1",
            "A1:B2",
            "A:B",
            "5:9",
            "A5:D",
            "$A$1:$D$10",
            "Sheet1",
            "Penguins",
            "Sheet1!A1",
            "'My sheet'",
            "'Q1 2024'!A1:Z",
            "Données!A1",
            "ZZZ1",
            "A10000000",
        ] {
            assert!(parse(text).is_ok(), "{text}: {:?}", parse(text));
        }
    }

    #[test]
    fn rejected_forms() {
        for text in [
            "",
            " ",
            "My sheet!A1",
            "Sheet1!",
            "Sheet1!A1:",
            "Sheet1!A0",
            "Sheet1!AAAA1",
            "'unclosed!A1",
            "'Sheet1'A1",
            "Sheet1!A:5",
            "Sheet1!A1:B2:C3",
            "a\nb",
            "Sheet1!A10000001",
            "Sheet1!1",
            "x/../y",
        ] {
            assert!(
                parse(text).is_err(),
                "{text} was accepted: {:?}",
                parse(text)
            );
        }
    }

    #[test]
    fn unquoted_name_with_space_suggests_quotes() {
        let error = parse("My sheet!A1").unwrap_err();

        assert!(error.contains("'My sheet'!A1:D10"), "{error}");
    }

    #[test]
    fn header_row_of_table() {
        let cases = [
            ("Sheet1", ("Sheet1!1:1", 1, None)),
            ("Sheet1!A:D", ("Sheet1!1:1", 1, Some(4))),
            ("'My sheet'!C5:E", ("'My sheet'!5:5", 3, Some(5))),
            ("B2", ("2:2", 2, Some(2))),
            ("Sheet1!3:9", ("Sheet1!3:3", 1, None)),
        ];
        for (text, (row, first, last)) in cases {
            let header = parse(text).unwrap().header_row();

            assert_eq!(header, (row.to_string(), first, last), "{text}");
        }
    }

    #[test]
    fn columns_round_trip() {
        for (number, letters) in [
            (1, "A"),
            (26, "Z"),
            (27, "AA"),
            (702, "ZZ"),
            (18_278, "ZZZ"),
        ] {
            assert_eq!(column_letters(number), letters);
            assert_eq!(column_number(letters), number);
        }
    }

    #[test]
    fn spreadsheet_id_from_url_or_id() {
        let id = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms";

        assert_eq!(spreadsheet_id(id).unwrap(), id);
        assert_eq!(
            spreadsheet_id(&format!(
                "https://docs.google.com/spreadsheets/d/{id}/edit#gid=0"
            ))
            .unwrap(),
            id
        );
        assert!(spreadsheet_id("../../v4/other").is_err());
        assert!(spreadsheet_id("a b").is_err());
        assert!(spreadsheet_id("").is_err());
    }

    #[test]
    fn encode_leaves_only_unreserved() {
        assert_eq!(encode("'My sheet'!A1:B2"), "%27My%20sheet%27%21A1%3AB2");
        assert_eq!(encode("Données"), "Donn%C3%A9es");
        assert_eq!(encode("a/b?c#d%"), "a%2Fb%3Fc%23d%25");
    }
}
