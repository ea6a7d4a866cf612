//! The EventService as the server mounts it: the two stream RPCs (WatchEvents and
//! StreamSubscription) are answered here, every other method by the generated server.
//!
//! tonic's generated server encodes each response message into a per-call buffer and frames
//! it. For an event stream that is the largest part of a delivery's cost: one event sent to
//! 10,000 streams was 10,000 encodings of the same bytes. Here a stream's messages arrive
//! already framed (`EventStream` yields whole gRPC messages, and streams that take the same
//! batch share one encoding), and the response body hands them to HTTP/2 unchanged. Requests
//! are decoded as tonic decodes them (same decoder, message limit and compression rules), and
//! a stream's end is reported in trailers exactly as tonic reports it.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::Frame;
use tokio_stream::{Stream, StreamExt};
use tonic::body::Body;
use tonic::codec::{Codec, Streaming};
use tonic::server::NamedService;
use tonic::{Request, Status};

use super::codec::LeanCodec;
use super::connection::{Backpressure, ConnectionInfo, Registration};
use crate::api::events::EventApi;
use crate::events::stream::EventStream;
use crate::proto::v1::{self, event_service_server::EventServiceServer};

const WATCH_EVENTS: &str = "/pipeline.v1.EventService/WatchEvents";
const STREAM_SUBSCRIPTION: &str = "/pipeline.v1.EventService/StreamSubscription";

/// The EventService routes (see the module comment).
#[derive(Clone)]
pub struct EventRoutes {
    api: EventApi,
    generated: EventServiceServer<EventApi>,
    max_message_bytes: usize,
}

impl EventRoutes {
    pub fn new(api: EventApi, max_message_bytes: usize) -> Self {
        Self {
            generated: EventServiceServer::new(api.clone())
                .max_decoding_message_size(max_message_bytes)
                .max_encoding_message_size(max_message_bytes),
            api,
            max_message_bytes,
        }
    }
}

impl NamedService for EventRoutes {
    const NAME: &'static str = <EventServiceServer<EventApi> as NamedService>::NAME;
}

impl tower::Service<http::Request<Body>> for EventRoutes {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = tonic::codegen::BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let limit = self.max_message_bytes;
        match request.uri().path() {
            WATCH_EVENTS => {
                let api = self.api.clone();
                let gate = gate_of(&request);
                Box::pin(async move {
                    let opened = match decode::<v1::WatchEventsRequest>(request, limit).await {
                        Ok(request) => api.watch(request).await,
                        Err(status) => Err(status),
                    };
                    Ok(respond(opened, gate))
                })
            }
            STREAM_SUBSCRIPTION => {
                let api = self.api.clone();
                let gate = gate_of(&request);
                Box::pin(async move {
                    let opened = match decode::<v1::StreamSubscriptionRequest>(request, limit).await
                    {
                        Ok(request) => api.stream_subscription_events(request).await,
                        Err(status) => Err(status),
                    };
                    Ok(respond(opened, gate))
                })
            }
            _ => {
                let mut generated = self.generated.clone();
                Box::pin(async move { tower::Service::call(&mut generated, request).await })
            }
        }
    }
}

/// Reads a unary request message as tonic's server does.
async fn decode<M>(request: http::Request<Body>, limit: usize) -> Result<Request<M>, Status>
where
    M: prost::Message + Default + Send + 'static,
{
    // No compression is enabled on this server, so only identity is accepted (tonic's rule
    // and message).
    if let Some(encoding) = request.headers().get("grpc-encoding")
        && encoding.as_bytes() != b"identity"
    {
        let mut status = Status::unimplemented(format!(
            "Content is compressed with `{}` which isn't supported",
            String::from_utf8_lossy(encoding.as_bytes())
        ));
        status.metadata_mut().insert(
            "grpc-accept-encoding",
            tonic::metadata::MetadataValue::from_static("identity"),
        );
        return Err(status);
    }
    let (mut parts, body) = request.into_parts();
    let decoder = LeanCodec::<v1::WatchEventsResponse, M>::default().decoder();
    let mut messages = Box::pin(Streaming::new_request(decoder, body, None, Some(limit)));
    let message = messages
        .next()
        .await
        .transpose()?
        .ok_or_else(|| Status::internal("Missing request message."))?;
    if let Some(trailers) = messages.trailers().await? {
        parts.headers.extend(trailers.into_headers());
    }
    Ok(Request::from_http(http::Request::from_parts(
        parts, message,
    )))
}

/// The backpressure of the connection a request came on (absent when the server was not
/// started by `app::run`, as in unit tests of the routes).
fn gate_of(request: &http::Request<Body>) -> Option<Arc<Backpressure>> {
    ConnectionInfo::of(request.extensions()).map(|info| info.backpressure.clone())
}

/// The response of a stream RPC: the stream's messages, or the status it was refused with.
fn respond(
    opened: Result<EventStream, Status>,
    gate: Option<Arc<Backpressure>>,
) -> http::Response<Body> {
    match opened {
        Ok(stream) => {
            let mut response = http::Response::new(Body::new(FramedBody {
                stream: Some(stream),
                span: tracing::Span::current(),
                gate,
                registration: Registration::NONE,
            }));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/grpc"),
            );
            response
        }
        Err(status) => status.into_http(),
    }
}

/// An HTTP body of already-framed gRPC messages, ending with the stream's status in trailers.
struct FramedBody {
    /// None once the trailers are sent.
    stream: Option<EventStream>,
    /// The call's span, for the line logged at the end.
    span: tracing::Span,
    /// The connection's backpressure: no message is produced while its socket takes nothing
    /// (see `transport::connection`).
    gate: Option<Arc<Backpressure>>,
    registration: Registration,
}

impl http_body::Body for FramedBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = &mut *self;
        let Some(stream) = this.stream.as_mut() else {
            return Poll::Ready(None);
        };
        if let Some(gate) = &this.gate
            && gate.poll_open(cx, &mut this.registration).is_pending()
        {
            return Poll::Pending;
        }
        let end = match Pin::new(stream).poll_next(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Some(Ok(message))) => return Poll::Ready(Some(Ok(Frame::data(message)))),
            Poll::Ready(Some(Err(status))) => status,
            Poll::Ready(None) => Status::ok(""),
        };
        self.stream = None;
        self.span.in_scope(|| {
            tracing::info!(
                grpc_status = end.code() as i32,
                message = end.message(),
                "stream ended"
            )
        });
        let mut trailers = http::HeaderMap::new();
        if let Err(status) = end.add_header(&mut trailers) {
            return Poll::Ready(Some(Err(status)));
        }
        Poll::Ready(Some(Ok(Frame::trailers(trailers))))
    }

    fn is_end_stream(&self) -> bool {
        self.stream.is_none()
    }
}
