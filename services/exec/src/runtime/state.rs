//! The data a store holds for one call: a locked-down WASI context, the limiter and the
//! per-call scope that the host imports read.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::limits::Limiter;
use crate::host::log::CallLog;
use crate::host::Services;
use crate::CallContext;

/// Bytes of guest stderr kept per call, enough for a panic message.
const STDERR_CAPACITY: usize = 8 * 1024;

/// Most resources (streams, pollables) a guest may hold at once through WASI.
const MAX_TABLE_RESOURCES: usize = 256;

/// Store data for one call.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: Limiter,
    pub(crate) stderr: MemoryOutputPipe,
    pub(crate) services: Arc<Services>,
    pub(crate) call: CallContext,
    pub(crate) log: CallLog,
    /// When the call's wall-clock budget runs out; host imports cut their timeouts to it.
    pub(crate) deadline: Instant,
}

impl HostState {
    /// State for one call. WASI gets no filesystem, environment, arguments, sockets or name
    /// lookup; stderr goes to a small bounded buffer and stdout is discarded.
    pub(crate) fn new(services: Arc<Services>, call: CallContext, deadline: Instant) -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        let wasi = WasiCtxBuilder::new()
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let log = CallLog::new(&call.limits);
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_TABLE_RESOURCES);
        HostState {
            wasi,
            table,
            limiter: Limiter::new(call.limits.memory_bytes),
            stderr,
            services,
            call,
            log,
            deadline,
        }
    }

    /// Returns what the guest wrote to stderr, as text.
    pub(crate) fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents()).into_owned()
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
