//! The internal hosts a workspace's admins allow its connectors to reach on loopback, private
//! or link-local addresses, such as a database or model server inside the company network.

use actix_web::{get, put, web, HttpResponse};
use serde::{Deserialize, Serialize};
use trellis_problem::Json;
use trellis_tokens::{Caller, Role};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::host::network::InternalHost;
use crate::registry::store;
use crate::{ExecError, ExecState};

/// Maximum number of internal hosts one workspace may allow.
const MAX_HOSTS: usize = 50;

/// Maximum length of one entry.
const MAX_HOST_LENGTH: usize = 260;

/// A workspace's internal hosts.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InternalHostList {
    /// Entries of the form `host` or `host:port`; IPv6 literals go in brackets
    /// (`[fd00::1]:5432`). A host without a port is allowed on every port.
    #[schema(example = json!(["db.internal:5432", "10.0.0.7:8080"]))]
    pub hosts: Vec<String>,
}

/// List the hosts this workspace's connectors may reach on internal addresses.
///
/// The server's own `exec_internal_hosts` setting applies to every workspace as well and is not
/// listed here.
#[utoipa::path(
    tag = "plugins",
    params(("workspace_id" = Uuid, Path, description = "Workspace id")),
    responses(
        (status = 200, description = "The workspace's internal hosts", body = InternalHostList),
        (status = 403, description = "The caller is not an admin", body = trellis_problem::Problem),
        (status = 404, description = "No such workspace", body = trellis_problem::Problem),
    ),
    security(("bearer" = []))
)]
#[get("/api/v1/workspaces/{workspace_id}/internal-hosts")]
pub async fn list_internal_hosts(
    caller: Caller,
    path: web::Path<Uuid>,
    state: web::Data<ExecState>,
) -> Result<HttpResponse, ExecError> {
    let workspace_id = path.into_inner();
    caller.require(workspace_id, Role::Admin).await?;

    let hosts = store::list_internal_hosts(&state.db, workspace_id).await?;
    Ok(HttpResponse::Ok().json(InternalHostList { hosts }))
}

/// Replace the hosts this workspace's connectors may reach on internal addresses.
///
/// Connectors normally cannot reach loopback, private, link-local, unique-local, CGNAT or cloud
/// metadata addresses. A listed host is exempt for this workspace only, over HTTP and as a SQL
/// database server. Other exec processes apply a change within 10 seconds.
#[utoipa::path(
    tag = "plugins",
    params(("workspace_id" = Uuid, Path, description = "Workspace id")),
    request_body = InternalHostList,
    responses(
        (status = 200, description = "The stored list", body = InternalHostList),
        (status = 400, description = "An entry is not a host or host:port", body = trellis_problem::Problem),
        (status = 403, description = "The caller is not an admin", body = trellis_problem::Problem),
        (status = 404, description = "No such workspace", body = trellis_problem::Problem),
    ),
    security(("bearer" = []))
)]
#[put("/api/v1/workspaces/{workspace_id}/internal-hosts")]
pub async fn replace_internal_hosts(
    caller: Caller,
    path: web::Path<Uuid>,
    body: Json<InternalHostList>,
    state: web::Data<ExecState>,
) -> Result<HttpResponse, ExecError> {
    let workspace_id = path.into_inner();
    caller.require(workspace_id, Role::Admin).await?;

    let (texts, parsed) = validate_hosts(body.0.hosts)?;

    store::replace_internal_hosts(&state.db, workspace_id, &texts, caller.user_id()).await?;
    state.remember_internal_hosts(workspace_id, parsed);
    tracing::info!(%workspace_id, hosts = ?texts, "internal hosts replaced");
    Ok(HttpResponse::Ok().json(InternalHostList { hosts: texts }))
}

/// Checks every entry and returns them trimmed, lowercased, sorted and without duplicates,
/// beside their parsed form.
fn validate_hosts(hosts: Vec<String>) -> Result<(Vec<String>, Vec<InternalHost>), ExecError> {
    if hosts.len() > MAX_HOSTS {
        return Err(ExecError::Validation {
            field: "hosts".into(),
            message: format!(
                "`hosts` has {} entries; a workspace may allow at most {MAX_HOSTS}",
                hosts.len()
            ),
        });
    }

    let mut texts = Vec::with_capacity(hosts.len());
    for (index, host) in hosts.iter().enumerate() {
        let text = host.trim().to_ascii_lowercase();
        let valid = text.len() <= MAX_HOST_LENGTH && InternalHost::parse(&text).is_some();
        if !valid || text.is_empty() {
            return Err(ExecError::Validation {
                field: format!("hosts[{index}]"),
                message: format!(
                    "`hosts[{index}]` must be `host` or `host:port` (IPv6 in brackets, such as \
                     `[fd00::1]:5432`), not `{host}`"
                ),
            });
        }
        texts.push(text);
    }
    texts.sort();
    texts.dedup();

    let parsed = texts
        .iter()
        .filter_map(|text| InternalHost::parse(text))
        .collect();
    Ok((texts, parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_normalized() {
        let hosts = vec![
            " DB.internal:5432 ".into(),
            "[fd00::1]".into(),
            "db.internal:5432".into(),
        ];

        let (texts, parsed) = validate_hosts(hosts).unwrap();

        assert_eq!(texts, vec!["[fd00::1]", "db.internal:5432"]);
        assert_eq!(parsed.len(), 2);
    }

    #[test]
    fn invalid_entry_is_named() {
        let hosts = vec!["db.internal".into(), "http://x/path".into()];

        let Err(ExecError::Validation { field, message }) = validate_hosts(hosts) else {
            panic!("expected a validation error");
        };

        assert_eq!(field, "hosts[1]");
        assert!(message.contains("http://x/path"), "{message}");
    }

    #[test]
    fn too_many_entries_are_rejected() {
        let hosts = (0..=MAX_HOSTS).map(|n| format!("10.0.0.{n}")).collect();

        let result = validate_hosts(hosts);

        assert!(matches!(result, Err(ExecError::Validation { field, .. }) if field == "hosts"));
    }
}
