use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Claims of a Trellis access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// Issuer, checked against the configured issuer.
    pub iss: String,
    /// Audience, checked against the configured audience.
    pub aud: String,
    /// The user id.
    pub sub: Uuid,
    /// Expiry, in seconds since the Unix epoch.
    pub exp: i64,
    /// Not valid before, in seconds since the Unix epoch.
    pub nbf: i64,
    /// Issued at, in seconds since the Unix epoch.
    pub iat: i64,
    /// Unique token id.
    pub jti: Uuid,
}
