//! What browsers need of the server, on the gRPC port: gRPC-Web (tonic-web) over HTTP/1.1 or
//! HTTP/2, CORS for the origins given by `--cors-allowed-origin` (tower-http), and the leaders'
//! dashboard's files (`dashboard`).
//!
//! `WebLayer` is the outermost layer of the server. It sorts each request once, by its head:
//!
//! - a GET or HEAD that is not a gRPC call is a request for a dashboard file;
//! - a native gRPC call (HTTP/2, not gRPC-Web, not a preflight) goes straight to the gRPC
//!   stack, through exactly the layers it went through before gRPC-Web existed;
//! - everything else (gRPC-Web calls, CORS preflights, other HTTP/1.1 requests) goes through
//!   CORS and tonic-web into the same gRPC stack, so the call log, the token check and the
//!   refusal rewriting apply to gRPC-Web calls as they do to native ones. tonic-web answers
//!   HTTP/1.1 requests that are not gRPC-Web with 400.
//!
//! A gRPC-Web call that carries an `Origin` that is neither the server's own (the origin of the
//! dashboard it serves) nor an allowed one is refused with HTTP 403 before it reaches a service:
//! a browser would withhold the answer from such a page anyway, and the call is not run.

pub mod dashboard;

use futures_util::future::Either;
use std::future::{Ready, ready};
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use tonic::body::Body;
use tonic_web::{GrpcWebLayer, GrpcWebService};
use tower::{Layer, Service};
use tower_http::cors::{AllowOrigin, Cors, CorsLayer};

/// Checks an `--cors-allowed-origin` value: `scheme://host[:port]`, scheme http or https,
/// nothing after the authority but an optional `/` (dropped). `*` is refused: the API's calls
/// carry tokens, so every origin allowed is named.
pub fn parse_origin(text: &str) -> Result<String, String> {
    let trimmed = text.trim().trim_end_matches('/');
    let bad = || {
        format!(
            "{text:?} is not an origin like https://dashboard.example.gov.cn or http://127.0.0.1:8080 \
             (scheme, host and optional port; no path, no wildcard)"
        )
    };
    let uri: http::Uri = trimmed.parse().map_err(|_| bad())?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    let authority_ok = uri
        .authority()
        .is_some_and(|a| !a.host().is_empty() && !a.as_str().contains('@'));
    let rest_ok = uri.path_and_query().is_none_or(|p| p.as_str() == "/");
    if !scheme_ok || !authority_ok || !rest_ok || HeaderValue::from_str(trimmed).is_err() {
        return Err(bad());
    }
    Ok(trimmed.to_ascii_lowercase())
}

/// The response headers a gRPC-Web client reads and a browser hides from cross-origin pages
/// unless they are exposed.
const EXPOSED: [&str; 4] = [
    "grpc-status",
    "grpc-message",
    "grpc-status-details-bin",
    "grpc-encoding",
];

/// The request headers gRPC-Web clients (Connect-ES, grpc-web) send.
const ALLOWED: [&str; 7] = [
    "authorization",
    "content-type",
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
    "grpc-accept-encoding",
    "connect-protocol-version",
];

/// The server's front layer (see the module comment).
#[derive(Clone, Debug)]
pub struct WebLayer {
    allowed_origins: Vec<HeaderValue>,
    cors: CorsLayer,
}

impl WebLayer {
    /// `allowed_origins` as `parse_origin` returns them; empty allows no other origin.
    pub fn new(allowed_origins: &[String]) -> Self {
        let allowed_origins: Vec<HeaderValue> = allowed_origins
            .iter()
            .map(|origin| HeaderValue::from_str(origin).expect("checked by parse_origin"))
            .collect();
        let cors = CorsLayer::new()
            .allow_origin(AllowOrigin::list(allowed_origins.clone()))
            .allow_methods([Method::POST])
            .allow_headers(ALLOWED.map(HeaderName::from_static))
            .expose_headers(EXPOSED.map(HeaderName::from_static))
            .max_age(Duration::from_secs(24 * 3600));
        Self {
            allowed_origins,
            cors,
        }
    }
}

impl<S: Clone> Layer<S> for WebLayer {
    type Service = WebFront<S>;

    fn layer(&self, grpc: S) -> Self::Service {
        WebFront {
            web: self.cors.layer(GrpcWebLayer::new().layer(grpc.clone())),
            grpc,
            allowed_origins: self.allowed_origins.clone(),
        }
    }
}

/// See the module comment.
#[derive(Clone, Debug)]
pub struct WebFront<S> {
    grpc: S,
    web: Cors<GrpcWebService<S>>,
    allowed_origins: Vec<HeaderValue>,
}

impl<S> Service<Request<Body>> for WebFront<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Error: Into<tower::BoxError> + std::fmt::Display,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Either<
        Ready<Result<Response<Body>, S::Error>>,
        Either<S::Future, <Cors<GrpcWebService<S>> as Service<Request<Body>>>::Future>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Both paths end in the same gRPC stack (always ready: nothing in it buffers or limits).
        if self.grpc.poll_ready(cx)?.is_pending() {
            return Poll::Pending;
        }
        Service::<Request<Body>>::poll_ready(&mut self.web, cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let is_grpc_web = content_type_starts(&request, "application/grpc-web");
        if matches!(*request.method(), Method::GET | Method::HEAD)
            && !content_type_starts(&request, "application/grpc")
        {
            return Either::Left(ready(Ok(dashboard::respond(&request))));
        }
        if request.version() == Version::HTTP_2
            && !is_grpc_web
            && request.method() != Method::OPTIONS
        {
            return Either::Right(Either::Left(self.grpc.call(request)));
        }
        if is_grpc_web && !self.origin_allowed(&request) {
            return Either::Left(ready(Ok(forbidden_origin())));
        }
        Either::Right(Either::Right(self.web.call(request)))
    }
}

impl<S> WebFront<S> {
    /// No `Origin` (not a browser, or a same-origin request that sent none), the server's own
    /// origin, or one of the allowed.
    fn origin_allowed<B>(&self, request: &Request<B>) -> bool {
        let Some(origin) = request.headers().get(header::ORIGIN) else {
            return true;
        };
        if self.allowed_origins.iter().any(|allowed| allowed == origin) {
            return true;
        }
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| request.uri().authority().map(|a| a.as_str()));
        let own = origin.to_str().ok().and_then(|o| {
            o.strip_prefix("http://")
                .or_else(|| o.strip_prefix("https://"))
        });
        matches!((own, host), (Some(own), Some(host)) if own.eq_ignore_ascii_case(host))
    }
}

fn content_type_starts<B>(request: &Request<B>, prefix: &str) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(prefix))
}

fn forbidden_origin() -> Response<Body> {
    let mut response = Response::new(Body::new(http_body_util::Full::new(
        bytes::Bytes::from_static(
            b"this origin may not call the API: start the server with --cors-allowed-origin\n",
        ),
    )));
    *response.status_mut() = StatusCode::FORBIDDEN;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::parse_origin;

    #[test]
    fn origins() {
        assert_eq!(
            parse_origin("https://Dashboard.example.gov.cn/").unwrap(),
            "https://dashboard.example.gov.cn"
        );
        assert_eq!(
            parse_origin("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        for bad in [
            "*",
            "",
            "example.gov.cn",
            "ftp://example.gov.cn",
            "https://example.gov.cn/app",
            "https://example.gov.cn?x=1",
            "https://user@example.gov.cn",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
