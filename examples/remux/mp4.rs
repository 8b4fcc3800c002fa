//! A small MP4 (ISO/IEC 14496-12) reader for the remux example: the sample tables of `avc1`,
//! `hvc1`/`hev1`, `mp4a` (AAC or MP3), `.mp3` and `Opus` tracks, as frames in file order.
//!
//! Timestamps follow the edit list the way FFmpeg presents them: the first edit's
//! `media_time` is subtracted (so B-frame delay and AAC priming show as negative DTS).

use std::fmt;

use bytes::Bytes;
use onair_media_types::{
    AacConfig, AvcConfig, CodecConfig, Frame, HevcConfig, Mp3Config, OpusConfig, TrackId, TrackInfo,
};

/// Why an MP4 file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mp4Error(pub(crate) String);

impl fmt::Display for Mp4Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mp4: {}", self.0)
    }
}

impl std::error::Error for Mp4Error {}

fn err<T>(msg: impl Into<String>) -> Result<T, Mp4Error> {
    Err(Mp4Error(msg.into()))
}

/// Iterates over the boxes in `buf`: (type, body).
struct Boxes<'a>(&'a [u8]);

impl<'a> Iterator for Boxes<'a> {
    type Item = Result<([u8; 4], &'a [u8]), Mp4Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.len() < 8 {
            return None;
        }
        let size32 = be32(self.0, 0)? as u64;
        let kind: [u8; 4] = self.0.get(4..8)?.try_into().ok()?;
        let (header, size) = match size32 {
            0 => (8, self.0.len() as u64),
            1 => (16, be64(self.0, 8)?),
            n => (8, n),
        };
        if size < header as u64 || size > self.0.len() as u64 {
            self.0 = &[];
            return Some(err(format!("box {} overruns its parent", fourcc(kind))));
        }
        let body = self.0.get(header..size as usize)?;
        self.0 = self.0.get(size as usize..)?;
        Some(Ok((kind, body)))
    }
}

fn fourcc(k: [u8; 4]) -> String {
    k.iter().map(|b| char::from(*b)).collect()
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn be64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn child<'a>(parent: &'a [u8], kind: &[u8; 4]) -> Result<Option<&'a [u8]>, Mp4Error> {
    for b in Boxes(parent) {
        let (k, body) = b?;
        if &k == kind {
            return Ok(Some(body));
        }
    }
    Ok(None)
}

fn need<'a>(parent: &'a [u8], kind: &[u8; 4]) -> Result<&'a [u8], Mp4Error> {
    child(parent, kind)?.ok_or_else(|| Mp4Error(format!("missing {} box", fourcc(*kind))))
}

/// A full box table: `count` entries of `entry` bytes after version/flags (+ `skip` bytes).
fn table(body: &[u8], skip: usize, entry: usize) -> Result<(u8, &[u8]), Mp4Error> {
    let short = || Mp4Error("truncated table".into());
    let version = *body.first().ok_or_else(short)?;
    let count = be32(body, 4 + skip).ok_or_else(short)? as usize;
    let start = 8 + skip;
    let len = count.checked_mul(entry).ok_or_else(short)?;
    let rows = body.get(start..start + len).ok_or_else(short)?;
    Ok((version, rows))
}

/// Reads every supported track of an MP4 file held in memory; returns the tracks and their
/// frames, ordered by file offset (the order the file interleaves them in).
pub(crate) fn read_mp4(file: &Bytes) -> Result<(Vec<TrackInfo>, Vec<Frame>), Mp4Error> {
    let moov = need(file, b"moov")?;
    let movie_timescale = be32(need(moov, b"mvhd")?, 12).unwrap_or(1000).max(1);
    let mut tracks = Vec::new();
    let mut frames: Vec<(u64, Frame)> = Vec::new();
    for b in Boxes(moov) {
        let (kind, trak) = b?;
        if &kind != b"trak" {
            continue;
        }
        let id = TrackId(tracks.len() as u32);
        let Some((info, samples)) = read_trak(trak, id, movie_timescale)? else {
            continue;
        };
        for s in samples {
            let end = s.offset.saturating_add(u64::from(s.size));
            if end > file.len() as u64 {
                return err("sample outside the file");
            }
            frames.push((
                s.offset,
                Frame {
                    track: id,
                    codec: info.config.codec(),
                    timescale: info.timescale,
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

struct Sample {
    offset: u64,
    size: u32,
    dts: i64,
    pts: i64,
    keyframe: bool,
}

fn read_trak(
    trak: &[u8],
    id: TrackId,
    movie_timescale: u32,
) -> Result<Option<(TrackInfo, Vec<Sample>)>, Mp4Error> {
    let mdia = need(trak, b"mdia")?;
    let mdhd = need(mdia, b"mdhd")?;
    let timescale = match mdhd.first() {
        Some(1) => be32(mdhd, 20),
        _ => be32(mdhd, 12),
    }
    .filter(|t| *t > 0)
    .ok_or_else(|| Mp4Error("bad mdhd".into()))?;
    let stbl = need(need(mdia, b"minf")?, b"stbl")?;
    let stsd = need(stbl, b"stsd")?;
    let Some(entry) = Boxes(stsd.get(8..).unwrap_or(&[])).next() else {
        return err("empty stsd");
    };
    let (format, entry) = entry?;
    let Some(config) = sample_entry_config(format, entry)? else {
        return Ok(None);
    };

    // Edit list: FFmpeg shows timestamps minus the first edit's media_time, plus any empty
    // edit's duration.
    let mut shift = 0i64;
    if let Some(elst) = child(trak, b"edts")?
        .map(|e| child(e, b"elst"))
        .transpose()?
        .flatten()
    {
        let version = elst.first().copied().unwrap_or(0);
        let count = be32(elst, 4).unwrap_or(0) as usize;
        let entry = if version == 1 { 20 } else { 12 };
        for i in 0..count {
            let at = 8 + i * entry;
            let (duration, media_time) = if version == 1 {
                (
                    be64(elst, at).unwrap_or(0),
                    be64(elst, at + 8).unwrap_or(0) as i64,
                )
            } else {
                (
                    u64::from(be32(elst, at).unwrap_or(0)),
                    i64::from(be32(elst, at + 4).unwrap_or(0) as i32),
                )
            };
            if media_time == -1 {
                shift += (duration as i64).saturating_mul(i64::from(timescale))
                    / i64::from(movie_timescale);
            } else {
                shift -= media_time;
                break;
            }
        }
    }

    let sizes = {
        let stsz = need(stbl, b"stsz")?;
        let fixed = be32(stsz, 4).unwrap_or(0);
        let (_, rows) = table(stsz, 4, 4)?;
        let count = be32(stsz, 8).unwrap_or(0) as usize;
        if fixed != 0 {
            vec![fixed; count.min(1 << 24)]
        } else {
            rows.chunks_exact(4)
                .map(|r| be32(r, 0).unwrap_or(0))
                .collect::<Vec<_>>()
        }
    };
    let chunk_offsets: Vec<u64> = if let Some(stco) = child(stbl, b"stco")? {
        table(stco, 0, 4)?
            .1
            .chunks_exact(4)
            .map(|r| u64::from(be32(r, 0).unwrap_or(0)))
            .collect()
    } else {
        table(need(stbl, b"co64")?, 0, 8)?
            .1
            .chunks_exact(8)
            .map(|r| be64(r, 0).unwrap_or(0))
            .collect()
    };
    let stsc: Vec<(u32, u32)> = table(need(stbl, b"stsc")?, 0, 12)?
        .1
        .chunks_exact(12)
        .map(|r| (be32(r, 0).unwrap_or(1), be32(r, 4).unwrap_or(0)))
        .collect();
    let stts: Vec<(u32, u32)> = table(need(stbl, b"stts")?, 0, 8)?
        .1
        .chunks_exact(8)
        .map(|r| (be32(r, 0).unwrap_or(0), be32(r, 4).unwrap_or(0)))
        .collect();
    let ctts: Vec<(u32, i32)> = match child(stbl, b"ctts")? {
        Some(c) => table(c, 0, 8)?
            .1
            .chunks_exact(8)
            .map(|r| (be32(r, 0).unwrap_or(0), be32(r, 4).unwrap_or(0) as i32))
            .collect(),
        None => Vec::new(),
    };
    let sync: Option<Vec<u32>> = match child(stbl, b"stss")? {
        Some(s) => Some(
            table(s, 0, 4)?
                .1
                .chunks_exact(4)
                .map(|r| be32(r, 0).unwrap_or(0))
                .collect(),
        ),
        None => None,
    };

    let mut samples = Vec::with_capacity(sizes.len());
    // Offsets from stsc + stco.
    let mut index = 0usize;
    for (ci, chunk_offset) in chunk_offsets.iter().enumerate() {
        let chunk_number = ci as u32 + 1;
        let per_chunk = stsc
            .iter()
            .rev()
            .find(|(first, _)| *first <= chunk_number)
            .map_or(0, |(_, n)| *n);
        let mut offset = *chunk_offset;
        for _ in 0..per_chunk {
            let Some(size) = sizes.get(index) else { break };
            samples.push(Sample {
                offset,
                size: *size,
                dts: 0,
                pts: 0,
                keyframe: sync.is_none(),
            });
            offset += u64::from(*size);
            index += 1;
        }
    }
    // Times from stts + ctts.
    let mut dts = 0i64;
    let mut deltas = stts
        .iter()
        .flat_map(|(n, d)| std::iter::repeat_n(*d, *n as usize));
    let mut offsets = ctts
        .iter()
        .flat_map(|(n, o)| std::iter::repeat_n(*o, *n as usize));
    for s in &mut samples {
        s.dts = dts + shift;
        s.pts = s.dts + i64::from(offsets.next().unwrap_or(0));
        dts += i64::from(deltas.next().unwrap_or(0));
    }
    if let Some(sync) = sync {
        for n in sync {
            if let Some(s) = samples.get_mut((n as usize).wrapping_sub(1)) {
                s.keyframe = true;
            }
        }
    }
    let info = TrackInfo {
        id,
        timescale,
        config,
    };
    Ok(Some((info, samples)))
}

fn parse<T, E: fmt::Display>(r: Result<T, E>) -> Result<T, Mp4Error> {
    r.map_err(|e| Mp4Error(e.to_string()))
}

fn sample_entry_config(format: [u8; 4], entry: &[u8]) -> Result<Option<CodecConfig>, Mp4Error> {
    let visual_children = entry.get(78..).unwrap_or(&[]);
    let audio_children = entry.get(28..).unwrap_or(&[]);
    let channels = be16(entry, 16).unwrap_or(2) as u8;
    let sample_rate = be32(entry, 24).unwrap_or(0) >> 16;
    Ok(Some(match &format {
        b"avc1" | b"avc3" => CodecConfig::Avc(parse(AvcConfig::parse(Bytes::copy_from_slice(
            need(visual_children, b"avcC")?,
        )))?),
        b"hvc1" | b"hev1" => CodecConfig::Hevc(parse(HevcConfig::parse(Bytes::copy_from_slice(
            need(visual_children, b"hvcC")?,
        )))?),
        b".mp3" => CodecConfig::Mp3(Mp3Config {
            sample_rate,
            channels,
        }),
        b"mp4a" => {
            let esds = need(audio_children, b"esds")?;
            let (object_type, dsi) = parse_esds(esds.get(4..).unwrap_or(&[]))?;
            match object_type {
                0x40 | 0x66 | 0x67 | 0x68 => {
                    CodecConfig::Aac(parse(AacConfig::parse(Bytes::copy_from_slice(
                        dsi.ok_or_else(|| Mp4Error("aac without config".into()))?,
                    )))?)
                }
                0x69 | 0x6b => CodecConfig::Mp3(Mp3Config {
                    sample_rate,
                    channels,
                }),
                _ => return Ok(None),
            }
        }
        b"Opus" => {
            // dOps is big-endian; OpusHead is little-endian with the same fields.
            let d = need(audio_children, b"dOps")?;
            let mut head = b"OpusHead".to_vec();
            let field =
                |r: std::ops::Range<usize>| d.get(r).ok_or_else(|| Mp4Error("short dOps".into()));
            head.push(1);
            head.extend_from_slice(field(1..2)?);
            head.extend(field(2..4)?.iter().rev());
            head.extend(field(4..8)?.iter().rev());
            head.extend(field(8..10)?.iter().rev());
            head.extend_from_slice(field(10..11)?);
            head.extend_from_slice(d.get(11..).unwrap_or(&[]));
            CodecConfig::Opus(parse(OpusConfig::parse(Bytes::from(head)))?)
        }
        _ => return Ok(None),
    }))
}

/// Reads an MPEG-4 descriptor header: (tag, body, rest).
fn descriptor(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *b.first()?;
    let mut len = 0usize;
    let mut i = 1;
    loop {
        let byte = *b.get(i)?;
        len = (len << 7) | usize::from(byte & 0x7f);
        i += 1;
        if byte & 0x80 == 0 || i > 4 {
            break;
        }
    }
    let body = b.get(i..i + len)?;
    Some((tag, body, b.get(i + len..)?))
}

/// objectTypeIndication and DecoderSpecificInfo of an ES_Descriptor.
fn parse_esds(b: &[u8]) -> Result<(u8, Option<&[u8]>), Mp4Error> {
    let bad = || Mp4Error("bad esds".into());
    let (tag, es, _) = descriptor(b).ok_or_else(bad)?;
    if tag != 3 {
        return Err(bad());
    }
    let flags = *es.get(2).ok_or_else(bad)?;
    let mut at = 3;
    if flags & 0x80 != 0 {
        at += 2;
    }
    if flags & 0x40 != 0 {
        at += 1 + usize::from(*es.get(at).ok_or_else(bad)?);
    }
    if flags & 0x20 != 0 {
        at += 2;
    }
    let (tag, dcd, _) = descriptor(es.get(at..).ok_or_else(bad)?).ok_or_else(bad)?;
    if tag != 4 {
        return Err(bad());
    }
    let object_type = *dcd.first().ok_or_else(bad)?;
    let dsi = dcd
        .get(13..)
        .and_then(descriptor)
        .filter(|(tag, _, _)| *tag == 5)
        .map(|(_, body, _)| body);
    Ok((object_type, dsi))
}
