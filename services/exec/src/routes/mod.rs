//! HTTP routes of the plugin registry, direct invocation, action runs and usage.

mod builtins;
mod delete;
mod dto;
mod get;
mod internal;
mod internal_hosts;
mod invoke;
mod list;
mod run;
mod runs;
mod runs_dto;
mod upload;

use actix_web::web;
use utoipa::OpenApi;

pub(crate) use builtins::BuiltinBodies;

pub use dto::{
    BuiltinList, BuiltinPlugin, InvokeRequest, InvokeResponse, PluginPage, PluginResponse,
};

/// Mounts the exec routes. The app must also register `web::Data<ExecState>` and
/// `web::Data<trellis_tokens::Access>`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Routes match in the order they are added, and runs are by far the most frequent request.
    cfg.app_data(trellis_problem::path_config())
        .app_data(trellis_problem::query_config())
        .service(run::run_action)
        .service(builtins::list_builtins)
        .service(builtins::get_builtin)
        .service(upload::upload_plugin)
        .service(list::list_plugins)
        .service(get::get_plugin)
        .service(delete::delete_plugin)
        .service(invoke::invoke_plugin)
        .service(run::run_public_action)
        .service(runs::list_runs)
        .service(runs::usage)
        .service(internal_hosts::list_internal_hosts)
        .service(internal_hosts::replace_internal_hosts)
        .service(internal::describe_connector)
        .service(internal::test_connector)
        .service(internal::list_connector_operations);
}

/// OpenAPI description of the exec routes, to merge into the gateway's document.
#[derive(OpenApi)]
#[openapi(
    paths(
        builtins::list_builtins,
        builtins::get_builtin,
        upload::upload_plugin,
        list::list_plugins,
        get::get_plugin,
        delete::delete_plugin,
        invoke::invoke_plugin,
        run::run_action,
        run::run_public_action,
        runs::list_runs,
        runs::usage,
        internal_hosts::list_internal_hosts,
        internal_hosts::replace_internal_hosts,
    ),
    components(schemas(
        BuiltinList,
        BuiltinPlugin,
        PluginPage,
        PluginResponse,
        InvokeRequest,
        InvokeResponse,
        crate::Manifest,
        crate::OperationSpec,
        crate::host::log::LogLine,
        runs_dto::RunStage,
        runs_dto::RunRequest,
        runs_dto::RunResponse,
        runs_dto::RunMeta,
        runs_dto::RunOutcome,
        runs_dto::RunView,
        runs_dto::RunPage,
        runs_dto::UsageItem,
        runs_dto::UsageReport,
        internal_hosts::InternalHostList,
        crate::runs::Usage,
        trellis_problem::Problem,
    )),
    tags(
        (name = "plugins", description = "Connector plugins: built-ins, uploads and direct calls"),
        (name = "runs", description = "Action runs, the run log and usage"),
    )
)]
pub struct ExecApi;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_lists_every_plugin_route() {
        let document = ExecApi::openapi();
        let paths: Vec<&str> = document.paths.paths.keys().map(String::as_str).collect();

        assert!(paths.contains(&"/api/v1/plugins"), "{paths:?}");
        assert!(
            paths.contains(&"/api/v1/workspaces/{workspace_id}/plugins"),
            "{paths:?}"
        );
        assert!(paths.contains(&"/api/v1/workspaces/{workspace_id}/plugins/{plugin_id}"));
        assert!(paths.contains(&"/api/v1/workspaces/{workspace_id}/plugins/{plugin_id}/invoke"));
        assert!(paths
            .contains(&"/api/v1/workspaces/{workspace_id}/apps/{app_id}/actions/{action_id}/run"));
        assert!(paths.contains(&"/api/v1/public/apps/{public_id}/actions/{action_id}/run"));
        assert!(paths.contains(&"/api/v1/workspaces/{workspace_id}/runs"));
        assert!(paths.contains(&"/api/v1/workspaces/{workspace_id}/usage"));
    }
}
