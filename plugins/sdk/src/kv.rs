//! A key-value store private to the workspace and connector that run the call.

use crate::bindings::trellis::connector::kv as wit;
use crate::Error;

/// Reads a value.
pub fn get(key: &str) -> Result<Option<Vec<u8>>, Error> {
    wit::get(key).map_err(from_wit)
}

/// Stores a value, expiring after `ttl_seconds` when given.
pub fn set(key: &str, value: &[u8], ttl_seconds: Option<u32>) -> Result<(), Error> {
    wit::set(key, value, ttl_seconds).map_err(from_wit)
}

/// Removes a key and returns whether it existed.
pub fn delete(key: &str) -> Result<bool, Error> {
    wit::delete(key).map_err(from_wit)
}

fn from_wit(error: wit::KvError) -> Error {
    match error {
        wit::KvError::Invalid(message) => Error::LimitExceeded(message),
        wit::KvError::Unavailable(message) => Error::Internal(message),
    }
}
