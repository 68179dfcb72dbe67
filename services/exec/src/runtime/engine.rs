//! The process-wide engine: pooling allocator, copy-on-write memory images and the epoch ticker
//! that drives deadlines.

use std::thread;
use std::time::Duration;

use anyhow::Context;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances; a deadline is checked at this granularity.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Number of freed slots returned to the kernel in one batch rather than one at a time. In the
/// run benchmark this raised throughput by about a tenth (BENCHMARKS.md).
const DECOMMIT_BATCH: usize = 8;

/// Bytes of each freed memory and table that are reset in place, and stay mapped, rather than
/// handed back to the kernel. On Linux 6.7 and later only the pages a call touched are reset.
const KEEP_RESIDENT_BYTES: usize = 2 * 1024 * 1024;

/// Engine settings that the host config chooses.
#[derive(Debug, Clone, Copy)]
pub struct EngineSettings {
    /// Component instances alive at once; also the size of the call semaphore.
    pub max_instances: u32,
    /// Largest memory any call may be granted, in bytes; sizes each pool slot.
    pub max_memory_bytes: usize,
}

/// Builds the engine and starts the thread that advances its epoch.
pub fn build(settings: EngineSettings) -> anyhow::Result<Engine> {
    let instances = settings.max_instances;

    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(instances)
        // A Rust wasm32-wasip2 component contains a handful of core instances and one or two
        // memories; these leave room for components built by other toolchains.
        .max_core_instances_per_component(32)
        .max_memories_per_component(4)
        .max_tables_per_component(16)
        .total_core_instances(instances * 16)
        .total_memories(instances * 2)
        .total_tables(instances * 8)
        .total_stacks(instances)
        .max_memory_size(settings.max_memory_bytes)
        .decommit_batch_size(DECOMMIT_BATCH)
        .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
        .table_keep_resident(KEEP_RESIDENT_BYTES)
        .pagemap_scan(Enabled::Auto);

    let mut config = Config::new();
    config
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .memory_init_cow(true)
        .epoch_interruption(true)
        .wasm_component_model(true)
        // Connectors are called one export at a time and need no state for concurrent calls.
        // Turning it off cut a run's CPU time by about a fifth in the run benchmark
        // (BENCHMARKS.md).
        .concurrency_support(false)
        .wasm_threads(false)
        .wasm_memory64(false)
        .wasm_gc(false)
        .max_wasm_stack(512 * 1024);

    let engine = Engine::new(&config)
        .map_err(|error| anyhow::anyhow!("configuring the wasmtime engine failed: {error}"))?;
    start_ticker(&engine)?;
    Ok(engine)
}

/// Advances the engine's epoch every [`EPOCH_TICK`] for as long as the engine lives.
fn start_ticker(engine: &Engine) -> anyhow::Result<()> {
    let weak = engine.weak();
    thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || loop {
            thread::sleep(EPOCH_TICK);
            let Some(engine) = weak.upgrade() else {
                return;
            };
            engine.increment_epoch();
        })
        .context("starting the epoch thread failed")?;
    Ok(())
}
