#![no_main]
//! Decoder configuration records and the parameter sets inside them (avcC with its SPS read by
//! h264-reader, hvcC with media-types' own H.265 SPS reader, AudioSpecificConfig, OpusHead) on
//! arbitrary bytes: parsing and every question asked of a parsed record (picture size, frame
//! rate, codec string) never panic; a record rebuilt from the parameter sets it carries parses
//! back to the same parameter sets.

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use onair_media_types::{AacConfig, AvcConfig, HevcConfig, OpusConfig};

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let record = Bytes::copy_from_slice(body);
    match which % 4 {
        0 => {
            if let Ok(avc) = AvcConfig::parse(record) {
                let _ = avc.picture_size();
                let _ = avc.frame_rate();
                let _ = avc.rfc6381();
                let sps: Vec<&[u8]> = avc.sps.iter().map(|s| &s[..]).collect();
                let pps: Vec<&[u8]> = avc.pps.iter().map(|s| &s[..]).collect();
                if let Ok(rebuilt) = AvcConfig::from_parameter_sets(&sps, &pps) {
                    let again = AvcConfig::parse(rebuilt.record.clone())
                        .expect("a record we built parses");
                    assert_eq!(again.sps, avc.sps);
                    assert_eq!(again.pps, avc.pps);
                }
            }
        }
        1 => {
            if let Ok(hevc) = HevcConfig::parse(record) {
                let _ = hevc.picture_size();
                let _ = hevc.rfc6381();
                let vps: Vec<&[u8]> = hevc.vps.iter().map(|s| &s[..]).collect();
                let sps: Vec<&[u8]> = hevc.sps.iter().map(|s| &s[..]).collect();
                let pps: Vec<&[u8]> = hevc.pps.iter().map(|s| &s[..]).collect();
                if let Ok(rebuilt) = HevcConfig::from_parameter_sets(&vps, &sps, &pps) {
                    let again = HevcConfig::parse(rebuilt.record.clone())
                        .expect("a record we built parses");
                    assert_eq!(again.vps, hevc.vps);
                    assert_eq!(again.sps, hevc.sps);
                    assert_eq!(again.pps, hevc.pps);
                }
            }
        }
        2 => {
            let _ = AacConfig::parse(record);
        }
        _ => {
            let _ = OpusConfig::parse(record);
        }
    }
});
