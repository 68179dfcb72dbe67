//! The connector runtime's integration suite: one test binary, so wasmtime links once.

mod support;

mod google_sheets_connector;
mod kv;
mod llm_connector;
mod load;
mod ml_connector;
mod network;
mod openapi_connector;
mod rest_connector;
mod routes;
mod sandbox;
mod slack_connector;
mod sql;
mod sql_connector;
