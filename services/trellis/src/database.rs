//! Database connections, one per service: an SQLite file per service in the data folder, or a
//! PostgreSQL schema per service.

use std::time::Duration;

use anyhow::Context;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use sea_orm_migration::MigratorTrait;
use trellis_config::Settings;

/// The services that own tables.
#[derive(Debug, Clone, Copy)]
pub enum Owner {
    Auth,
    Apps,
    Exec,
}

impl Owner {
    fn schema(self) -> &'static str {
        match self {
            Owner::Auth => "auth",
            Owner::Apps => "apps",
            Owner::Exec => "exec",
        }
    }
}

/// Connects to the service's database; SQLite files are created when missing.
pub async fn connect(settings: &Settings, owner: Owner) -> anyhow::Result<DatabaseConnection> {
    let url = match &settings.database_url {
        Some(url) => url.expose().to_string(),
        None => {
            std::fs::create_dir_all(&settings.data_dir).with_context(|| {
                format!("creating the data folder {}", settings.data_dir.display())
            })?;
            let path = settings.data_dir.join(format!("{}.sqlite", owner.schema()));
            format!("sqlite://{}?mode=rwc", path.display())
        }
    };

    let mut options = ConnectOptions::new(url.clone());
    options
        .max_connections(settings.database_max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    if settings.database_url.is_some() {
        options.set_schema_search_path(owner.schema());
    }
    // An SQLite file cannot drop a connection, so the pool skips the ping it would otherwise
    // send to the connection's worker thread before every query.
    if url.starts_with("sqlite:") {
        options.test_before_acquire(false);
    }
    // Write-ahead logging lets readers run beside the one writer, and `synchronous=NORMAL`
    // syncs at checkpoints rather than at every commit. A crash of the process loses nothing,
    // but a power cut may lose the last commits (SQLite's documented WAL behaviour).
    options.map_sqlx_sqlite_opts(|sqlite| {
        sqlite
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
    });

    let db = Database::connect(options)
        .await
        .with_context(|| format!("connecting to the {} database", owner.schema()))?;
    Ok(db)
}

/// Applies the service's pending migrations.
pub async fn migrate(db: &DatabaseConnection, owner: Owner) -> anyhow::Result<()> {
    trellis_migrations::ensure_schema(db, owner.schema()).await?;
    match owner {
        Owner::Auth => trellis_migrations::auth::Migrator::up(db, None).await,
        Owner::Apps => trellis_migrations::apps::Migrator::up(db, None).await,
        Owner::Exec => trellis_migrations::exec::Migrator::up(db, None).await,
    }
    .with_context(|| format!("applying the {} migrations", owner.schema()))
}

/// Connects to the service's database and applies its pending migrations.
pub async fn open(settings: &Settings, owner: Owner) -> anyhow::Result<DatabaseConnection> {
    let db = connect(settings, owner).await?;
    migrate(&db, owner).await?;
    Ok(db)
}

/// Connects and migrates every service's database.
pub async fn connect_all(settings: &Settings) -> anyhow::Result<Databases> {
    let auth = open(settings, Owner::Auth).await?;
    let apps = open(settings, Owner::Apps).await?;
    let exec = open(settings, Owner::Exec).await?;
    Ok(Databases { auth, apps, exec })
}

/// Connections of the services that own tables.
#[derive(Clone)]
pub struct Databases {
    pub auth: DatabaseConnection,
    pub apps: DatabaseConnection,
    pub exec: DatabaseConnection,
}
