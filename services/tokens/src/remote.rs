//! The directory of a separate auth process, reached over its internal HTTP API.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{AccessError, ApiKeyIdentity, Directory, MemberEvent, Role};

/// Header that carries the service token on internal calls.
pub const SERVICE_TOKEN_HEADER: &str = "x-trellis-service-token";

/// Body of the internal API-key lookup.
#[derive(Debug, Serialize, Deserialize)]
pub struct ApiKeyLookup {
    pub key: String,
}

/// Response of the internal role lookup.
#[derive(Debug, Serialize, Deserialize)]
pub struct RoleAnswer {
    pub role: Option<Role>,
}

/// A [`Directory`] that calls the auth service's internal API.
pub struct HttpDirectory {
    base_url: String,
    service_token: String,
    client: reqwest::Client,
}

impl HttpDirectory {
    pub fn new(base_url: &str, service_token: &str) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("an HTTP client with default TLS builds");
        HttpDirectory {
            base_url: base_url.trim_end_matches('/').to_string(),
            service_token: service_token.to_string(),
            client,
        }
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, AccessError> {
        let unavailable = |error: reqwest::Error| AccessError::Unavailable(error.to_string());
        let response = request
            .header(SERVICE_TOKEN_HEADER, &self.service_token)
            .send()
            .await
            .map_err(unavailable)?;
        let response = response.error_for_status().map_err(unavailable)?;
        response.json::<T>().await.map_err(unavailable)
    }
}

#[async_trait::async_trait]
impl Directory for HttpDirectory {
    async fn api_key(&self, key: &str) -> Result<Option<ApiKeyIdentity>, AccessError> {
        let url = format!("{}/internal/v1/api-keys/resolve", self.base_url);
        let body = ApiKeyLookup {
            key: key.to_string(),
        };
        self.send(self.client.post(url).json(&body)).await
    }

    async fn role_of(
        &self,
        workspace_id: Uuid,
        user_id: Uuid,
    ) -> Result<Option<Role>, AccessError> {
        let url = format!(
            "{}/internal/v1/workspaces/{workspace_id}/members/{user_id}/role",
            self.base_url
        );
        let answer: RoleAnswer = self.send(self.client.get(url)).await?;
        Ok(answer.role)
    }

    async fn member_events(
        &self,
        workspace_id: Uuid,
        limit: u64,
    ) -> Result<Vec<MemberEvent>, AccessError> {
        let url = format!(
            "{}/internal/v1/workspaces/{workspace_id}/member-events",
            self.base_url
        );
        let request = self.client.get(url).query(&[("limit", limit)]);
        self.send(request).await
    }
}

/// The token other services must present on internal routes; `None` disables those routes.
/// Register it as `web::Data<ServiceToken>`.
#[derive(Clone)]
pub struct ServiceToken(pub Option<String>);

/// Checks that a request carries the configured service token, comparing in constant time.
/// Returns false when no token is configured.
pub fn has_service_token(request: &actix_web::HttpRequest) -> bool {
    use subtle::ConstantTimeEq;

    let expected = request
        .app_data::<actix_web::web::Data<ServiceToken>>()
        .and_then(|token| token.0.clone());
    let presented = request
        .headers()
        .get(SERVICE_TOKEN_HEADER)
        .and_then(|value| value.to_str().ok());
    match (expected, presented) {
        (Some(expected), Some(presented)) => expected.as_bytes().ct_eq(presented.as_bytes()).into(),
        _ => false,
    }
}
