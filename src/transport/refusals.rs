//! The answers tonic gives by itself, before any handler runs, brought under the API's error
//! contract (DESIGN §4.8: a canonical code chosen for who is at fault, and an `ErrorInfo` on
//! every error).
//!
//! tonic refuses a request it cannot read with statuses of its own: a body that is not a valid
//! protobuf message is `INTERNAL`, a message over the server's limit is `OUT_OF_RANGE`, and
//! neither carries details. Both are the client's doing, and gRPC clients expect
//! `RESOURCE_EXHAUSTED` for a message over a size limit (it is what grpc-go and grpc-java
//! answer). Such refusals are always trailers-only responses (the status in the response head,
//! no body), so this layer looks only at response heads that carry an error without details and
//! rewrites them; successful calls and the API's own errors pass untouched, and no body is
//! wrapped. What each refusal becomes is decided by `error::transport_refusal`.

use tonic::Status;
use tonic::body::Body;
use tower::util::MapResponseLayer;

use crate::api::error::transport_refusal;

/// The layer, for `Server::layer`.
pub fn layer() -> MapResponseLayer<fn(http::Response<Body>) -> http::Response<Body>> {
    MapResponseLayer::new(rewrite as fn(http::Response<Body>) -> http::Response<Body>)
}

/// `response`, with a refusal of tonic's replaced by the API's status for it.
fn rewrite(response: http::Response<Body>) -> http::Response<Body> {
    let headers = response.headers();
    let Some(code) = headers.get(Status::GRPC_STATUS) else {
        // The usual case: the status comes in trailers after the body.
        return response;
    };
    if code == "0" || headers.contains_key("grpc-status-details-bin") {
        return response;
    }
    match Status::from_header_map(headers).map(transport_refusal) {
        Some(status) => {
            let mut rewritten = status.into_http::<Body>();
            // Keep what else the head said (an accepted encoding, for instance).
            for (name, value) in response.headers() {
                if !rewritten.headers().contains_key(name) {
                    rewritten.headers_mut().insert(name.clone(), value.clone());
                }
            }
            rewritten
        }
        None => response,
    }
}
