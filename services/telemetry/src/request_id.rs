//! Request ids: taken from `X-Request-Id` when well-formed, generated otherwise, echoed on the
//! response and carried on the request's tracing span.

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;

use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::HttpMessage;
use tracing::Instrument;

/// Header that carries the request id both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Maximum length of a request id taken from a client.
const MAX_LENGTH: usize = 128;

/// The request id, stored in request extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Middleware that assigns request ids and opens the request span.
#[derive(Debug, Clone, Default)]
pub struct RequestIdMiddleware;

impl<S, B> Transform<S, ServiceRequest> for RequestIdMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = RequestIdService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequestIdService {
            service: Rc::new(service),
        }))
    }
}

pub struct RequestIdService<S> {
    service: Rc<S>,
}

/// Accepts ids of visible ASCII letters, digits and `-_.:` only, so a log line or header
/// can never be forged through one.
fn well_formed(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LENGTH
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

impl<S, B> Service<ServiceRequest> for RequestIdService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let incoming = request
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|value| value.to_str().ok())
            .filter(|id| well_formed(id))
            .map(str::to_string);
        let id = incoming.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        request.extensions_mut().insert(RequestId(id.clone()));

        let span = tracing::info_span!(
            "request",
            request_id = %id,
            method = %request.method(),
            path = %request.path(),
        );
        let service = self.service.clone();
        let scoped = trellis_problem::REQUEST_ID
            .scope(id.clone(), async move { service.call(request).await });

        Box::pin(
            async move {
                let mut response = scoped.await?;
                if let Ok(value) = HeaderValue::from_str(&id) {
                    response
                        .headers_mut()
                        .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
                }
                Ok(response)
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::well_formed;

    #[test]
    fn request_id_accepts_uuid() {
        assert!(well_formed("4f1d2c1e-1111-4a4a-9999-0123456789ab"));
    }

    #[test]
    fn request_id_rejects_injection() {
        assert!(!well_formed("abc\r\nX-Evil: 1"));
        assert!(!well_formed("a b"));
        assert!(!well_formed(""));
        assert!(!well_formed(&"a".repeat(129)));
    }
}
