//! Rows as objects keyed by the header row, both ways: read rows into objects, and objects
//! into rows ordered like the header.

use std::collections::{BTreeMap, BTreeSet};

use trellis_connector_sdk::{Error, Value};

use crate::a1::column_letters;

/// Returns the text of a header cell: strings as they are, numbers and booleans as Sheets
/// shows them.
fn cell_text(cell: &Value) -> String {
    match cell {
        Value::String(text) => text.clone(),
        Value::Bool(true) => "TRUE".into(),
        Value::Bool(false) => "FALSE".into(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Names the columns of a read range: the header cell's trimmed text, or the column's letters
/// where the header cell is blank or the column lies past the header. `first_column` is the 1-based
/// column where the range starts.
pub(crate) fn column_names(
    header: &[Value],
    width: usize,
    first_column: u32,
    range: &str,
) -> Result<Vec<String>, Error> {
    let mut names = Vec::with_capacity(width);
    let mut seen = BTreeSet::new();
    for index in 0..width.max(header.len()) {
        let text = header.get(index).map(cell_text).unwrap_or_default();
        let text = text.trim().to_string();
        let name = if text.is_empty() {
            column_letters(first_column + index as u32)
        } else {
            text
        };
        if !seen.insert(name.clone()) {
            return Err(Error::InvalidInput(format!(
                "the header row of {range} names the column `{name}` twice; rename one, or read \
                 with `header: false` to get the rows as arrays"
            )));
        }
        names.push(name);
    }
    Ok(names)
}

/// Turns rows into objects keyed by `names`; a cell that the row leaves out is `null`.
pub(crate) fn to_objects(names: &[String], rows: &[Value]) -> Vec<Value> {
    rows.iter()
        .map(|row| {
            let cells = row.as_array().map(Vec::as_slice).unwrap_or_default();
            let object = names
                .iter()
                .enumerate()
                .map(|(index, name)| {
                    (
                        name.clone(),
                        cells.get(index).cloned().unwrap_or(Value::Null),
                    )
                })
                .collect();
            Value::Object(object)
        })
        .collect()
}

/// Turns the rows of an append into arrays. Objects are placed by the header's column names;
/// a column the object leaves out is `null`, which Google leaves empty. Arrays pass as they
/// are. Every cell must be a string, number, boolean or `null`.
pub(crate) fn to_rows(
    rows: &[Value],
    header: Option<&[String]>,
    header_range: &str,
) -> Result<Vec<Value>, Error> {
    let mut unknown: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for (index, row) in rows.iter().enumerate() {
        let number = index + 1;
        match row {
            Value::Array(cells) => {
                for cell in cells {
                    check_cell(cell, number, None)?;
                }
                out.push(row.clone());
            }
            Value::Object(fields) => {
                let header = header.unwrap_or_default();
                let mut cells = vec![Value::Null; header.len()];
                for (name, cell) in fields {
                    check_cell(cell, number, Some(name))?;
                    let mut positions = header.iter().enumerate().filter(|(_, h)| *h == name);
                    match (positions.next(), positions.next()) {
                        (Some((position, _)), None) => cells[position] = cell.clone(),
                        (Some(_), Some(_)) => {
                            return Err(Error::InvalidInput(format!(
                                "the header row {header_range} has the column `{name}` twice, \
                                 so row {number} cannot be placed; rename one of them or send \
                                 the rows as arrays"
                            )))
                        }
                        (None, _) => {
                            unknown.entry(name.clone()).or_insert(number);
                        }
                    }
                }
                while cells.last().is_some_and(Value::is_null) {
                    cells.pop();
                }
                out.push(Value::Array(cells));
            }
            _ => {
                return Err(Error::InvalidInput(format!(
                    "row {number} of `rows` must be an object keyed by column name or an array \
                     of cells"
                )))
            }
        }
    }
    if !unknown.is_empty() {
        let names: Vec<String> = unknown
            .iter()
            .map(|(name, row)| format!("`{name}` (row {row})"))
            .collect();
        let header: Vec<String> = header
            .unwrap_or_default()
            .iter()
            .filter(|name| !name.is_empty())
            .map(|name| format!("`{name}`"))
            .collect();
        return Err(Error::InvalidInput(format!(
            "the rows have columns that are not in the header row {header_range}: {}; the \
             header row has {}",
            names.join(", "),
            header.join(", ")
        )));
    }
    Ok(out)
}

fn check_cell(cell: &Value, row: usize, column: Option<&str>) -> Result<(), Error> {
    if matches!(cell, Value::Array(_) | Value::Object(_)) {
        let at = match column {
            Some(name) => format!("row {row}, column `{name}`"),
            None => format!("row {row}"),
        };
        return Err(Error::InvalidInput(format!(
            "{at}: a cell must be a string, number, boolean or null, not a list or an object"
        )));
    }
    Ok(())
}

/// Returns the header names of a header row read from the sheet, from the table's first column
/// to its last. A blank header cell gives an empty name, which no object key matches.
pub(crate) fn header_names(row: &[Value], first: u32, last: Option<u32>) -> Vec<String> {
    let start = (first as usize).saturating_sub(1);
    let end = last.map_or(row.len(), |last| (last as usize).min(row.len()));
    row.get(start..end.max(start))
        .unwrap_or_default()
        .iter()
        .map(|cell| cell_text(cell).trim().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use trellis_connector_sdk::json;

    use super::*;

    fn names(values: &[&str]) -> Vec<String> {
        values.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn blank_and_extra_columns_named_by_letter() {
        let header = [json!(" species "), json!(" "), json!(2024)];

        let columns = column_names(&header, 4, 2, "Sheet1!B1:E9").unwrap();

        assert_eq!(columns, names(&["species", "C", "2024", "E"]));
    }

    #[test]
    fn duplicate_header_rejected() {
        let header = [json!("island"), json!("island")];

        let error = column_names(&header, 2, 1, "Sheet1!A1:B2").unwrap_err();

        assert!(matches!(error, Error::InvalidInput(ref m) if m.contains("`island` twice")));
    }

    #[test]
    fn short_rows_padded_with_null() {
        let rows = [json!(["Adelie", "Torgersen"]), json!(["Gentoo"])];

        let objects = to_objects(&names(&["species", "island"]), &rows);

        assert_eq!(objects[1], json!({ "species": "Gentoo", "island": null }));
    }

    #[test]
    fn objects_ordered_like_header() {
        let header = names(&["species", "island", "mass"]);
        let rows = [
            json!({ "mass": 3750, "species": "Adelie" }),
            json!(["Gentoo", "Biscoe"]),
        ];

        let out = to_rows(&rows, Some(&header), "Sheet1!1:1").unwrap();

        assert_eq!(
            out,
            vec![json!(["Adelie", null, 3750]), json!(["Gentoo", "Biscoe"])]
        );
    }

    #[test]
    fn unknown_columns_named_with_row() {
        let header = names(&["species", "island"]);
        let rows = [
            json!({ "species": "Adelie" }),
            json!({ "sex": "male", "weight": 1 }),
        ];

        let error = to_rows(&rows, Some(&header), "Sheet1!1:1").unwrap_err();

        let Error::InvalidInput(message) = error else {
            panic!("expected invalid input")
        };
        assert!(
            message.contains("`sex` (row 2), `weight` (row 2)"),
            "{message}"
        );
        assert!(message.contains("`species`, `island`"), "{message}");
    }

    #[test]
    fn nested_cell_rejected() {
        let error = to_rows(&[json!([["a"]])], None, "Sheet1!1:1").unwrap_err();

        assert!(matches!(error, Error::InvalidInput(ref m) if m.contains("row 1")));
    }

    #[test]
    fn header_names_cut_to_table() {
        let row = [
            json!("id"),
            json!("species"),
            json!("island"),
            json!("mass"),
        ];

        assert_eq!(
            header_names(&row, 2, Some(3)),
            names(&["species", "island"])
        );
        assert_eq!(header_names(&row, 1, None).len(), 4);
        assert!(header_names(&row, 9, None).is_empty());
    }
}
