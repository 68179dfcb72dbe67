//! Column definitions shared by every service's migrations.

use sea_orm_migration::prelude::*;

/// Builds a required UUID column.
pub fn id(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).uuid().not_null().to_owned()
}

/// Builds a required timestamp column with time zone.
pub fn time(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

/// Builds a nullable timestamp column with time zone.
pub fn optional_time(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

/// Builds a required string column.
pub fn text(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).string().not_null().to_owned()
}
