//! Access tokens and the caller's identity, shared by every service.
//!
//! The auth service signs access tokens with the newest key of a [`KeyRing`] and publishes the
//! public halves as JWKS. Every service checks tokens itself with a [`Verifier`], and queries a
//! [`Directory`] (the auth service, in process or over HTTP) what role a caller holds in a
//! workspace, so a role change takes effect on the next request.

mod access;
mod claims;
mod keyring;
mod verifier;

pub use access::{
    authenticate, bearer_token, Access, AccessError, Actor, ApiKeyIdentity, Caller, Directory,
    MemberEvent, Principal, Role, API_KEY_PREFIX,
};
pub use claims::Claims;
pub use keyring::{write_private, Jwk, Jwks, KeyRing, SigningKey};
pub use verifier::{JwksSource, TokenError, Verifier};
mod remote;

pub use remote::{
    has_service_token, ApiKeyLookup, HttpDirectory, RoleAnswer, ServiceToken, SERVICE_TOKEN_HEADER,
};
