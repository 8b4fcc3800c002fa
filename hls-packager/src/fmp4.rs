//! A small fragmented MP4 / CMAF writer (ISO/IEC 14496-12, ISO/IEC 23000-19).
//!
//! Writes the init segment (`ftyp` + `moov` with one `trak` per track and `mvex`) and media
//! fragments (`moof` with one `traf` per track, then one `mdat`). Every box is written here,
//! byte by byte, because the sizes must be exact for players to accept the result.

use bytes::Bytes;
use onair_media_types::{CodecConfig, MediaKind};

use crate::error::Error;
use crate::SegmentFormat;

/// A track of the fMP4 presentation.
#[derive(Debug, Clone)]
pub(crate) struct Mp4Track {
    /// `track_ID` (1-based).
    pub(crate) id: u32,
    /// Ticks per second of the track's media timeline.
    pub(crate) timescale: u32,
    pub(crate) config: CodecConfig,
    /// Picture size, for visual sample entries (0 when unknown).
    pub(crate) width: u16,
    pub(crate) height: u16,
}

/// One sample of a fragment.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub(crate) duration: u32,
    pub(crate) keyframe: bool,
    /// Composition time offset (PTS - DTS) in track ticks.
    pub(crate) cto: i32,
    pub(crate) data: Bytes,
}

/// The samples of one track in one fragment.
#[derive(Debug, Clone)]
pub(crate) struct TrackRun {
    pub(crate) track_id: u32,
    pub(crate) base_decode_time: u64,
    pub(crate) samples: Vec<Sample>,
}

fn put_u16(b: &mut Vec<u8>, v: u16) {
    b.extend_from_slice(&v.to_be_bytes());
}
fn put_u32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_be_bytes());
}
fn put_u64(b: &mut Vec<u8>, v: u64) {
    b.extend_from_slice(&v.to_be_bytes());
}

/// Writes a box: size placeholder, type, body from `f`, then patches the size.
fn bx(b: &mut Vec<u8>, kind: &[u8; 4], f: impl FnOnce(&mut Vec<u8>)) {
    let start = b.len();
    put_u32(b, 0);
    b.extend_from_slice(kind);
    f(b);
    let size = (b.len() - start) as u32;
    b[start..start + 4].copy_from_slice(&size.to_be_bytes());
}

/// A full box: version and 24-bit flags precede the body.
fn full(b: &mut Vec<u8>, kind: &[u8; 4], version: u8, flags: u32, f: impl FnOnce(&mut Vec<u8>)) {
    bx(b, kind, |b| {
        put_u32(b, (u32::from(version) << 24) | (flags & 0x00ff_ffff));
        f(b);
    });
}

const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// The media timescale a track should use for its codec.
pub(crate) fn timescale_for(config: &CodecConfig) -> u32 {
    match config {
        CodecConfig::Aac(c) if c.sample_rate > 0 => c.sample_rate,
        CodecConfig::Mp3(c) if c.sample_rate > 0 => c.sample_rate,
        CodecConfig::Opus(_) => 48_000,
        _ => 90_000,
    }
}

/// Writes `ftyp` + `moov` for `tracks`.
pub(crate) fn write_init(tracks: &[Mp4Track]) -> Result<Vec<u8>, Error> {
    for t in tracks {
        let known = matches!(
            t.config,
            CodecConfig::Avc(_)
                | CodecConfig::Hevc(_)
                | CodecConfig::Av1(_)
                | CodecConfig::Vp9(_)
                | CodecConfig::Aac(_)
                | CodecConfig::Mp3(_)
                | CodecConfig::Opus(_)
        );
        if !known || t.config_bytes().is_empty() {
            return Err(Error::UnsupportedCodec {
                codec: t.config.codec(),
                format: SegmentFormat::Fmp4,
            });
        }
    }
    let mut b = Vec::with_capacity(1024);
    bx(&mut b, b"ftyp", |b| {
        b.extend_from_slice(b"iso6");
        put_u32(b, 0);
        for brand in [b"iso6", b"cmfc", b"isom", b"mp41"] {
            b.extend_from_slice(brand);
        }
    });
    bx(&mut b, b"moov", |b| {
        full(b, b"mvhd", 0, 0, |b| {
            put_u32(b, 0); // creation_time
            put_u32(b, 0); // modification_time
            put_u32(b, 1000);
            put_u32(b, 0); // duration: unknown, fragments follow
            put_u32(b, 0x0001_0000); // rate 1.0
            put_u16(b, 0x0100); // volume 1.0
            b.extend_from_slice(&[0; 10]);
            for m in MATRIX {
                put_u32(b, m);
            }
            b.extend_from_slice(&[0; 24]);
            put_u32(b, tracks.iter().map(|t| t.id).max().unwrap_or(0) + 1);
        });
        for t in tracks {
            write_trak(b, t);
        }
        bx(b, b"mvex", |b| {
            for t in tracks {
                full(b, b"trex", 0, 0, |b| {
                    put_u32(b, t.id);
                    put_u32(b, 1); // default_sample_description_index
                    put_u32(b, 0);
                    put_u32(b, 0);
                    put_u32(b, 0);
                });
            }
        });
    });
    Ok(b)
}

impl Mp4Track {
    fn config_bytes(&self) -> &[u8] {
        match &self.config {
            CodecConfig::Av1(r) | CodecConfig::Vp9(r) => r,
            _ => &[1],
        }
    }
}

fn write_trak(b: &mut Vec<u8>, t: &Mp4Track) {
    let video = t.config.codec().kind() == MediaKind::Video;
    bx(b, b"trak", |b| {
        full(b, b"tkhd", 0, 3, |b| {
            put_u32(b, 0);
            put_u32(b, 0);
            put_u32(b, t.id);
            put_u32(b, 0);
            put_u32(b, 0); // duration
            b.extend_from_slice(&[0; 8]);
            put_u16(b, 0); // layer
            put_u16(b, 0); // alternate_group
            put_u16(b, if video { 0 } else { 0x0100 });
            put_u16(b, 0);
            for m in MATRIX {
                put_u32(b, m);
            }
            put_u32(b, u32::from(t.width) << 16);
            put_u32(b, u32::from(t.height) << 16);
        });
        bx(b, b"mdia", |b| {
            full(b, b"mdhd", 0, 0, |b| {
                put_u32(b, 0);
                put_u32(b, 0);
                put_u32(b, t.timescale);
                put_u32(b, 0);
                put_u16(b, 0x55c4); // "und"
                put_u16(b, 0);
            });
            full(b, b"hdlr", 0, 0, |b| {
                put_u32(b, 0);
                b.extend_from_slice(if video { b"vide" } else { b"soun" });
                b.extend_from_slice(&[0; 12]);
                b.extend_from_slice(if video {
                    b"VideoHandler\0".as_slice()
                } else {
                    b"SoundHandler\0".as_slice()
                });
            });
            bx(b, b"minf", |b| {
                if video {
                    full(b, b"vmhd", 0, 1, |b| b.extend_from_slice(&[0; 8]));
                } else {
                    full(b, b"smhd", 0, 0, |b| put_u32(b, 0));
                }
                bx(b, b"dinf", |b| {
                    full(b, b"dref", 0, 0, |b| {
                        put_u32(b, 1);
                        full(b, b"url ", 0, 1, |_| {});
                    });
                });
                bx(b, b"stbl", |b| {
                    full(b, b"stsd", 0, 0, |b| {
                        put_u32(b, 1);
                        write_sample_entry(b, t);
                    });
                    full(b, b"stts", 0, 0, |b| put_u32(b, 0));
                    full(b, b"stsc", 0, 0, |b| put_u32(b, 0));
                    full(b, b"stsz", 0, 0, |b| {
                        put_u32(b, 0);
                        put_u32(b, 0);
                    });
                    full(b, b"stco", 0, 0, |b| put_u32(b, 0));
                });
            });
        });
    });
}

fn visual_entry(b: &mut Vec<u8>, kind: &[u8; 4], t: &Mp4Track, config: (&[u8; 4], &[u8])) {
    bx(b, kind, |b| {
        b.extend_from_slice(&[0; 6]);
        put_u16(b, 1); // data_reference_index
        b.extend_from_slice(&[0; 16]);
        put_u16(b, t.width);
        put_u16(b, t.height);
        put_u32(b, 0x0048_0000);
        put_u32(b, 0x0048_0000);
        put_u32(b, 0);
        put_u16(b, 1); // frame_count
        b.extend_from_slice(&[0; 32]); // compressorname
        put_u16(b, 0x0018);
        put_u16(b, 0xffff);
        bx(b, config.0, |b| b.extend_from_slice(config.1));
    });
}

fn audio_entry(
    b: &mut Vec<u8>,
    kind: &[u8; 4],
    channels: u16,
    rate: u32,
    f: impl FnOnce(&mut Vec<u8>),
) {
    bx(b, kind, |b| {
        b.extend_from_slice(&[0; 6]);
        put_u16(b, 1);
        b.extend_from_slice(&[0; 8]);
        put_u16(b, channels);
        put_u16(b, 16);
        put_u32(b, 0);
        // The 16.16 field overflows above 65535 Hz; the mdhd timescale carries the real rate.
        put_u32(b, if rate > 0xffff { 0 } else { rate << 16 });
        f(b);
    });
}

/// ISO/IEC 14496-1 descriptor: tag, a 4-byte expandable length, then the body.
fn descriptor(b: &mut Vec<u8>, tag: u8, body: &[u8]) {
    b.push(tag);
    let len = body.len() as u32;
    b.extend_from_slice(&[
        0x80 | ((len >> 21) & 0x7f) as u8,
        0x80 | ((len >> 14) & 0x7f) as u8,
        0x80 | ((len >> 7) & 0x7f) as u8,
        (len & 0x7f) as u8,
    ]);
    b.extend_from_slice(body);
}

fn esds(b: &mut Vec<u8>, track_id: u32, object_type: u8, dsi: Option<&[u8]>) {
    full(b, b"esds", 0, 0, |b| {
        let mut dcd = vec![object_type, 0x15, 0, 0, 0];
        dcd.extend_from_slice(&[0; 8]); // max and average bitrate unknown
        if let Some(dsi) = dsi {
            descriptor(&mut dcd, 5, dsi);
        }
        let mut es = Vec::new();
        es.extend_from_slice(&(track_id as u16).to_be_bytes());
        es.push(0);
        descriptor(&mut es, 4, &dcd);
        descriptor(&mut es, 6, &[2]);
        descriptor(b, 3, &es);
    });
}

fn write_sample_entry(b: &mut Vec<u8>, t: &Mp4Track) {
    match &t.config {
        CodecConfig::Avc(c) => visual_entry(b, b"avc1", t, (b"avcC", &c.record)),
        CodecConfig::Hevc(c) => visual_entry(b, b"hvc1", t, (b"hvcC", &c.record)),
        CodecConfig::Av1(r) => visual_entry(b, b"av01", t, (b"av1C", r)),
        CodecConfig::Vp9(r) => visual_entry(b, b"vp09", t, (b"vpcC", r)),
        CodecConfig::Aac(c) => {
            let channels = u16::from(c.channel_config.max(1)).min(8);
            audio_entry(b, b"mp4a", channels, c.sample_rate, |b| {
                esds(b, t.id, 0x40, Some(&c.record));
            });
        }
        CodecConfig::Mp3(c) => {
            audio_entry(
                b,
                b"mp4a",
                u16::from(c.channels.max(1)),
                c.sample_rate,
                |b| {
                    esds(b, t.id, 0x6b, None);
                },
            );
        }
        CodecConfig::Opus(c) => {
            audio_entry(b, b"Opus", u16::from(c.channels.max(1)), 48_000, |b| {
                bx(b, b"dOps", |b| {
                    b.push(0);
                    b.push(c.channels);
                    put_u16(b, c.pre_skip);
                    put_u32(b, c.input_sample_rate);
                    // OutputGain and mapping family, as in the OpusHead (which is little-endian).
                    let gain = match (c.record.get(16), c.record.get(17)) {
                        (Some(lo), Some(hi)) => i16::from_le_bytes([*lo, *hi]),
                        _ => 0,
                    };
                    b.extend_from_slice(&gain.to_be_bytes());
                    let family = c.record.get(18).copied().unwrap_or(0);
                    match c.record.get(19..) {
                        Some(table)
                            if family != 0 && table.len() >= 2 + usize::from(c.channels) =>
                        {
                            b.push(family);
                            b.extend_from_slice(&table[..2 + usize::from(c.channels)]);
                        }
                        _ => b.push(0),
                    }
                });
            });
        }
        // `write_init` rejected every other configuration before writing anything.
        _ => {}
    }
}

/// Sample flags (ISO/IEC 14496-12 8.8.3.1): sync samples depend on nothing; others are
/// non-sync and depend on other samples.
fn sample_flags(keyframe: bool) -> u32 {
    if keyframe {
        0x0200_0000
    } else {
        0x0101_0000
    }
}

/// Appends one fragment (`moof` + `mdat`) holding `runs` to `out`.
pub(crate) fn write_fragment(sequence: u32, runs: &[TrackRun], out: &mut Vec<u8>) {
    let start = out.len();
    let mut offset_fields = Vec::with_capacity(runs.len());
    bx(out, b"moof", |b| {
        full(b, b"mfhd", 0, 0, |b| put_u32(b, sequence));
        for run in runs.iter().filter(|r| !r.samples.is_empty()) {
            bx(b, b"traf", |b| {
                // default-base-is-moof: data offsets count from the start of this moof.
                full(b, b"tfhd", 0, 0x02_0000, |b| put_u32(b, run.track_id));
                full(b, b"tfdt", 1, 0, |b| put_u64(b, run.base_decode_time));
                full(b, b"trun", 1, 0x000f01, |b| {
                    put_u32(b, run.samples.len() as u32);
                    offset_fields.push(b.len());
                    put_u32(b, 0);
                    for s in &run.samples {
                        put_u32(b, s.duration);
                        put_u32(b, s.data.len() as u32);
                        put_u32(b, sample_flags(s.keyframe));
                        b.extend_from_slice(&s.cto.to_be_bytes());
                    }
                });
            });
        }
    });
    let moof_size = out.len() - start;
    let mut data_offset = moof_size + 8;
    for (field, run) in offset_fields
        .iter()
        .zip(runs.iter().filter(|r| !r.samples.is_empty()))
    {
        let v = data_offset as u32;
        out[*field..*field + 4].copy_from_slice(&v.to_be_bytes());
        data_offset += run.samples.iter().map(|s| s.data.len()).sum::<usize>();
    }
    bx(out, b"mdat", |b| {
        for s in runs.iter().flat_map(|r| &r.samples) {
            b.extend_from_slice(&s.data);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use onair_media_types::AacConfig;

    /// Walks top-level boxes, checking each declared size stays inside the buffer.
    fn boxes(mut data: &[u8]) -> Vec<([u8; 4], usize)> {
        let mut out = Vec::new();
        while data.len() >= 8 {
            let size = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
            assert!(size >= 8 && size <= data.len(), "bad box size {size}");
            out.push(([data[4], data[5], data[6], data[7]], size));
            data = &data[size..];
        }
        assert!(data.is_empty());
        out
    }

    #[test]
    fn fragment_offsets_point_into_mdat() {
        let runs = vec![
            TrackRun {
                track_id: 1,
                base_decode_time: 9000,
                samples: vec![
                    Sample {
                        duration: 3000,
                        keyframe: true,
                        cto: 0,
                        data: Bytes::from_static(b"abc"),
                    },
                    Sample {
                        duration: 3000,
                        keyframe: false,
                        cto: -3000,
                        data: Bytes::from_static(b"de"),
                    },
                ],
            },
            TrackRun {
                track_id: 2,
                base_decode_time: 4410,
                samples: vec![Sample {
                    duration: 1024,
                    keyframe: true,
                    cto: 0,
                    data: Bytes::from_static(b"XYZ"),
                }],
            },
        ];
        let mut out = Vec::new();
        write_fragment(7, &runs, &mut out);
        let top = boxes(&out);
        assert_eq!(top.len(), 2);
        assert_eq!(&top[0].0, b"moof");
        assert_eq!(&top[1].0, b"mdat");
        let moof = top[0].1;
        assert_eq!(&out[moof + 8..], b"abcdeXYZ");
        // first trun's data offset: moof header(8) + mfhd(16) + traf header(8) + tfhd(16) +
        // tfdt(20) + trun header(12) + count(4)
        let field = 8 + 16 + 8 + 16 + 20 + 12 + 4;
        let off = u32::from_be_bytes(out[field..field + 4].try_into().unwrap()) as usize;
        assert_eq!(&out[off..off + 3], b"abc");
    }

    #[test]
    fn init_segment_has_ftyp_and_moov() {
        let t = Mp4Track {
            id: 1,
            timescale: 44_100,
            config: CodecConfig::Aac(AacConfig::new(2, 4, 2)),
            width: 0,
            height: 0,
        };
        let init = write_init(&[t]).unwrap();
        let top = boxes(&init);
        assert_eq!(
            top.iter().map(|b| b.0).collect::<Vec<_>>(),
            vec![*b"ftyp", *b"moov"]
        );
        assert!(init.windows(4).any(|w| w == b"esds"));
        assert!(init.windows(4).any(|w| w == b"trex"));
    }
}
