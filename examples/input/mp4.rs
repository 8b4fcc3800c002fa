//! Reading an MP4 file (ISO/IEC 14496-12) held in memory for the examples: the tracks of the
//! codecs onair carries (`avc1`/`avc3`, `hvc1`/`hev1`, `mp4a` with AAC or MP3, `.mp3`,
//! `Opus`) as [`TrackInfo`]s, and their samples as [`Frame`]s in file order, each payload a
//! slice of the file (no copy). The boxes are decoded by `mp4-atom`; this module turns the
//! sample tables into timed frames.
//!
//! Timestamps follow the edit list the way FFmpeg presents them: the first edit's
//! `media_time` is subtracted (so B-frame delay and AAC priming show as negative DTS), and
//! empty edits before it add their duration.
//!
//! The examples include it by path: `#[path = "input/mp4.rs"] mod mp4;` in a one-file example,
//! `#[path = "../input/mp4.rs"] mod mp4;` in one with a directory of its own.

use bytes::Bytes;
use mp4_atom::{
    Atom, Audio, Avcc, Buf, Codec, DecodeAtom, DecodeMaybe, Dops, Header, Hvcc, Moov, StszSamples,
    Trak,
};
use onair_media_types::{
    AacConfig, AvcConfig, CodecConfig, ConfigError, Frame, HevcConfig, Mp3Config, OpusConfig,
    TrackId, TrackInfo,
};

/// Why an MP4 file could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Mp4Error {
    /// A box could not be decoded.
    #[error("mp4: {0}")]
    Box(#[from] mp4_atom::Error),
    /// The file has no `moov` box: a fragmented or truncated file, or not MP4 at all.
    #[error("mp4: no moov box")]
    NoMoov,
    /// A track's media timescale is 0.
    #[error("mp4: track {track}: media timescale 0")]
    Timescale {
        /// The track's `tkhd` id.
        track: u32,
    },
    /// A track's codec configuration could not be read.
    #[error("mp4: track {track}: {error}")]
    Config {
        /// The track's `tkhd` id.
        track: u32,
        /// What was wrong with it.
        error: ConfigError,
    },
    /// An AAC track's `esds` has no AudioSpecificConfig.
    #[error("mp4: track {track}: aac without an AudioSpecificConfig")]
    NoAudioSpecificConfig {
        /// The track's `tkhd` id.
        track: u32,
    },
    /// The sample tables point past the end of the file.
    #[error("mp4: track {track}: a sample lies outside the file")]
    SampleOutsideFile {
        /// The track's `tkhd` id.
        track: u32,
    },
}

/// Reads every supported track of an MP4 file held in memory; returns the tracks (ids 0, 1,
/// ... in `moov` order, skipping unsupported tracks) and their frames, ordered by file offset
/// (the order the file interleaves them in).
pub(crate) fn read_mp4(file: &Bytes) -> Result<(Vec<TrackInfo>, Vec<Frame>), Mp4Error> {
    let moov = find_moov(file)?;
    let movie_timescale = moov.mvhd.timescale.max(1);
    let mut tracks = Vec::new();
    let mut frames: Vec<(u64, Frame)> = Vec::new();
    for trak in &moov.trak {
        let track = trak.tkhd.track_id;
        let Some(config) = sample_entry_config(trak)? else {
            continue;
        };
        let timescale = trak.mdia.mdhd.timescale;
        if timescale == 0 {
            return Err(Mp4Error::Timescale { track });
        }
        let info = TrackInfo {
            id: TrackId(tracks.len() as u32),
            timescale,
            config,
        };
        for s in samples(trak, edit_shift(trak, movie_timescale)) {
            let end = s.offset.saturating_add(u64::from(s.size));
            if end > file.len() as u64 {
                return Err(Mp4Error::SampleOutsideFile { track });
            }
            frames.push((
                s.offset,
                Frame {
                    track: info.id,
                    codec: info.config.codec(),
                    timescale,
                    dts: s.dts,
                    pts: s.pts,
                    keyframe: s.keyframe,
                    data: file.slice(s.offset as usize..end as usize),
                },
            ));
        }
        tracks.push(info);
    }
    frames.sort_by_key(|(offset, _)| *offset);
    Ok((tracks, frames.into_iter().map(|(_, f)| f).collect()))
}

/// Decodes the first top-level `moov` box; the others (`mdat` above all) are only skipped.
fn find_moov(file: &[u8]) -> Result<Moov, Mp4Error> {
    let mut rest = file;
    while let Some(header) = Header::decode_maybe(&mut rest)? {
        let size = header.size.unwrap_or(rest.len());
        if size > rest.remaining() {
            return Err(mp4_atom::Error::OutOfBounds.into());
        }
        if header.kind == Moov::KIND {
            return Ok(Moov::decode_atom(&header, &mut rest)?);
        }
        rest.advance(size);
    }
    Err(Mp4Error::NoMoov)
}

/// Ticks (media timescale) to add to the sample times: minus the first edit's `media_time`,
/// plus the duration of the empty edits before it.
fn edit_shift(trak: &Trak, movie_timescale: u32) -> i64 {
    let timescale = i64::from(trak.mdia.mdhd.timescale);
    let mut shift = 0i64;
    let edits = trak.edts.iter().filter_map(|e| e.elst.as_ref());
    for edit in edits.flat_map(|elst| &elst.entries) {
        match edit.media_time {
            None => {
                shift += (edit.segment_duration as i64).saturating_mul(timescale)
                    / i64::from(movie_timescale);
            }
            Some(media_time) => {
                shift -= media_time as i64;
                break;
            }
        }
    }
    shift
}

struct Sample {
    offset: u64,
    size: u32,
    dts: i64,
    pts: i64,
    keyframe: bool,
}

/// Where each sample is (`stsc`, `stco`/`co64`, `stsz`), when (`stts`, `ctts`, shifted by
/// `shift`) and whether it is a sync sample (`stss`; all are without one).
fn samples(trak: &Trak, shift: i64) -> Vec<Sample> {
    let stbl = &trak.mdia.minf.stbl;
    let (count, fixed, sizes): (usize, u32, &[u32]) = match &stbl.stsz.samples {
        StszSamples::Identical { count, size } => (*count as usize, *size, &[]),
        StszSamples::Different { sizes } => (sizes.len(), 0, sizes),
    };
    let size_of = |index: usize| {
        if fixed != 0 {
            (index < count).then_some(fixed)
        } else {
            sizes.get(index).copied()
        }
    };
    let chunk_offsets: Vec<u64> = match (&stbl.stco, &stbl.co64) {
        (Some(stco), _) => stco.entries.iter().map(|o| u64::from(*o)).collect(),
        (None, Some(co64)) => co64.entries.clone(),
        (None, None) => Vec::new(),
    };

    let mut samples = Vec::with_capacity(count.min(1 << 24));
    let mut index = 0usize;
    // stsc entries cover runs of chunks, sorted by their first chunk (1-based).
    let mut run = 0usize;
    for (ci, chunk_offset) in chunk_offsets.iter().enumerate() {
        let chunk_number = ci as u32 + 1;
        while stsc_first(stbl, run + 1).is_some_and(|first| first <= chunk_number) {
            run += 1;
        }
        let per_chunk = stbl
            .stsc
            .entries
            .get(run)
            .filter(|e| e.first_chunk <= chunk_number)
            .map_or(0, |e| e.samples_per_chunk);
        let mut offset = *chunk_offset;
        for _ in 0..per_chunk {
            let Some(size) = size_of(index) else { break };
            samples.push(Sample {
                offset,
                size,
                dts: 0,
                pts: 0,
                keyframe: stbl.stss.is_none(),
            });
            offset += u64::from(size);
            index += 1;
        }
    }

    let mut deltas = stbl
        .stts
        .entries
        .iter()
        .flat_map(|e| std::iter::repeat_n(e.sample_delta, e.sample_count as usize));
    let mut offsets = stbl
        .ctts
        .iter()
        .flat_map(|c| &c.entries)
        .flat_map(|e| std::iter::repeat_n(e.sample_offset, e.sample_count as usize));
    let mut dts = 0i64;
    for s in &mut samples {
        s.dts = dts + shift;
        s.pts = s.dts + offsets.next().unwrap_or(0);
        dts += i64::from(deltas.next().unwrap_or(0));
    }
    if let Some(stss) = &stbl.stss {
        for n in &stss.entries {
            if let Some(s) = samples.get_mut((*n as usize).wrapping_sub(1)) {
                s.keyframe = true;
            }
        }
    }
    samples
}

fn stsc_first(stbl: &mp4_atom::Stbl, run: usize) -> Option<u32> {
    stbl.stsc.entries.get(run).map(|e| e.first_chunk)
}

/// The codec configuration of the track's first sample entry; `None` for codecs onair does
/// not carry.
fn sample_entry_config(trak: &Trak) -> Result<Option<CodecConfig>, Mp4Error> {
    let track = trak.tkhd.track_id;
    let config = |r: Result<CodecConfig, ConfigError>| {
        r.map(Some)
            .map_err(|error| Mp4Error::Config { track, error })
    };
    let Some(entry) = trak.mdia.minf.stbl.stsd.codecs.first() else {
        return Ok(None);
    };
    let mp3 = |audio: &Audio| {
        Ok(Some(CodecConfig::Mp3(Mp3Config {
            sample_rate: u32::from(audio.sample_rate.integer()),
            channels: audio.channel_count as u8,
        })))
    };
    match entry {
        Codec::Avc1(avc1) => config(avc_config(&avc1.avcc)),
        Codec::Avc3(avc3) => config(avc_config(&avc3.avcc)),
        Codec::Hvc1(hvc1) => config(hevc_config(&hvc1.hvcc)),
        Codec::Hev1(hev1) => config(hevc_config(&hev1.hvcc)),
        Codec::Mp3(entry) => mp3(&entry.audio),
        Codec::Mp4a(mp4a) => {
            let dec_config = &mp4a.esds.es_desc.dec_config;
            match dec_config.object_type_indication {
                // MPEG-4 audio and the three MPEG-2 AAC profiles
                0x40 | 0x66 | 0x67 | 0x68 => {
                    let asc = dec_config
                        .dec_specific
                        .as_ref()
                        .filter(|d| !d.raw.is_empty())
                        .ok_or(Mp4Error::NoAudioSpecificConfig { track })?;
                    config(AacConfig::parse(Bytes::copy_from_slice(&asc.raw)).map(CodecConfig::Aac))
                }
                // MPEG-2 and MPEG-1 audio (layer III among them)
                0x69 | 0x6b => mp3(&mp4a.audio),
                _ => Ok(None),
            }
        }
        Codec::Opus(opus) => {
            config(OpusConfig::parse(opus_head(&opus.dops)).map(CodecConfig::Opus))
        }
        _ => Ok(None),
    }
}

/// The record as the `avcC` box carries it (its body), parsed.
fn avc_config(avcc: &Avcc) -> Result<CodecConfig, ConfigError> {
    let mut record = Vec::new();
    avcc.encode_body(&mut record)
        .map_err(|_| ConfigError::Unsupported {
            what: "avcC",
            value: 0,
        })?;
    AvcConfig::parse(Bytes::from(record)).map(CodecConfig::Avc)
}

/// The record as the `hvcC` box carries it (its body), parsed.
fn hevc_config(hvcc: &Hvcc) -> Result<CodecConfig, ConfigError> {
    let mut record = Vec::new();
    hvcc.encode_body(&mut record)
        .map_err(|_| ConfigError::Unsupported {
            what: "hvcC",
            value: 0,
        })?;
    HevcConfig::parse(Bytes::from(record)).map(CodecConfig::Hevc)
}

/// The Opus identification header (RFC 7845 5.1) for a `dOps` box (Opus in ISOBMFF 4.3.2):
/// the same fields, little-endian instead of big-endian.
fn opus_head(dops: &Dops) -> Bytes {
    let mut head = b"OpusHead".to_vec();
    head.push(1);
    head.push(dops.output_channel_count);
    head.extend_from_slice(&dops.pre_skip.to_le_bytes());
    head.extend_from_slice(&dops.input_sample_rate.to_le_bytes());
    head.extend_from_slice(&dops.output_gain.to_le_bytes());
    match &dops.channel_mapping {
        None => head.push(0),
        Some(mapping) => {
            head.extend_from_slice(&[mapping.family, mapping.stream_count, mapping.coupled_count]);
            head.extend_from_slice(&mapping.channel_mapping);
        }
    }
    Bytes::from(head)
}
