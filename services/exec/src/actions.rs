//! Action loading for runs: from the apps service, in process or over its internal API.

use std::sync::{Arc, Weak};
use std::time::Duration;

use actix_web::web;
use trellis_apps::error::AppsError;
use trellis_apps::runs::{self, ActionForRun, PublicApp, Stage};
use trellis_apps::AppsState;
use trellis_tokens::SERVICE_TOKEN_HEADER;
use uuid::Uuid;

use crate::ExecError;

/// Loads actions as stored, so a caller can never change what a run does.
#[async_trait::async_trait]
pub trait ActionSource: Send + Sync {
    /// Loads an action with its resource's decrypted config. Returns `NotFound` when the app,
    /// the action (in that stage) or the resource is not in the workspace.
    async fn action_for_run(
        &self,
        workspace_id: Uuid,
        app_id: Uuid,
        action_id: Uuid,
        stage: Stage,
    ) -> Result<Arc<ActionForRun>, ExecError>;

    /// Resolves a public link id to its app, when the app is public and released.
    async fn public_app(&self, public_id: Uuid) -> Result<Option<PublicApp>, ExecError>;
}

/// The apps service in the same process. The apps state references the exec state through its
/// connector catalog, so this side keeps a weak reference. A strong one would make a cycle,
/// and a stopped server would keep both states, their database pools and the engine.
pub struct LocalActions {
    apps: Weak<AppsState>,
}

impl LocalActions {
    pub fn new(apps: &web::Data<AppsState>) -> LocalActions {
        LocalActions {
            apps: Arc::downgrade(apps),
        }
    }

    fn apps(&self) -> Result<Arc<AppsState>, ExecError> {
        self.apps.upgrade().ok_or_else(|| {
            ExecError::Internal(anyhow::anyhow!(
                "the apps service of this process has stopped"
            ))
        })
    }
}

fn from_apps(error: AppsError) -> ExecError {
    match error {
        AppsError::NotFound(what) => ExecError::NotFound(what),
        other => ExecError::Internal(anyhow::anyhow!("loading an action failed: {other}")),
    }
}

#[async_trait::async_trait]
impl ActionSource for LocalActions {
    async fn action_for_run(
        &self,
        workspace_id: Uuid,
        app_id: Uuid,
        action_id: Uuid,
        stage: Stage,
    ) -> Result<Arc<ActionForRun>, ExecError> {
        let apps = self.apps()?;
        runs::load_action_for_run(&apps, workspace_id, app_id, action_id, stage)
            .await
            .map_err(from_apps)
    }

    async fn public_app(&self, public_id: Uuid) -> Result<Option<PublicApp>, ExecError> {
        let apps = self.apps()?;
        runs::find_public_app(&apps, public_id)
            .await
            .map_err(from_apps)
    }
}

/// The apps service in another process, reached over its internal API.
pub struct HttpActions {
    base_url: String,
    service_token: String,
    client: reqwest::Client,
}

impl HttpActions {
    pub fn new(base_url: &str, service_token: &str) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(2))
            .build()
            .expect("an HTTP client with default TLS builds");
        HttpActions {
            base_url: base_url.trim_end_matches('/').to_string(),
            service_token: service_token.to_string(),
            client,
        }
    }

    /// Sends a GET to the apps service; `Ok(None)` on 404.
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        url: String,
    ) -> Result<Option<T>, ExecError> {
        let failed = |error: reqwest::Error| {
            ExecError::Internal(anyhow::anyhow!("the apps service did not respond: {error}"))
        };
        let response = self
            .client
            .get(url)
            .header(SERVICE_TOKEN_HEADER, &self.service_token)
            .send()
            .await
            .map_err(failed)?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = response.error_for_status().map_err(failed)?;
        response.json().await.map(Some).map_err(failed)
    }
}

#[async_trait::async_trait]
impl ActionSource for HttpActions {
    async fn action_for_run(
        &self,
        workspace_id: Uuid,
        app_id: Uuid,
        action_id: Uuid,
        stage: Stage,
    ) -> Result<Arc<ActionForRun>, ExecError> {
        let stage = match stage {
            Stage::Draft => "draft",
            Stage::LatestRelease => "latest_release",
        };
        let url = format!(
            "{}/internal/v1/workspaces/{workspace_id}/apps/{app_id}/actions/{action_id}/for-run?stage={stage}",
            self.base_url
        );
        self.get::<ActionForRun>(url)
            .await?
            .map(Arc::new)
            .ok_or(ExecError::NotFound("The action"))
    }

    async fn public_app(&self, public_id: Uuid) -> Result<Option<PublicApp>, ExecError> {
        let url = format!("{}/internal/v1/public-apps/{public_id}", self.base_url);
        self.get(url).await
    }
}
