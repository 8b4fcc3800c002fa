//! Building answers: every one carries its content type, CORS and cache rule.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use onair_hls_packager::SegmentFormat;

use super::cache::CacheRule;
use super::cors;

pub(super) type Resp = Response<Full<Bytes>>;

pub(super) const PLAYLIST: &str = "application/vnd.apple.mpegurl";

pub(super) fn response(
    status: StatusCode,
    body: Bytes,
    content_type: &'static str,
    cache: CacheRule,
) -> Resp {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    cors::allow_any_origin(h);
    h.insert(header::CACHE_CONTROL, cache.header_value());
    r
}

/// An error answer, never cached.
pub(super) fn error(status: StatusCode) -> Resp {
    let text = status.canonical_reason().unwrap_or("error");
    response(
        status,
        Bytes::from(format!("{} {text}\n", status.as_u16())),
        "text/plain; charset=utf-8",
        CacheRule::NoStore,
    )
}

/// The content type of a media file, by its extension.
pub(super) fn media_type(file: &str, format: SegmentFormat) -> &'static str {
    match file.rsplit_once('.').map(|(_, ext)| ext) {
        Some("ts") => "video/mp2t",
        Some("m4s") => "video/iso.segment",
        Some("mp4") => "video/mp4",
        Some("aac") => "audio/aac",
        Some("key") => "application/octet-stream",
        _ => match format {
            SegmentFormat::Ts => "video/mp2t",
            _ => "video/mp4",
        },
    }
}
