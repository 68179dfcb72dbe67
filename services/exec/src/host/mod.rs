//! The imports a connector is granted, one module per capability.

pub mod guard;
pub mod http;
pub mod kv;
pub mod log;
pub mod network;
pub mod sql;

use crate::runtime::HostState;

/// The backends behind the imports, shared by every call.
pub struct Services {
    pub http: http::HttpSettings,
    pub kv: kv::KvStore,
    pub sql: sql::SqlPools,
}

impl Services {
    /// Services with default limits and the given key-value store.
    pub fn new(kv: kv::KvStore) -> Self {
        Services {
            http: http::HttpSettings::default(),
            kv,
            sql: sql::SqlPools::new(sql::SqlSettings::default()),
        }
    }
}

impl crate::runtime_bindings::types::Host for HostState {}
