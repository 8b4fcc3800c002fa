//! The pages a person opens: the live streams at `/`, a player for one of them at
//! `/APP/NAME/`. They are HTML files of their own (`pages/`), filled in by replacing
//! `{{key}}` placeholders with HTML-escaped values.

use bytes::Bytes;
use hyper::StatusCode;
use onair_hls_packager::{percent_decode, percent_encode_segment};

use super::cache::CacheRule;
use super::response::{error, response, Resp};
use crate::hls::HlsOrigin;

const PLAYER: &str = include_str!("pages/player.html");
const STREAMS: &str = include_str!("pages/streams.html");
const STREAM_ITEM: &str = include_str!("pages/stream-item.html");
const NO_STREAMS: &str = include_str!("pages/no-streams.html");

/// Where the origin serves its own copy of hls.js, when it has one.
pub(super) const HLS_JS_PATH: &str = "/hls.min.js";
/// hls.js for the pages of an origin without its own copy.
const HLS_JS_CDN: &str = "https://cdn.jsdelivr.net/npm/hls.js@1.7.4/dist/hls.min.js";

/// `/`: the live streams; `/APP/NAME/`: a player for one of them. `own_script`: hls.js is
/// served at [`HLS_JS_PATH`].
pub(super) fn page(origin: &HlsOrigin, path: &str, own_script: bool) -> Resp {
    let html = if path == "/" {
        streams_page(origin)
    } else {
        let script = if own_script { HLS_JS_PATH } else { HLS_JS_CDN };
        match player_page(origin, path, script) {
            Some(html) => html,
            None => return error(StatusCode::NOT_FOUND),
        }
    };
    response(
        StatusCode::OK,
        Bytes::from(html),
        "text/html; charset=utf-8",
        CacheRule::NoStore,
    )
}

/// hls.js, as the configuration gave it.
pub(super) fn player_script(js: &Bytes) -> Resp {
    response(
        StatusCode::OK,
        js.clone(),
        "text/javascript",
        CacheRule::static_file(),
    )
}

fn streams_page(origin: &HlsOrigin) -> String {
    let mut items = String::new();
    for (app, name) in origin.streams() {
        let href = format!(
            "/{}/{}/",
            app.split('/')
                .map(percent_encode_segment)
                .collect::<Vec<_>>()
                .join("/"),
            percent_encode_segment(&name)
        );
        render_into(
            &mut items,
            STREAM_ITEM,
            &[("href", &href), ("app", &app), ("name", &name)],
        );
    }
    if items.is_empty() {
        items.push_str(NO_STREAMS);
    }
    // the items are markup of our own templates, their values escaped already
    STREAMS.replacen("{{streams}}", &items, 1)
}

/// The player of the stream at `/APP/NAME/`; `None` if there is no such stream.
fn player_page(origin: &HlsOrigin, path: &str, script: &str) -> Option<String> {
    let (app, name) = path
        .strip_prefix('/')
        .and_then(|p| p.strip_suffix('/'))
        .and_then(|p| p.rsplit_once('/'))
        .and_then(|(a, n)| Some((percent_decode(a)?, percent_decode(n)?)))?;
    origin.stream(&app, &name)?;
    let title = format!("{app}/{name}");
    let low_latency = if origin.config().part_duration.is_some() {
        "true"
    } else {
        "false"
    };
    let mut html = String::with_capacity(PLAYER.len() + 128);
    render_into(
        &mut html,
        PLAYER,
        &[
            ("title", &title),
            ("script", script),
            ("low_latency", low_latency),
        ],
    );
    Some(html)
}

/// Appends `template` with each `{{key}}` of `values` replaced by its value, HTML-escaped.
/// Unknown placeholders stay as they are; inserted text is never scanned again.
fn render_into(out: &mut String, template: &str, values: &[(&str, &str)]) {
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let filled = after.split_once("}}").and_then(|(key, tail)| {
            let value = values.iter().find(|(k, _)| *k == key)?.1;
            Some((value, tail))
        });
        match filled {
            Some((value, tail)) => {
                escape_into(out, value);
                rest = tail;
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
}

/// Text made safe for HTML content and quoted attribute values.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use onair_rtmp_proto::StreamName;

    use super::*;
    use crate::hls::HlsConfig;
    use crate::rtmp::StreamTap;

    fn render(template: &str, values: &[(&str, &str)]) -> String {
        let mut out = String::new();
        render_into(&mut out, template, values);
        out
    }

    #[test]
    fn values_are_escaped_and_not_rescanned() {
        assert_eq!(
            render(
                "<a href=\"{{href}}\">{{app}}/{{name}}</a> {{other}}",
                &[
                    ("href", "/a/\"x\"/"),
                    ("app", "<script>"),
                    ("name", "{{app}} & 'b'"),
                ]
            ),
            "<a href=\"/a/&quot;x&quot;/\">&lt;script&gt;/{{app}} &amp; &#39;b&#39;</a> {{other}}"
        );
    }

    #[test]
    fn every_placeholder_of_the_pages_is_filled() {
        let player = render(
            PLAYER,
            &[
                ("title", "live/cam"),
                ("script", HLS_JS_PATH),
                ("low_latency", "true"),
            ],
        );
        let item = render(
            STREAM_ITEM,
            &[("href", "/live/cam/"), ("app", "live"), ("name", "cam")],
        );
        let list = STREAMS.replacen("{{streams}}", &item, 1);
        for page in [&player, &item, &list, &NO_STREAMS.to_owned()] {
            assert!(!page.contains("{{"), "{page}");
        }
        assert!(player.contains("<title>live/cam</title>"), "{player}");
        assert!(player.contains("src=\"/hls.min.js\""), "{player}");
        assert!(player.contains("data-low-latency=\"true\""), "{player}");
        assert!(
            list.contains("<li><a href=\"/live/cam/\">live/cam</a></li>\n</ul>"),
            "{list}"
        );
    }

    #[test]
    fn the_stream_list_links_each_player_page() {
        let origin = HlsOrigin::new(HlsConfig::default()).unwrap_or_else(|e| panic!("{e}"));
        assert!(streams_page(&origin).contains(NO_STREAMS));
        let name = StreamName::new("a <b>", 64).unwrap_or_else(|e| panic!("{e}"));
        let _sink = origin.on_publish(&crate::rtmp::PublishedStream::new("live", name));
        let list = streams_page(&origin);
        assert!(
            list.contains("<li><a href=\"/live/a%20%3Cb%3E/\">live/a &lt;b&gt;</a></li>\n"),
            "{list}"
        );
        assert!(!list.contains(NO_STREAMS), "{list}");
        let player = player_page(&origin, "/live/a%20%3Cb%3E/", HLS_JS_CDN)
            .unwrap_or_else(|| panic!("no player page"));
        assert!(
            player.contains("<title>live/a &lt;b&gt;</title>"),
            "{player}"
        );
        assert!(player.contains(HLS_JS_CDN), "{player}");
        assert!(player.contains("data-low-latency=\"false\""), "{player}");
        assert!(player_page(&origin, "/live/nobody/", HLS_JS_CDN).is_none());
    }
}
