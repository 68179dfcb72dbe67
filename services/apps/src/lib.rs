//! The apps service: resources with encrypted config, apps with draft revisions and
//! releases, actions, app access rules and the audit log.

pub mod catalog;
pub mod changes;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod rotation;
mod routes;
pub mod run_cache;
pub mod runs;
pub mod secrets;
pub mod storage;

use std::sync::{Arc, RwLock};

use actix_web::web;
use sea_orm::DatabaseConnection;

pub use catalog::{
    CatalogError, ConnectionTest, ConnectorCatalog, ConnectorManifest, OperationListing,
    OperationManifest,
};
pub use crypto::EncryptionKeys;
pub use domain::access::AppAccess;
pub use domain::config::SecretConfig;
pub use routes::{configure, AppsApi};
pub use run_cache::RunCache;

/// Everything the apps handlers share.
pub struct AppsState {
    pub db: DatabaseConnection,
    pub catalog: Arc<dyn ConnectorCatalog>,
    keys: RwLock<Arc<EncryptionKeys>>,
    /// Actions loaded for runs (see [`run_cache`]).
    pub run_cache: Arc<RunCache>,
}

impl AppsState {
    /// Builds the state. On PostgreSQL it also starts the task that follows other processes'
    /// changes (see [`changes`]), so it must run inside a Tokio runtime.
    pub fn new(
        db: DatabaseConnection,
        keys: EncryptionKeys,
        catalog: Arc<dyn ConnectorCatalog>,
    ) -> AppsState {
        let run_cache = trellis_notify::follower_for(&db, changes::CHANNEL, RunCache::new);
        AppsState {
            db,
            catalog,
            keys: RwLock::new(Arc::new(keys)),
            run_cache,
        }
    }

    /// Returns the current key ring.
    pub fn keys(&self) -> Arc<EncryptionKeys> {
        self.keys.read().expect("key ring lock poisoned").clone()
    }

    /// Replaces the key ring, after a rotation or a reload of the key files.
    pub fn set_keys(&self, keys: EncryptionKeys) {
        *self.keys.write().expect("key ring lock poisoned") = Arc::new(keys);
    }
}

/// Shared app data of the apps service.
pub type AppsData = web::Data<AppsState>;
