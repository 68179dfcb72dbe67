//! Write Trellis connectors in plain Rust.
//!
//! A connector is a type that implements [`Connector`], exported with [`export_connector!`] and
//! built with `cargo build --release --target wasm32-wasip2`. The host calls
//! [`Connector::manifest`] once when it loads the component, then [`Connector::test_connection`]
//! and [`Connector::execute`] with the resource's config and the operation's input as JSON.
//!
//! ```ignore
//! use trellis_connector_sdk::{export_connector, json, Connector, Error, Json, Manifest, Operation};
//!
//! struct Hello;
//!
//! impl Connector for Hello {
//!     fn manifest() -> Manifest {
//!         Manifest::new("hello", "Hello", env!("CARGO_PKG_VERSION"))
//!             .operation(Operation::new("greet", json!({"type": "object"})).read_only())
//!     }
//!
//!     fn execute(_config: Json, operation: &str, input: Json) -> Result<serde_json::Value, Error> {
//!         let name: String = input.field("name")?;
//!         Ok(json!({ "greeting": format!("Hello, {name}") }))
//!     }
//! }
//!
//! export_connector!(Hello);
//! ```

// Lets the generated bindings name this crate by its public path, so connector crates need no
// direct dependency on wit-bindgen.
extern crate self as trellis_connector_sdk;

pub mod http;
pub mod kv;
pub mod log;
pub mod retry;
pub mod sql;

mod error;
mod json;
mod manifest;

pub use error::Error;
pub use json::Json;
pub use manifest::{Manifest, Operation, OPERATION_LIST_KEY};
pub use serde_json::{self, json, Value};

/// Bindings generated from the `trellis:connector` WIT package.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "connector",
        pub_export_macro: true,
        export_macro_name: "export_bindings",
        default_bindings_module: "trellis_connector_sdk::bindings",
        runtime_path: "trellis_connector_sdk::__private::wit_bindgen::rt",
    });
}

/// The behaviour of a connector.
pub trait Connector {
    /// Describes the connector: its id, version, config schema and operations.
    fn manifest() -> Manifest;

    /// Checks that the config reaches the upstream service. The default accepts any config.
    fn test_connection(config: Json) -> Result<(), Error> {
        let _ = config;
        Ok(())
    }

    /// Runs one operation and returns its result.
    fn execute(config: Json, operation: &str, input: Json) -> Result<Value, Error>;
}

/// Exports a [`Connector`] implementation as the component's `connector` world.
#[macro_export]
macro_rules! export_connector {
    ($connector:ty) => {
        struct TrellisConnectorExport;

        impl $crate::bindings::Guest for TrellisConnectorExport {
            fn describe() -> $crate::__private::WitManifest {
                $crate::__private::describe::<$connector>()
            }

            fn test_connection(config: String) -> Result<(), $crate::__private::WitError> {
                $crate::__private::test_connection::<$connector>(config)
            }

            fn execute(
                config: String,
                operation: String,
                input: String,
            ) -> Result<String, $crate::__private::WitError> {
                $crate::__private::execute::<$connector>(config, operation, input)
            }
        }

        $crate::bindings::export_bindings!(TrellisConnectorExport);
    };
}

/// Glue used by [`export_connector!`]; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;

    pub use crate::bindings::trellis::connector::types::{
        ConnectorError as WitError, Manifest as WitManifest,
    };
    use crate::{Connector, Error, Json};

    pub fn describe<C: Connector>() -> WitManifest {
        C::manifest().into_wit()
    }

    pub fn test_connection<C: Connector>(config: String) -> Result<(), WitError> {
        let config = Json::parse_config(&config).map_err(Error::into_wit)?;
        C::test_connection(config).map_err(Error::into_wit)
    }

    pub fn execute<C: Connector>(
        config: String,
        operation: String,
        input: String,
    ) -> Result<String, WitError> {
        let config = Json::parse_config(&config).map_err(Error::into_wit)?;
        let input = Json::parse_input(&input).map_err(Error::into_wit)?;
        let output = C::execute(config, &operation, input).map_err(Error::into_wit)?;
        serde_json::to_string(&output)
            .map_err(|error| Error::Internal(format!("serializing the output failed: {error}")))
            .map_err(Error::into_wit)
    }
}
