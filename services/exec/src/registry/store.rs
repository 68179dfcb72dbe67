//! Storage of uploaded plugins. Every function takes the workspace id, and every query is
//! scoped by it.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, SqlErr, TransactionTrait,
};
use uuid::Uuid;

use super::entity::{component, internal_host, plugin};
use crate::{ExecError, Manifest};

/// A stored plugin, without its component bytes.
#[derive(Debug, Clone)]
pub struct PluginRecord {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub manifest: Manifest,
    pub content_hash: String,
    pub size_bytes: u64,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// Stores a validated plugin and its component bytes.
pub async fn insert_plugin(
    db: &DatabaseConnection,
    workspace_id: Uuid,
    manifest: &Manifest,
    content_hash: &str,
    wasm: &[u8],
    created_by: Option<Uuid>,
) -> Result<PluginRecord, ExecError> {
    let now = Utc::now();
    let id = Uuid::now_v7();
    let manifest_json = serde_json::to_value(manifest).context("serializing a manifest")?;
    let transaction = db.begin().await.context("starting a transaction")?;

    let blob = component::ActiveModel {
        workspace_id: Set(workspace_id),
        content_hash: Set(content_hash.to_string()),
        bytes: Set(wasm.to_vec()),
        created_at: Set(now),
    };
    let keep_existing = OnConflict::columns([
        component::Column::WorkspaceId,
        component::Column::ContentHash,
    ])
    .do_nothing()
    .to_owned();
    component::Entity::insert(blob)
        .on_conflict(keep_existing)
        .do_nothing()
        .exec(&transaction)
        .await
        .context("storing component bytes")?;

    let row = plugin::ActiveModel {
        id: Set(id),
        workspace_id: Set(workspace_id),
        plugin_key: Set(manifest.id.clone()),
        version: Set(manifest.version.clone()),
        name: Set(manifest.name.clone()),
        description: Set(manifest.description.clone()),
        manifest: Set(manifest_json),
        content_hash: Set(content_hash.to_string()),
        size_bytes: Set(wasm.len() as i64),
        created_by: Set(created_by),
        created_at: Set(now),
    };
    let inserted = plugin::Entity::insert(row).exec(&transaction).await;
    if let Err(error) = inserted {
        if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
            return Err(ExecError::Conflict(format!(
                "the workspace already has version {} of the connector `{}`; raise the version \
                 to upload a new build",
                manifest.version, manifest.id
            )));
        }
        return Err(anyhow::Error::new(error).context("storing a plugin").into());
    }
    transaction.commit().await.context("committing a plugin")?;

    Ok(PluginRecord {
        id,
        workspace_id,
        manifest: manifest.clone(),
        content_hash: content_hash.to_string(),
        size_bytes: wasm.len() as u64,
        created_by,
        created_at: now,
    })
}

/// Lists one page of the workspace's plugins, newest first, with the total count.
pub async fn list_plugins(
    db: &DatabaseConnection,
    workspace_id: Uuid,
    offset: u64,
    limit: u64,
) -> Result<(Vec<PluginRecord>, u64), ExecError> {
    let query = plugin::Entity::find().filter(plugin::Column::WorkspaceId.eq(workspace_id));
    let total = query.clone().count(db).await.context("counting plugins")?;
    let rows = query
        .order_by_desc(plugin::Column::CreatedAt)
        .order_by_desc(plugin::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await
        .context("listing plugins")?;
    let records = rows.into_iter().map(to_record).collect::<Result<_, _>>()?;
    Ok((records, total))
}

/// Loads the workspace's plugin with this id, if it has one.
pub async fn get_plugin(
    db: &DatabaseConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<PluginRecord>, ExecError> {
    let row = plugin::Entity::find_by_id(id)
        .filter(plugin::Column::WorkspaceId.eq(workspace_id))
        .one(db)
        .await
        .context("loading a plugin")?;
    row.map(to_record).transpose()
}

/// Loads the bytes of a component the workspace uploaded.
pub async fn component_bytes(
    db: &DatabaseConnection,
    workspace_id: Uuid,
    content_hash: &str,
) -> Result<Option<Vec<u8>>, ExecError> {
    let row = component::Entity::find_by_id((workspace_id, content_hash.to_string()))
        .one(db)
        .await
        .context("loading component bytes")?;
    Ok(row.map(|row| row.bytes))
}

/// Deletes the workspace's plugin, and its component bytes when no other plugin row of the
/// workspace uses them. Returns whether the plugin existed.
pub async fn delete_plugin(
    db: &DatabaseConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<PluginRecord>, ExecError> {
    let transaction = db.begin().await.context("starting a transaction")?;
    let row = plugin::Entity::find_by_id(id)
        .filter(plugin::Column::WorkspaceId.eq(workspace_id))
        .one(&transaction)
        .await
        .context("loading a plugin")?;
    let Some(row) = row else {
        return Ok(None);
    };

    plugin::Entity::delete_many()
        .filter(plugin::Column::WorkspaceId.eq(workspace_id))
        .filter(plugin::Column::Id.eq(id))
        .exec(&transaction)
        .await
        .context("deleting a plugin")?;

    let still_used = plugin::Entity::find()
        .filter(plugin::Column::WorkspaceId.eq(workspace_id))
        .filter(plugin::Column::ContentHash.eq(row.content_hash.clone()))
        .count(&transaction)
        .await
        .context("counting component users")?;
    if still_used == 0 {
        component::Entity::delete_many()
            .filter(component::Column::WorkspaceId.eq(workspace_id))
            .filter(component::Column::ContentHash.eq(row.content_hash.clone()))
            .exec(&transaction)
            .await
            .context("deleting component bytes")?;
    }
    transaction
        .commit()
        .await
        .context("committing a plugin deletion")?;
    to_record(row).map(Some)
}

fn to_record(row: plugin::Model) -> Result<PluginRecord, ExecError> {
    let manifest: Manifest =
        serde_json::from_value(row.manifest).context("a stored manifest is not readable")?;
    Ok(PluginRecord {
        id: row.id,
        workspace_id: row.workspace_id,
        manifest,
        content_hash: row.content_hash,
        size_bytes: row.size_bytes.max(0) as u64,
        created_by: row.created_by,
        created_at: row.created_at,
    })
}

/// Loads the workspace's plugin with this connector id and version.
pub async fn find_plugin_by_key(
    db: &DatabaseConnection,
    workspace_id: Uuid,
    plugin_key: &str,
    version: &str,
) -> Result<Option<PluginRecord>, ExecError> {
    let row = plugin::Entity::find()
        .filter(plugin::Column::WorkspaceId.eq(workspace_id))
        .filter(plugin::Column::PluginKey.eq(plugin_key))
        .filter(plugin::Column::Version.eq(version))
        .one(db)
        .await
        .context("loading a plugin by connector id")?;
    row.map(to_record).transpose()
}

/// Returns the internal hosts a workspace's admins allowed, in name order.
pub async fn list_internal_hosts(
    db: &DatabaseConnection,
    workspace_id: Uuid,
) -> Result<Vec<String>, ExecError> {
    let rows = internal_host::Entity::find()
        .filter(internal_host::Column::WorkspaceId.eq(workspace_id))
        .order_by_asc(internal_host::Column::Host)
        .all(db)
        .await
        .context("listing internal hosts")?;
    Ok(rows.into_iter().map(|row| row.host).collect())
}

/// Replaces a workspace's internal hosts with `hosts` in one transaction.
pub async fn replace_internal_hosts(
    db: &DatabaseConnection,
    workspace_id: Uuid,
    hosts: &[String],
    created_by: Option<Uuid>,
) -> Result<(), ExecError> {
    let now = Utc::now();
    let transaction = db.begin().await.context("starting a transaction")?;

    internal_host::Entity::delete_many()
        .filter(internal_host::Column::WorkspaceId.eq(workspace_id))
        .exec(&transaction)
        .await
        .context("removing internal hosts")?;

    let rows = hosts.iter().map(|host| internal_host::ActiveModel {
        workspace_id: Set(workspace_id),
        host: Set(host.clone()),
        created_by: Set(created_by),
        created_at: Set(now),
    });
    if !hosts.is_empty() {
        internal_host::Entity::insert_many(rows)
            .exec(&transaction)
            .await
            .context("storing internal hosts")?;
    }

    transaction
        .commit()
        .await
        .context("committing internal hosts")?;
    Ok(())
}
