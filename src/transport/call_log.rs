//! One log line per call, in a span naming the method, from a layer in front of every service.
//!
//! The line is written when the response head is ready: for a call that failed it carries the
//! gRPC status (tonic and the auth layer answer errors with the status in the head), for one
//! that succeeded the time to answer. A stream logs again when it ends (`event_routes`). The
//! layer leaves response bodies alone: wrapping them (as tower-http's trace layer does) costs a
//! clock read and a span entry for every message of every event stream.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use tower::{Layer, Service};
use tracing::{Instrument, info, info_span};

/// Adds the call log to a service stack.
#[derive(Clone, Copy, Debug, Default)]
pub struct CallLogLayer;

impl<S> Layer<S> for CallLogLayer {
    type Service = CallLog<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CallLog { inner }
    }
}

#[derive(Clone, Debug)]
pub struct CallLog<S> {
    inner: S,
}

impl<S, B, R> Service<http::Request<B>> for CallLog<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let span = info_span!("call", method = %request.uri().path());
        let started = Instant::now();
        let answer = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        Box::pin(
            async move {
                let response = answer.await;
                let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
                match &response {
                    Ok(response) => match response.headers().get("grpc-status") {
                        Some(code) if code != "0" => info!(
                            latency_ms,
                            grpc_status = %String::from_utf8_lossy(code.as_bytes()),
                            "call refused"
                        ),
                        _ => info!(latency_ms, "call answered"),
                    },
                    Err(err) => info!(latency_ms, error = %err, "call failed"),
                }
                response
            }
            .instrument(span),
        )
    }
}
