#!/usr/bin/env python3
"""Load penguins.csv into a table `penguins` of a new SQLite file.

Usage: load_penguins.py CSV_FILE SQLITE_FILE

`NA` in the CSV becomes NULL. An existing table is replaced.
"""

import csv
import sqlite3
import sys

COLUMNS = [
    ("species", "TEXT NOT NULL"),
    ("island", "TEXT NOT NULL"),
    ("bill_length_mm", "REAL"),
    ("bill_depth_mm", "REAL"),
    ("flipper_length_mm", "INTEGER"),
    ("body_mass_g", "INTEGER"),
    ("sex", "TEXT"),
    ("year", "INTEGER NOT NULL"),
]


def convert(value, column_type):
    if value == "NA":
        return None
    if column_type.startswith("REAL"):
        return float(value)
    if column_type.startswith("INTEGER"):
        return int(value)
    return value


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: load_penguins.py CSV_FILE SQLITE_FILE")
    csv_path, sqlite_path = sys.argv[1], sys.argv[2]

    with open(csv_path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        names = [name for name, _ in COLUMNS]
        if reader.fieldnames != names:
            sys.exit(f"{csv_path}: expected the columns {names}, found {reader.fieldnames}")
        rows = [
            tuple(convert(row[name], column_type) for name, column_type in COLUMNS)
            for row in reader
        ]

    connection = sqlite3.connect(sqlite_path)
    with connection:
        connection.execute("DROP TABLE IF EXISTS penguins")
        definition = ", ".join(f"{name} {column_type}" for name, column_type in COLUMNS)
        connection.execute(f"CREATE TABLE penguins (id INTEGER PRIMARY KEY, {definition})")
        placeholders = ", ".join("?" for _ in COLUMNS)
        connection.executemany(
            f"INSERT INTO penguins ({', '.join(names)}) VALUES ({placeholders})", rows
        )
    connection.close()
    print(f"loaded {len(rows)} rows into {sqlite_path}")


if __name__ == "__main__":
    main()
