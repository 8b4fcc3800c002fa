#![no_main]
//! What an HLS origin reads from a player's request, on arbitrary text: the path
//! (`/APP/NAME/FILE`, percent-decoded), the query's delivery directives and the media sequence
//! number / part a file name stands for. Nothing panics, and what parses is consistent:
//! decoded parts are non-empty and slash-free (no path smuggling), re-encoding them parses back
//! to the same request, and names the packager would write parse back to their numbers. A
//! playback token check never lets a path climb out of the signed prefix, and a path signed
//! for its folder verifies back to itself.

use libfuzzer_sys::fuzz_target;
use onair_hls_packager::{
    parse_media_name, percent_decode, percent_encode_segment, sign_path, verify_path,
    DeliveryDirectives, OriginPath, SigningKey, TokenError,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (path, query) = text.split_once('?').unwrap_or((text, ""));

    if let Some(p) = OriginPath::parse(path) {
        assert!(!p.name.is_empty() && !p.file.is_empty() && !p.app.is_empty());
        assert!(!p.name.contains('/') && !p.file.contains('/'));
        assert!(p.app.split('/').all(|s| !s.is_empty()));
        let again = format!(
            "/{}/{}/{}",
            p.app
                .split('/')
                .map(percent_encode_segment)
                .collect::<Vec<_>>()
                .join("/"),
            percent_encode_segment(&p.name),
            percent_encode_segment(&p.file)
        );
        assert_eq!(OriginPath::parse(&again).as_ref(), Some(&p), "{again}");
        // the file name against a prefix taken from the name
        let _ = parse_media_name(&p.file, &p.name);
    }
    if let Some(decoded) = percent_decode(path) {
        assert_eq!(percent_decode(&percent_encode_segment(&decoded)), Some(decoded));
    }

    let d = DeliveryDirectives::from_query(query);
    if d.msn.is_none() {
        assert!(d.part.is_none(), "a part without a media sequence number");
    }

    // names as the packager writes them parse back
    let prefix = path.split('/').next_back().unwrap_or("");
    if !prefix.contains('.') {
        let msn = data.len() as u64 * 7919;
        let part = data.first().copied().unwrap_or(0) as u32;
        let seg = format!("{prefix}{msn}.ts");
        let prt = format!("{prefix}{msn}.{part}.m4s");
        if !prefix.chars().last().is_some_and(|c| c.is_ascii_digit()) {
            assert_eq!(parse_media_name(&seg, prefix), Some((msn, None)), "{seg}");
            assert_eq!(parse_media_name(&prt, prefix), Some((msn, Some(part))), "{prt}");
        }
    }

    if let Ok(key) = SigningKey::new(b"fuzz".to_vec()) {
        if let Ok(unsigned) = verify_path(&key, path, 0) {
            assert!(!unsigned.split('/').any(|s| s == "." || s == ".."), "{unsigned}");
        }
        let folder = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        if let Ok(signed) = sign_path(&key, path, folder, 1000) {
            match verify_path(&key, &signed, 999) {
                Ok(unsigned) => assert_eq!(unsigned, path),
                // a file name "." or ".."
                Err(TokenError::Malformed) => {}
                Err(e) => panic!("{signed}: {e}"),
            }
            assert!(verify_path(&key, &signed, 1000).is_err(), "expired");
        }
    }
});
