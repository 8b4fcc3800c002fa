//! CORS: players on pages of any origin may read the streams (the media is public, the
//! origin takes no credentials).

use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, StatusCode};

use super::cache::CacheRule;
use super::response::{response, Resp};

/// The methods the origin answers (also the `Allow` of a 405).
pub(super) fn methods() -> HeaderValue {
    HeaderValue::from_static("GET, HEAD, OPTIONS")
}

/// Every answer, errors included, may be read by any page.
pub(super) fn allow_any_origin(headers: &mut HeaderMap) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
}

/// The preflight of a cross-origin request: any origin may GET, with any request headers
/// (Range, for one).
pub(super) fn preflight(req: &Request<Incoming>) -> Resp {
    let mut r = response(
        StatusCode::NO_CONTENT,
        bytes::Bytes::new(),
        "text/plain",
        CacheRule::static_file(),
    );
    let h = r.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, methods());
    let allow_headers = req
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or(HeaderValue::from_static("*"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allow_headers);
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    r
}
