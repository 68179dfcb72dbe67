//! Compiled artifacts on disk, keyed by the component's content hash, the wasmtime version and
//! the engine's compatibility hash.
//!
//! Deserializing an artifact runs native code from it, so only artifacts that this host
//! compiled are ever loaded. Tenants upload `.wasm` only, and the folder is created readable and
//! writable by the service user alone. Artifacts are written to a temporary file and renamed
//! into place, so a file in use never changes.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use wasmtime::component::Component;
use wasmtime::Engine;

/// Whether a load compiled the component or reused a cached artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CacheOutcome {
    Compiled,
    Cached,
}

/// The reason a load failed.
#[derive(Debug)]
pub enum CompileError {
    /// The bytes are not a valid component; the message comes from the validator.
    Invalid(String),
    /// The cache folder failed.
    Cache(anyhow::Error),
}

/// The artifact folder, or nothing when caching is off.
#[derive(Clone)]
pub struct ArtifactCache {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    dir: PathBuf,
    /// Hex SHA-256 of the wasmtime version and the engine's compatibility hash.
    engine_key: String,
}

impl ArtifactCache {
    /// Opens (creating if needed) the artifact folder for this engine.
    pub fn open(dir: Option<&Path>, engine: &Engine) -> anyhow::Result<Self> {
        let Some(dir) = dir else {
            return Ok(ArtifactCache { inner: None });
        };
        create_private_dir(dir)?;
        let engine_key = engine_key(engine);
        Ok(ArtifactCache {
            inner: Some(Arc::new(Inner {
                dir: dir.to_path_buf(),
                engine_key,
            })),
        })
    }

    /// Loads the cached artifact of `wasm`, or compiles it and stores the artifact. Blocking.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
    ) -> Result<(Component, String, CacheOutcome), CompileError> {
        let content_hash = hex::encode(Sha256::digest(wasm));
        let Some(inner) = &self.inner else {
            let component = compile(engine, wasm)?;
            return Ok((component, content_hash, CacheOutcome::Compiled));
        };

        let path = inner
            .dir
            .join(format!("{content_hash}-{}.cwasm", inner.engine_key));
        if path.exists() {
            match deserialize(engine, &path) {
                Ok(component) => return Ok((component, content_hash, CacheOutcome::Cached)),
                Err(error) => {
                    tracing::warn!(path = %path.display(), error = %error, "discarding an unreadable artifact");
                }
            }
        }

        let component = compile(engine, wasm)?;
        store(&component, &path).map_err(CompileError::Cache)?;
        Ok((component, content_hash, CacheOutcome::Compiled))
    }
}

fn compile(engine: &Engine, wasm: &[u8]) -> Result<Component, CompileError> {
    Component::new(engine, wasm).map_err(|error| {
        let message: String = format!("{error:#}").chars().take(500).collect();
        CompileError::Invalid(message)
    })
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, path: &Path) -> anyhow::Result<Component> {
    // SAFETY: the artifact was written by `store` below into a folder only this service user
    // can write, and its name binds it to this wasmtime version and engine configuration.
    // Artifacts are replaced by rename, never rewritten in place, so the file cannot change
    // while it is mapped.
    let component = unsafe { Component::deserialize_file(engine, path) };
    component.map_err(|error| anyhow::anyhow!("deserializing {} failed: {error}", path.display()))
}

fn store(component: &Component, path: &Path) -> anyhow::Result<()> {
    let bytes = component
        .serialize()
        .map_err(|error| anyhow::anyhow!("serializing a compiled component failed: {error}"))?;
    let temporary = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&temporary, &bytes)
        .with_context(|| format!("writing {} failed", temporary.display()))?;
    std::fs::rename(&temporary, path)
        .with_context(|| format!("renaming {} into place failed", temporary.display()))?;
    Ok(())
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {} failed", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let permissions = std::fs::Permissions::from_mode(0o700);
        std::fs::set_permissions(dir, permissions)
            .with_context(|| format!("restricting {} to its owner failed", dir.display()))?;
    }
    Ok(())
}

/// Hex SHA-256 of the wasmtime version and the engine's compatibility hash.
fn engine_key(engine: &Engine) -> String {
    let mut hasher = Sha256Hasher(Sha256::new());
    env!("CARGO_PKG_VERSION").hash(&mut hasher);
    wasmtime_version().hash(&mut hasher);
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hex::encode(hasher.0.finalize())[..32].to_string()
}

/// The wasmtime version this host links, as pinned in the workspace manifest.
fn wasmtime_version() -> &'static str {
    "48.0.8"
}

/// Feeds `Hash` input into SHA-256, so the key is stable across processes and Rust releases.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes(
            digest[..8]
                .try_into()
                .expect("a SHA-256 digest has 32 bytes"),
        )
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}
