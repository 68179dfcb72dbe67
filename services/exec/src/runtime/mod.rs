//! The connector host: one engine, one linker, a pre-instantiated component per plugin, and a
//! fresh store per call that is dropped when the call ends.

pub(crate) mod bindings;
mod cache;
mod engine;
mod limits;
mod outcome;
mod state;

pub(crate) use state::HostState;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::Value;
use tokio::sync::Semaphore;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Store, UpdateDeadline};

pub use cache::{ArtifactCache, CacheOutcome};
pub use engine::{EngineSettings, EPOCH_TICK};
pub use limits::{CallLimits, Limit};
pub use outcome::RunError;

use self::bindings::{Connector, ConnectorPre};
use self::outcome::classify_failure;
use crate::host::log::LogLine;
use crate::host::Services;
use crate::manifest::Manifest;
use crate::{CallContext, ExecError};

/// Extra time beyond a call's deadline before the host abandons a call stuck in a host import.
/// Guest code itself is stopped by the epoch deadline.
const DEADLINE_GRACE: Duration = Duration::from_millis(500);

/// Settings of the runtime, from the service config.
#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    pub engine: EngineSettings,
    /// How long a call waits for a free instance slot before it is rejected.
    pub slot_wait: Duration,
    /// Maximum time a component may take to compile.
    pub compile_timeout: Duration,
    /// Folder for compiled artifacts; `None` compiles every load.
    pub cache_dir: Option<std::path::PathBuf>,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        RuntimeSettings {
            engine: EngineSettings {
                max_instances: 256,
                max_memory_bytes: 256 << 20,
            },
            slot_wait: Duration::from_secs(2),
            compile_timeout: Duration::from_secs(30),
            cache_dir: None,
        }
    }
}

/// A validated, compiled and pre-instantiated connector.
pub struct LoadedPlugin {
    pub manifest: Manifest,
    /// Hex SHA-256 of the component bytes.
    pub content_hash: String,
    /// Whether the compiled artifact came from the cache.
    pub cache: CacheOutcome,
    pre: ConnectorPre<HostState>,
}

/// One request to a connector.
#[derive(Debug, Clone)]
pub enum CallRequest {
    TestConnection {
        config: Value,
    },
    Execute {
        config: Value,
        operation: String,
        input: Value,
    },
}

/// The result of a call, with the log lines it wrote.
#[derive(Debug)]
pub struct CallReport {
    pub result: Result<Value, RunError>,
    pub logs: Vec<LogLine>,
    pub logs_dropped: u64,
    pub duration: Duration,
}

/// The connector host.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    slots: Arc<Semaphore>,
    slot_wait: Duration,
    max_memory_bytes: usize,
    compile_slots: Arc<Semaphore>,
    compile_timeout: Duration,
    cache: ArtifactCache,
    services: Arc<Services>,
}

impl Runtime {
    /// Builds the engine, links the granted imports and starts the epoch ticker.
    pub fn new(settings: RuntimeSettings, services: Services) -> anyhow::Result<Self> {
        let engine = engine::build(settings.engine)?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|error| anyhow::anyhow!("linking WASI failed: {error}"))?;
        Connector::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |state| state)
            .map_err(|error| anyhow::anyhow!("linking the connector imports failed: {error}"))?;

        let cache = ArtifactCache::open(settings.cache_dir.as_deref(), &engine)
            .context("opening the artifact cache failed")?;

        Ok(Runtime {
            engine,
            linker,
            slots: Arc::new(Semaphore::new(settings.engine.max_instances as usize)),
            slot_wait: settings.slot_wait,
            max_memory_bytes: settings.engine.max_memory_bytes,
            compile_slots: Arc::new(Semaphore::new(2)),
            compile_timeout: settings.compile_timeout,
            cache,
            services: Arc::new(services),
        })
    }

    /// Returns the engine, for benchmarks and tools.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Returns the services behind the host imports.
    pub fn services(&self) -> &Arc<Services> {
        &self.services
    }

    /// Largest memory a call may be granted, in bytes.
    pub fn max_memory_bytes(&self) -> usize {
        self.max_memory_bytes
    }

    /// Validates, compiles (or loads from the cache) and describes a component.
    ///
    /// Rejects bytes that are not a component, components that import anything beyond WASI and
    /// the connector interfaces or that do not export the connector world, components that do
    /// not compile within the compile timeout, and invalid manifests.
    pub async fn load(&self, wasm: Arc<Vec<u8>>) -> Result<Arc<LoadedPlugin>, ExecError> {
        check_component_header(&wasm)?;

        let (component, content_hash, cache) = self.compile(wasm).await?;

        let pre = self.linker.instantiate_pre(&component).map_err(|error| {
            ExecError::InvalidComponent(format!(
                "the component needs imports that connectors are not granted: {}",
                root_message(&error)
            ))
        })?;
        let pre = ConnectorPre::new(pre).map_err(|error| {
            ExecError::InvalidComponent(format!(
                "the component does not implement the trellis:connector/connector@0.1.0 \
                 world: {}",
                root_message(&error)
            ))
        })?;

        let manifest = self.describe(&pre).await?;
        Ok(Arc::new(LoadedPlugin {
            manifest,
            content_hash,
            cache,
            pre,
        }))
    }

    async fn compile(
        &self,
        wasm: Arc<Vec<u8>>,
    ) -> Result<(Component, String, CacheOutcome), ExecError> {
        let _permit = self
            .compile_slots
            .acquire()
            .await
            .map_err(|_| ExecError::Busy)?;
        let engine = self.engine.clone();
        let cache = self.cache.clone();

        // NOTE: a compile that passes the timeout keeps its blocking thread until it finishes,
        // because Cranelift cannot be cancelled. The compile permits bound how many pile up.
        let task = tokio::task::spawn_blocking(move || cache.load_or_compile(&engine, &wasm));
        let compiled = tokio::time::timeout(self.compile_timeout, task).await;

        let compiled = compiled.map_err(|_| {
            ExecError::InvalidComponent(format!(
                "the component did not compile within {} seconds",
                self.compile_timeout.as_secs()
            ))
        })?;
        let compiled = compiled.map_err(|error| ExecError::Internal(error.into()))?;
        compiled.map_err(|error| match error {
            cache::CompileError::Invalid(message) => ExecError::InvalidComponent(format!(
                "the component is malformed or truncated: {message}"
            )),
            cache::CompileError::Cache(error) => ExecError::Internal(error),
        })
    }

    async fn describe(&self, pre: &ConnectorPre<HostState>) -> Result<Manifest, ExecError> {
        let call = CallContext::describe();
        let limits = call.limits;
        let _permit = self.slots.acquire().await.map_err(|_| ExecError::Busy)?;
        let mut store = self.new_store(call);

        let described = tokio::time::timeout(limits.deadline + DEADLINE_GRACE, async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance.call_describe(&mut store).await
        })
        .await;

        let manifest = match described {
            Ok(Ok(manifest)) => manifest,
            Ok(Err(error)) => {
                let state = store.data();
                let failure = classify_failure(&error, state.limiter.fired(), &state.stderr_text());
                return Err(ExecError::InvalidComponent(format!(
                    "the component's describe export failed: {failure}"
                )));
            }
            Err(_) => {
                return Err(ExecError::InvalidComponent(
                    "the component's describe export did not return in time".into(),
                ))
            }
        };
        Manifest::from_wit(manifest).map_err(ExecError::InvalidComponent)
    }

    fn new_store(&self, call: CallContext) -> Store<HostState> {
        let deadline = Instant::now() + call.limits.deadline;
        let mut store = Store::new(
            &self.engine,
            HostState::new(self.services.clone(), call, deadline),
        );
        store.limiter(|state| &mut state.limiter);

        // Check the wall clock on every epoch tick: yield to the executor while time remains,
        // so a spinning guest cannot hold its thread, and trap once the deadline has passed.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store
    }

    /// Runs one request in a fresh store and drops the store afterwards, whatever happened.
    pub async fn call(
        &self,
        plugin: &LoadedPlugin,
        call: CallContext,
        request: &CallRequest,
    ) -> CallReport {
        let started = Instant::now();
        let limits = call.limits;

        let permit = tokio::time::timeout(self.slot_wait, self.slots.clone().acquire_owned()).await;
        let Ok(Ok(_permit)) = permit else {
            let error = RunError::limit(
                Limit::Concurrency,
                "every connector instance slot is busy; try again shortly",
            );
            return CallReport::failed(error, started);
        };

        let request = Encoded::new(request);
        if let Err(error) = check_request_size(&request, &limits) {
            return CallReport::failed(error, started);
        }
        let memory_bytes = limits.memory_bytes.min(self.max_memory_bytes);
        let call = CallContext {
            limits: CallLimits {
                memory_bytes,
                ..limits
            },
            ..call
        };

        let mut store = self.new_store(call);
        let outcome = tokio::time::timeout(limits.deadline + DEADLINE_GRACE, async {
            let instance = plugin.pre.instantiate_async(&mut store).await?;
            run_request(&instance, &mut store, &request).await
        })
        .await;

        let state = store.data_mut();
        let result = match outcome {
            Ok(Ok(Ok(output))) => parse_output(&output, limits.max_output_bytes),
            Ok(Ok(Err(error))) => Err(RunError::from(error)),
            Ok(Err(error)) => {
                let failure = classify_failure(&error, state.limiter.fired(), &state.stderr_text());
                if matches!(failure, RunError::Internal { .. }) {
                    tracing::warn!(
                        run_id = %state.call.run_id,
                        error = %error,
                        "a connector call failed in the host"
                    );
                }
                Err(failure)
            }
            Err(_) => Err(RunError::TimedOut {
                message: format!(
                    "the call did not finish within {} ms",
                    limits.deadline.as_millis()
                ),
            }),
        };
        let (logs, logs_dropped) = state.log.take();
        drop(store);

        CallReport {
            result,
            logs,
            logs_dropped,
            duration: started.elapsed(),
        }
    }
}

async fn run_request(
    instance: &Connector,
    store: &mut Store<HostState>,
    request: &Encoded<'_>,
) -> wasmtime::Result<Result<String, bindings::trellis::connector::types::ConnectorError>> {
    match request {
        Encoded::TestConnection { config } => {
            let tested = instance.call_test_connection(store, config).await?;
            Ok(tested.map(|()| "null".to_string()))
        }
        Encoded::Execute {
            config,
            operation,
            input,
        } => instance.call_execute(store, config, operation, input).await,
    }
}

impl CallReport {
    fn failed(error: RunError, started: Instant) -> Self {
        CallReport {
            result: Err(error),
            logs: Vec::new(),
            logs_dropped: 0,
            duration: started.elapsed(),
        }
    }
}

/// A request's config and input as the JSON text the connector receives, serialized once for
/// both the size check and the call.
enum Encoded<'a> {
    TestConnection {
        config: String,
    },
    Execute {
        config: String,
        operation: &'a str,
        input: String,
    },
}

impl<'a> Encoded<'a> {
    fn new(request: &'a CallRequest) -> Self {
        match request {
            CallRequest::TestConnection { config } => Encoded::TestConnection {
                config: config.to_string(),
            },
            CallRequest::Execute {
                config,
                operation,
                input,
            } => Encoded::Execute {
                config: config.to_string(),
                operation,
                input: input.to_string(),
            },
        }
    }

    fn size(&self) -> usize {
        match self {
            Encoded::TestConnection { config } => config.len(),
            Encoded::Execute {
                config,
                operation,
                input,
            } => config.len() + operation.len() + input.len(),
        }
    }
}

fn check_request_size(request: &Encoded<'_>, limits: &CallLimits) -> Result<(), RunError> {
    let size = request.size();
    if size > limits.max_input_bytes {
        return Err(RunError::limit(
            Limit::Input,
            format!(
                "the config and input are {size} bytes; the limit is {} bytes",
                limits.max_input_bytes
            ),
        ));
    }
    Ok(())
}

fn parse_output(output: &str, max_output_bytes: usize) -> Result<Value, RunError> {
    if output.len() > max_output_bytes {
        return Err(RunError::limit(
            Limit::Output,
            format!(
                "the output is {} bytes; the limit is {max_output_bytes} bytes",
                output.len()
            ),
        ));
    }
    serde_json::from_str(output).map_err(|error| {
        RunError::internal(format!("the connector returned invalid JSON: {error}"))
    })
}

/// Rejects bytes that are not a WebAssembly component before compiling them.
fn check_component_header(wasm: &[u8]) -> Result<(), ExecError> {
    const MAGIC: &[u8] = b"\0asm";
    // Bytes 4..8 are the version and layer: 1 and 0 for a core module, 0x0d and 1 for a
    // component.
    const COMPONENT_LAYER: [u8; 2] = [1, 0];

    if wasm.len() < 8 || &wasm[..4] != MAGIC {
        return Err(ExecError::InvalidComponent(
            "the file is not a WebAssembly binary (it does not start with `\\0asm`)".into(),
        ));
    }
    if wasm[6..8] != COMPONENT_LAYER {
        return Err(ExecError::InvalidComponent(
            "the file is a core WebAssembly module, not a component; build it with \
             `cargo build --target wasm32-wasip2`"
                .into(),
        ));
    }
    Ok(())
}

/// Formats a wasmtime error with its causes, which name the missing import or export.
fn root_message(error: &wasmtime::Error) -> String {
    let message = format!("{error:#}");
    message.chars().take(500).collect()
}
