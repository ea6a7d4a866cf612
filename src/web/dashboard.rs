//! The leaders' dashboard's files, embedded in the binary from `web/dist/` (built from `web/src`
//! by esbuild and committed; see web/README.md for why) and served at `/`.
//!
//! A request path is looked up as a key of the embedded table and nothing else: no file system,
//! no directory listing, no decoding. `/` is `index.html`; any other path is its name in
//! `web/dist` or 404, so `/../Cargo.toml`, `/%2e%2e/…` or `/..%5c…` are just keys that are not
//! in the table. rust-embed's `debug-embed` feature keeps debug builds embedding too (without
//! it they would read the folder at run time).

use std::borrow::Cow;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use rust_embed::RustEmbed;
use tonic::body::Body;

#[derive(RustEmbed)]
#[folder = "web/dist/"]
struct Files;

/// What the dashboard's pages may load and call: its own files and its own origin only.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The answer to a GET or HEAD outside the gRPC paths.
pub fn respond<B>(request: &Request<B>) -> Response<Body> {
    let path = request.uri().path();
    let key = match path {
        "/" => "index.html",
        other => other.strip_prefix('/').unwrap_or(other),
    };
    let Some(file) = Files::get(key) else {
        return not_found();
    };
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..16]));
    let mut response = Response::builder()
        .header(header::CONTENT_TYPE, content_type(file.metadata.mimetype()))
        .header(header::CONTENT_LENGTH, file.data.len())
        .header(header::ETAG, &etag)
        // Revalidated on every load: the files change with the binary and are small.
        .header(header::CACHE_CONTROL, "no-cache")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY)
        .header(header::REFERRER_POLICY, "no-referrer");
    let unchanged = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    if unchanged {
        response = response.status(StatusCode::NOT_MODIFIED);
        return response.body(Body::empty()).expect("valid response");
    }
    let body = if request.method() == Method::HEAD {
        Body::empty()
    } else {
        let bytes = match file.data {
            Cow::Borrowed(data) => Bytes::from_static(data),
            Cow::Owned(data) => Bytes::from(data),
        };
        Body::new(http_body_util::Full::new(bytes))
    };
    response.body(body).expect("valid response")
}

fn content_type(mime: &str) -> HeaderValue {
    let text = mime.starts_with("text/") || mime == "application/javascript";
    let value = if text {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("application/octet-stream"))
}

fn not_found() -> Response<Body> {
    Response::builder()
        .status(StatusCode::NOT_FOUND)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .body(Body::new(http_body_util::Full::new(Bytes::from_static(
            b"not found\n",
        ))))
        .expect("valid response")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> Response<Body> {
        respond(&Request::get(path).body(()).unwrap())
    }

    #[test]
    fn index_and_assets_only() {
        let index = get("/");
        assert_eq!(index.status(), StatusCode::OK);
        assert_eq!(
            index.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert_eq!(get("/index.html").status(), StatusCode::OK);
        for path in [
            "/nope.js",
            "/../Cargo.toml",
            "/%2e%2e/Cargo.toml",
            "/..%2fCargo.toml",
            "/..%5cCargo.toml",
            "/dist/",
            "//index.html",
        ] {
            assert_eq!(get(path).status(), StatusCode::NOT_FOUND, "{path}");
        }
    }
}
