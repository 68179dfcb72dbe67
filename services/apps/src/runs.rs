//! Loading of actions for runs, which the exec service calls.

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::domain::access::AppAccess;
use crate::domain::action::FrozenAction;
use crate::domain::config::{self, SecretConfig};
use crate::error::{AppsError, AppsResult};
use crate::storage::{actions, apps, releases, resources};
use crate::{secrets, AppsState};

/// Definition of an action that a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The draft, which editors run while building the app.
    Draft,
    /// The app's latest release, which viewers and public links run.
    LatestRelease,
}

/// A resource ready for a connector call. Its `Debug` output hides the secrets, but its JSON
/// form carries them, for the internal API between the apps and exec services only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResourceForRun {
    pub id: Uuid,
    pub name: String,
    pub plugin_id: String,
    pub plugin_version: String,
    /// The full config with its secrets decrypted.
    #[serde(serialize_with = "expose_config", deserialize_with = "secret_config")]
    pub config: SecretConfig,
}

/// An action loaded for a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ActionForRun {
    pub workspace_id: Uuid,
    pub app_id: Uuid,
    /// Number of the release the action comes from; `None` for the draft.
    pub release: Option<i32>,
    pub action: FrozenAction,
    pub resource: ResourceForRun,
    /// The app's current access rules; the caller decides whether the runner passes them.
    pub access: AppAccess,
}

/// Loads an action of an app for a run: the draft or the latest release's frozen copy, with its
/// resource's config decrypted and the app's access rules. Repeated loads come from the
/// state's run cache until the workspace changes.
///
/// Returns `NotFound` when the app, the action (in that stage) or its resource is not in the
/// workspace, and when `LatestRelease` is asked for an app that has no release.
pub async fn load_action_for_run(
    state: &AppsState,
    workspace_id: Uuid,
    app_id: Uuid,
    action_id: Uuid,
    stage: Stage,
) -> AppsResult<Arc<ActionForRun>> {
    let key = (app_id, action_id, stage);
    let ticket = match state.run_cache.lookup(workspace_id, key) {
        Ok(cached) => return Ok(cached),
        Err(ticket) => ticket,
    };

    let loaded = read_action_for_run(state, workspace_id, app_id, action_id, stage).await?;
    let loaded = Arc::new(loaded);

    state.run_cache.store(ticket, key, &loaded);
    Ok(loaded)
}

/// Reads an action for a run from the database.
async fn read_action_for_run(
    state: &AppsState,
    workspace_id: Uuid,
    app_id: Uuid,
    action_id: Uuid,
    stage: Stage,
) -> AppsResult<ActionForRun> {
    // Runs read only the columns they need: an app's document may be megabytes.
    let (access, action, release) = match stage {
        Stage::Draft => {
            let access = apps::find_access(&state.db, workspace_id, app_id)
                .await?
                .ok_or(AppsError::NotFound("The app"))?;
            let row = actions::find(&state.db, workspace_id, app_id, action_id)
                .await?
                .ok_or(AppsError::NotFound("The action"))?;
            (access, FrozenAction::from(&row), None)
        }
        Stage::LatestRelease => {
            let (access, number, actions) =
                releases::latest_actions_and_access(&state.db, workspace_id, app_id)
                    .await?
                    .ok_or(AppsError::NotFound("The app"))?;
            let (Some(number), Some(actions)) = (number, actions) else {
                return Err(AppsError::NotFound("A release of the app"));
            };
            let frozen: Vec<FrozenAction> = serde_json::from_value(actions)
                .map_err(|error| AppsError::Internal(error.into()))?;
            let action = frozen
                .into_iter()
                .find(|action| action.id == action_id)
                .ok_or(AppsError::NotFound("The action"))?;
            (access, action, Some(number))
        }
    };
    let access: AppAccess =
        serde_json::from_value(access).map_err(|error| AppsError::Internal(error.into()))?;

    let resource = resources::find(&state.db, workspace_id, action.resource_id)
        .await?
        .ok_or(AppsError::NotFound("The action's resource"))?;
    let opened = secrets::open(&state.keys(), &resource)?;
    let config = config::merge(resource.config.clone(), &opened);

    Ok(ActionForRun {
        workspace_id,
        app_id,
        release,
        action,
        resource: ResourceForRun {
            id: resource.id,
            name: resource.name,
            plugin_id: resource.plugin_id,
            plugin_version: resource.plugin_version,
            config,
        },
        access,
    })
}

/// The workspace and app behind a public link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicApp {
    pub workspace_id: Uuid,
    pub app_id: Uuid,
}

/// Resolves a public link id to its app, when the app is public and has a release.
pub async fn find_public_app(state: &AppsState, public_id: Uuid) -> AppsResult<Option<PublicApp>> {
    let link = apps::find_public_link(&state.db, public_id).await?;
    let Some((workspace_id, app_id, Some(_))) = link else {
        return Ok(None);
    };
    Ok(Some(PublicApp {
        workspace_id,
        app_id,
    }))
}

fn expose_config<S: Serializer>(config: &SecretConfig, serializer: S) -> Result<S::Ok, S::Error> {
    config.expose().serialize(serializer)
}

fn secret_config<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SecretConfig, D::Error> {
    serde_json::Value::deserialize(deserializer).map(SecretConfig::new)
}
