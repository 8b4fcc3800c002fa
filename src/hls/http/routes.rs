//! What each request is answered: media and master playlists (blocking reload, delta
//! updates), segments, parts and init segments (held while about to be published), the player
//! pages when they are on; other methods than GET, HEAD and OPTIONS are refused. With signing
//! on, a GET or HEAD is answered only under a valid playback token.

use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{self};
use hyper::{Method, Request, StatusCode};
use onair_hls_packager::{DeliveryDirectives, OriginPath};
use tracing::debug;

use super::cache::CacheRule;
use super::cors;
use super::pages;
use super::response::{error, media_type, response, Resp, PLAYLIST};
use super::wait::{block_limit, first_segment_limit, until_decided, Step};
use super::HttpOriginConfig;
use crate::hls::stream::{LiveHls, RenditionIndex, StreamState};
use crate::hls::{HlsOrigin, PlaybackSigning};

/// What every request of a connection needs from the configuration.
#[derive(Debug, Clone)]
pub(super) struct Options {
    segment_max_age: u64,
    player_pages: bool,
    player_script: Option<Bytes>,
    signing: Option<PlaybackSigning>,
}

impl Options {
    pub(super) fn new(config: &HttpOriginConfig) -> Self {
        Self {
            segment_max_age: config.segment_max_age.as_secs(),
            player_pages: config.player_pages,
            player_script: config.player_script.clone(),
            signing: config.signing.clone(),
        }
    }
}

/// Answers one request.
pub(super) async fn handle(origin: &HlsOrigin, opts: &Options, req: Request<Incoming>) -> Resp {
    // HEAD gets the same headers; hyper leaves the body out.
    match *req.method() {
        Method::GET | Method::HEAD => {
            let requested = req.uri().path();
            let unsigned;
            let path = match &opts.signing {
                // hls.js for the player pages is public; everything else is the streams'
                Some(signing) if !(opts.player_pages && requested == pages::HLS_JS_PATH) => {
                    match signing.verify(requested, origin.wall_clock()) {
                        Ok(path) => {
                            unsigned = path;
                            unsigned.as_str()
                        }
                        Err(e) => {
                            debug!(path = requested, error = %e, "playback token refused");
                            return error(StatusCode::FORBIDDEN);
                        }
                    }
                }
                _ => requested,
            };
            if opts.player_pages {
                if path == "/" || path.ends_with('/') {
                    return pages::page(origin, path, opts.player_script.is_some());
                }
                if let (Some(js), pages::HLS_JS_PATH) = (&opts.player_script, path) {
                    return pages::player_script(js);
                }
            }
            get(origin, opts.segment_max_age, path, req.uri().query()).await
        }
        Method::OPTIONS => cors::preflight(&req),
        _ => {
            let mut r = error(StatusCode::METHOD_NOT_ALLOWED);
            r.headers_mut().insert(header::ALLOW, cors::methods());
            r
        }
    }
}

async fn get(origin: &HlsOrigin, max_age: u64, path: &str, query: Option<&str>) -> Resp {
    let Some(OriginPath { app, name, file }) = OriginPath::parse(path) else {
        return error(StatusCode::NOT_FOUND);
    };
    let Some(stream) = origin.stream(&app, &name) else {
        return error(StatusCode::NOT_FOUND);
    };
    let target = origin.config().segment_duration;
    if file == "master.m3u8" {
        master(&stream, target).await
    } else if file.ends_with(".m3u8") {
        playlist(&stream, &file, target, query.unwrap_or("")).await
    } else {
        let format = origin.config().format;
        match media_file(&stream, &file, target).await {
            Ok(data) => response(
                StatusCode::OK,
                data,
                media_type(&file, format),
                CacheRule::media(max_age),
            ),
            Err(code) => error(code),
        }
    }
}

/// The master playlist. A player that starts with the publisher waits for the first
/// segment of every rendition, which is when bandwidths and codecs are known.
async fn master(stream: &LiveHls, target: Duration) -> Resp {
    let text = until_decided(
        stream,
        first_segment_limit(target),
        StatusCode::NOT_FOUND,
        |state| {
            if state.publishing && !state.settled() {
                return Step::AwaitRenditions;
            }
            if state.renditions().next().is_none() {
                return Step::Answer(Err(StatusCode::NOT_FOUND));
            }
            let waiting = state
                .unready()
                .map_or(Step::Answer(Ok(())), |index| first_segment(state, index));
            waiting.and_then(|ready| Step::Answer(ready.map(|()| state.master())))
        },
    )
    .await;
    match text.and_then(|t| t) {
        Ok(text) => response(
            StatusCode::OK,
            Bytes::from(text),
            PLAYLIST,
            CacheRule::playlist(target),
        ),
        Err(code) => error(code),
    }
}

/// Waits for rendition `index`'s first whole segment (an LL-HLS playlist of parts only would
/// stop players that ignore parts, and its target duration is not settled until a segment
/// closed); a stream whose publisher left before that is 404.
fn first_segment(state: &StreamState, index: RenditionIndex) -> Step<Result<(), StatusCode>> {
    match state.rendition(index) {
        Some(r) if r.ready() => Step::Answer(Ok(())),
        Some(r) if state.publishing && !r.packager.is_published(r.first_sequence(), None) => {
            Step::Park {
                rendition: index,
                msn: r.first_sequence(),
                part: None,
            }
        }
        _ => Step::Answer(Err(StatusCode::NOT_FOUND)),
    }
}

/// A media playlist: as is, or once it holds what a blocking reload asks for.
async fn playlist(stream: &LiveHls, file: &str, target: Duration, query: &str) -> Resp {
    // a ladder's playlists exist once it announced its renditions
    let found = until_decided(
        stream,
        first_segment_limit(target),
        StatusCode::NOT_FOUND,
        |state| match state.by_playlist(file) {
            Some((index, r)) => Step::Answer(Some((index, r.packager.config().part_duration))),
            None if state.publishing && !state.settled() => Step::AwaitRenditions,
            None => Step::Answer(None),
        },
    )
    .await;
    let Ok(Some((index, part_duration))) = found else {
        return error(StatusCode::NOT_FOUND);
    };
    let low_latency = part_duration.is_some();
    let directives = if low_latency {
        DeliveryDirectives::from_query(query)
    } else {
        // delivery directives belong to LL-HLS playlists (CAN-BLOCK-RELOAD); ignore them
        DeliveryDirectives::default()
    };
    // the playlist is taken under the lock that decided it may be answered
    let body = |state: &StreamState| {
        let r = state.rendition(index);
        let body = if directives.skip {
            r.and_then(|r| r.media_playlist_skip())
        } else {
            r.and_then(|r| r.media_playlist())
        };
        Step::Answer(body.ok_or(StatusCode::NOT_FOUND))
    };
    let (answer, cache) = match directives.msn {
        Some(msn) => {
            let part = directives.part;
            // Blocking playlist reload (RFC 8216bis 6.2.5.2).
            let answer = until_decided(
                stream,
                block_limit(target),
                StatusCode::SERVICE_UNAVAILABLE,
                |state| {
                    let Some(r) = state.rendition(index) else {
                        return Step::Answer(Err(StatusCode::NOT_FOUND));
                    };
                    if r.packager.is_published(msn, part) {
                        return body(state);
                    }
                    // More than two segments ahead of the last one: the client is confused.
                    let last = r.packager.last_published().map_or(0, |(m, _)| m);
                    if msn > last + 2 || !state.publishing {
                        return Step::Answer(Err(StatusCode::BAD_REQUEST));
                    }
                    Step::Park {
                        rendition: index,
                        msn,
                        part,
                    }
                },
            )
            .await;
            (answer, CacheRule::blocking_playlist(target))
        }
        // A plain request before the first segment waits a little for it rather than answer
        // 404, so that a player starting with the publisher does not give up.
        None => {
            let answer = until_decided(
                stream,
                first_segment_limit(target),
                StatusCode::NOT_FOUND,
                |state| {
                    first_segment(state, index).and_then(|ready| match ready {
                        Ok(()) => body(state),
                        Err(code) => Step::Answer(Err(code)),
                    })
                },
            )
            .await;
            (answer, CacheRule::playlist(target))
        }
    };
    match answer.and_then(|a| a) {
        Ok(body) => response(StatusCode::OK, body, PLAYLIST, cache),
        Err(code) => error(code),
    }
}

/// A segment, part or init segment, as the buffer the packager made. One about to be
/// published (an LL-HLS preload hint, or a client slightly ahead) is held until it exists;
/// anything else missing, such as a segment that aged out of its grace period, is 404.
async fn media_file(stream: &LiveHls, file: &str, target: Duration) -> Result<Bytes, StatusCode> {
    until_decided(
        stream,
        block_limit(target),
        StatusCode::NOT_FOUND,
        |state| {
            for (index, r) in state.renditions() {
                if let Some(data) = r.file(file) {
                    return Step::Answer(Some(data));
                }
                if !state.publishing {
                    continue;
                }
                if let Some((msn, part)) = r.upcoming(file) {
                    return Step::Park {
                        rendition: index,
                        msn,
                        part,
                    };
                }
            }
            Step::Answer(None)
        },
    )
    .await?
    .ok_or(StatusCode::NOT_FOUND)
}
