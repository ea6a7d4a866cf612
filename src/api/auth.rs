//! Authentication and role checks for every call, in one tower layer in front of all services.
//! It reads `authorization: Bearer <token>`, looks the token up, refuses callers whose role
//! does not cover the method (by the table in `domain::access`), and hands the principal to
//! the handlers in the request extensions. Health and reflection stay open. Scope checks that
//! need the resource (an editor's departments and townships, a subscription's owner) happen
//! where the resource is read, in the service layer (`service::scope`) and the event service.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::Status;
use tower::{Layer, Service};

use crate::domain::access::{self, Principal};
use crate::service::ServiceError;
use crate::store::Store;

/// Adds authentication to a service stack.
#[derive(Clone, Debug)]
pub struct AuthLayer {
    store: Store,
}

impl AuthLayer {
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Authenticated<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticated {
            inner,
            store: self.store.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Authenticated<S> {
    inner: S,
    store: Store,
}

/// The principal of a request, or why there is none.
async fn authenticate(
    store: &Store,
    path: &str,
    headers: &http::HeaderMap,
) -> Result<Principal, ServiceError> {
    let unauthenticated = |message: &str| ServiceError::Unauthenticated {
        message: message.to_string(),
    };
    let value = headers
        .get(http::header::AUTHORIZATION)
        .ok_or_else(|| unauthenticated("send `authorization: Bearer <token>`"))?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| unauthenticated("the authorization header must be `Bearer <token>`"))?;
    let principal = store
        .authenticate(token)
        .await?
        .ok_or_else(|| unauthenticated("the token is unknown or revoked"))?;
    let need = access::need_of(path);
    if !principal.role.allows(need) {
        return Err(ServiceError::permission_denied(format!(
            "role {} of token {:?} may not call {path}",
            principal.role.as_str(),
            principal.name
        )));
    }
    Ok(principal)
}

impl<S, B> Service<http::Request<B>> for Authenticated<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The clone that was made ready is the one that serves this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let store = self.store.clone();
        Box::pin(async move {
            let path = request.uri().path().to_string();
            if access::is_open(&path) {
                return inner.call(request).await;
            }
            match authenticate(&store, &path, request.headers()).await {
                Ok(principal) => {
                    request.extensions_mut().insert(principal);
                    inner.call(request).await
                }
                Err(err) => Ok(Status::from(err).into_http()),
            }
        })
    }
}
