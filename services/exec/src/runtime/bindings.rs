//! Host bindings for the `trellis:connector/connector` world.

wasmtime::component::bindgen!({
    path: "../../plugins/wit",
    world: "connector",
    imports: { default: async },
    exports: { default: async },
});
