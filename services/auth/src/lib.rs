//! The auth service: users, credentials, sessions, workspaces, members, roles, invites and
//! API keys.

pub mod directory;
pub mod domain;
pub mod error;
pub mod passwords;
pub mod roles;
mod routes;
pub mod secrets;
pub mod sessions;
pub mod storage;
pub mod throttle;

use std::sync::{Arc, RwLock};

use actix_web::web;
use chrono::Duration;
use sea_orm::DatabaseConnection;
use trellis_tokens::{KeyRing, Verifier};

pub use directory::LocalDirectory;
pub use routes::{configure, AuthApi, ServiceToken};

/// Token lifetimes and limits of the auth service.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub issuer: String,
    pub audience: String,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub invite_ttl: Duration,
}

/// Everything the auth handlers share.
pub struct AuthState {
    pub db: DatabaseConnection,
    pub settings: AuthSettings,
    pub keys: Arc<RwLock<KeyRing>>,
    pub verifier: Arc<Verifier>,
    pub hasher: passwords::Hasher,
    pub throttle: throttle::Throttle,
    /// Roles kept in memory; routes that commit a membership change mark them out of date.
    pub roles: Arc<roles::RoleCache>,
}

impl AuthState {
    /// Publishes the current key ring to this process's verifier.
    pub fn publish_keys(&self) -> anyhow::Result<()> {
        let jwks = self.keys.read().expect("key ring lock poisoned").jwks()?;
        self.verifier.set_keys(&jwks);
        Ok(())
    }
}

/// Shared app data of the auth service.
pub type AuthData = web::Data<AuthState>;
