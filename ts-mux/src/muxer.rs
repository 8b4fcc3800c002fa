//! The muxer: tracks in, 188-byte packets out.

use bytes::BytesMut;
use onair_media_types::{Frame, MediaKind, MediaTime, TrackId, TrackInfo};

use crate::error::TsError;
use crate::packet::{packet_count, write_pes, FirstPacketFlags, Piece, PieceReader, PACKET_SIZE};
use crate::psi::{pat_packet, pmt_packet, PmtEntry};
use crate::stream::{classify, Framing, NalClass, Stream};
use crate::types::{ContinuityCounter, Pid, Timestamp90k};

/// The most tracks one program carries (the PMT must fit in one packet).
pub const MAX_TRACKS: usize = 8;

/// Settings of a [`TsMuxer`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TsMuxerConfig {
    /// `transport_stream_id` written in the PAT.
    pub transport_stream_id: u16,
    /// The program's `program_number`.
    pub program_number: u16,
    /// The PID of the PMT (default 0x1000, as FFmpeg).
    pub pmt_pid: u16,
    /// The PID of the first track; later tracks take the following PIDs (default 0x100).
    pub first_pid: u16,
    /// Repeat PAT/PMT when this many 90 kHz ticks of DTS passed since they were last written
    /// (`None`: only at the start and at every [`TsMuxer::new_segment`]). Default 0.5 s.
    pub psi_interval: Option<u64>,
    /// A PCR goes into the first packet of a PES packet of the PCR PID when at least this many
    /// 90 kHz ticks passed since the previous PCR (and always on keyframes and at segment
    /// starts). The default (20 ms, as FFmpeg) puts one on every frame up to 50 fps, so PCRs
    /// are never more than 40 ms apart for frame rates of 25 fps and more.
    pub pcr_interval: u64,
    /// How far the PCR runs behind the DTS of the access unit it is sent with, in 90 kHz ticks
    /// (the decoder buffering delay; default 0.7 s, FFmpeg's default muxing delay). PTS and
    /// DTS are written as given, never shifted.
    pub pcr_delay: u64,
}

impl Default for TsMuxerConfig {
    fn default() -> Self {
        Self {
            transport_stream_id: 1,
            program_number: 1,
            pmt_pid: 0x1000,
            first_pid: 0x100,
            psi_interval: Some(45_000),
            pcr_interval: 1_800,
            pcr_delay: 63_000,
        }
    }
}

/// A sans-IO MPEG-TS muxer for one program (ISO/IEC 13818-1).
///
/// Add tracks with [`add_track`](Self::add_track), then hand every frame, in decode order
/// across tracks, to [`write_frame`](Self::write_frame), which appends whole 188-byte packets
/// to a buffer the caller owns. Call [`new_segment`](Self::new_segment) before the first frame
/// of every HLS segment (a video keyframe) so that the segment starts with PAT/PMT and a
/// keyframe with a PCR, and decodes on its own.
#[derive(Debug)]
pub struct TsMuxer {
    config: TsMuxerConfig,
    pmt_pid: Pid,
    streams: Vec<Stream>,
    pcr_index: Option<usize>,
    pat_cc: ContinuityCounter,
    pmt_cc: ContinuityCounter,
    version: u8,
    pat: [u8; PACKET_SIZE],
    pmt: [u8; PACKET_SIZE],
    psi_pending: bool,
    last_psi: Option<Timestamp90k>,
    pcr_pending: bool,
    last_pcr: Option<Timestamp90k>,
    head: Vec<u8>,
    pieces: Vec<Piece>,
    pes_len: usize,
}

/// Where [`TsMuxer`] appends packets: implemented for `Vec<u8>` and `BytesMut`.
pub trait TsBuffer {
    /// Makes room for at least `additional` more bytes (called once per frame).
    fn reserve_bytes(&mut self, additional: usize);
    /// Appends `bytes`.
    fn put_slice(&mut self, bytes: &[u8]);
}

impl TsBuffer for Vec<u8> {
    #[inline]
    fn reserve_bytes(&mut self, additional: usize) {
        self.reserve(additional);
    }

    #[inline]
    fn put_slice(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl TsBuffer for BytesMut {
    #[inline]
    fn reserve_bytes(&mut self, additional: usize) {
        self.reserve(additional);
    }

    #[inline]
    fn put_slice(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl TsMuxer {
    /// A muxer with no tracks. Fails if the configured PIDs are reserved or collide.
    pub fn new(config: TsMuxerConfig) -> Result<Self, TsError> {
        let usable = |v: u16| (0x10..0x1fff).contains(&v);
        let pmt_pid =
            Pid::new(config.pmt_pid)
                .filter(|p| usable(p.get()))
                .ok_or(TsError::InvalidPid {
                    pid: config.pmt_pid,
                })?;
        let last = config.first_pid.saturating_add(MAX_TRACKS as u16 - 1);
        if !usable(config.first_pid)
            || !usable(last)
            || (config.first_pid..=last).contains(&config.pmt_pid)
        {
            return Err(TsError::InvalidPid {
                pid: config.first_pid,
            });
        }
        let mut muxer = Self {
            pmt_pid,
            streams: Vec::new(),
            pcr_index: None,
            pat_cc: ContinuityCounter::default(),
            pmt_cc: ContinuityCounter::default(),
            version: 0,
            pat: [0; PACKET_SIZE],
            pmt: [0; PACKET_SIZE],
            psi_pending: true,
            last_psi: None,
            pcr_pending: true,
            last_pcr: None,
            head: Vec::with_capacity(512),
            pieces: Vec::with_capacity(64),
            pes_len: 0,
            config,
        };
        muxer.rebuild_tables();
        Ok(muxer)
    }

    /// Adds a track, or updates the configuration of a track added before (a new sequence
    /// header: same codec, same PID). Returns the track's PID.
    ///
    /// Tracks may be added after frames were written; the PMT then changes version and is
    /// sent again before the next frame.
    pub fn add_track(&mut self, info: &TrackInfo) -> Result<Pid, TsError> {
        if info.timescale == 0 {
            return Err(TsError::ZeroTimescale { track: info.id });
        }
        if let Some(s) = self.streams.iter_mut().find(|s| s.track == info.id) {
            let pid = s.pid;
            if s.reconfigure(info)? {
                self.version = (self.version + 1) & 0x1f;
                self.rebuild_tables();
                self.psi_pending = true;
            }
            return Ok(pid);
        }
        if self.streams.len() >= MAX_TRACKS {
            return Err(TsError::TooManyTracks {
                count: self.streams.len(),
            });
        }
        let pid = Pid::new(self.config.first_pid + self.streams.len() as u16).ok_or(
            TsError::InvalidPid {
                pid: self.config.first_pid,
            },
        )?;
        let stream = Stream::new(info, pid)?;
        self.streams.push(stream);
        if self.last_psi.is_some() || self.version != 0 {
            self.version = (self.version + 1) & 0x1f;
        }
        self.rebuild_tables();
        self.psi_pending = true;
        Ok(pid)
    }

    /// The PID carrying `track`, if it was added.
    pub fn pid_of(&self, track: TrackId) -> Option<Pid> {
        self.streams
            .iter()
            .find(|s| s.track == track)
            .map(|s| s.pid)
    }

    /// The PID whose packets carry the PCR (the first video track, else the first track).
    pub fn pcr_pid(&self) -> Option<Pid> {
        self.pcr_index
            .and_then(|i| self.streams.get(i))
            .map(|s| s.pid)
    }

    fn rebuild_tables(&mut self) {
        self.pcr_index = self
            .streams
            .iter()
            .position(|s| s.kind == MediaKind::Video)
            .or(if self.streams.is_empty() {
                None
            } else {
                Some(0)
            });
        // The PAT never changes (one program, fixed PMT PID): its version stays 0.
        self.pat = pat_packet(
            self.config.transport_stream_id,
            0,
            self.config.program_number,
            self.pmt_pid,
        );
        let pcr_pid = self.pcr_pid().unwrap_or(Pid::NULL);
        let mut entries = [const { None }; MAX_TRACKS];
        for (slot, s) in entries.iter_mut().zip(&self.streams) {
            *slot = Some(PmtEntry {
                stream_type: s.stream_type,
                pid: s.pid,
                descriptors: &s.descriptors,
            });
        }
        let entries: Vec<PmtEntry<'_>> = entries.into_iter().flatten().collect();
        if let Some(pmt) = pmt_packet(
            self.pmt_pid,
            self.config.program_number,
            self.version,
            pcr_pid,
            &entries,
        ) {
            self.pmt = pmt;
        }
    }

    /// Starts a new segment: the next frame is preceded by PAT and PMT, the next PES of the
    /// PCR PID carries a PCR, and video frames are dropped until each video track's next
    /// keyframe, so the segment decodes on its own. Call it right before a keyframe.
    pub fn new_segment(&mut self) {
        self.psi_pending = true;
        self.pcr_pending = true;
        for s in &mut self.streams {
            if s.kind == MediaKind::Video {
                s.awaiting_keyframe = true;
            }
        }
    }

    /// Sets `discontinuity_indicator` in the next packet of every track (ISO/IEC 13818-1
    /// 2.4.3.5): a timebase discontinuity on the PCR PID, continuity counters that may jump
    /// elsewhere. Use it when the timeline restarts, e.g. a publisher reconnected.
    pub fn set_discontinuity(&mut self) {
        for s in &mut self.streams {
            s.discontinuity = true;
        }
        self.pcr_pending = true;
    }

    /// Appends PAT and PMT (two packets) to `out`.
    pub fn write_tables<B: TsBuffer + ?Sized>(&mut self, out: &mut B) -> usize {
        out.reserve_bytes(2 * PACKET_SIZE);
        let mut pat = self.pat;
        pat[3] = (pat[3] & 0xf0) | self.pat_cc.next_value();
        out.put_slice(&pat);
        let mut pmt = self.pmt;
        pmt[3] = (pmt[3] & 0xf0) | self.pmt_cc.next_value();
        out.put_slice(&pmt);
        self.psi_pending = false;
        2 * PACKET_SIZE
    }

    /// Muxes one frame (frames of all tracks in decode order) and appends its packets to
    /// `out`, preceded by PAT/PMT when due. Returns the number of bytes appended: 0 for a
    /// video frame dropped while waiting for a keyframe at the start of a segment.
    ///
    /// Video payloads are length-prefixed NAL units; they are written in Annex B with an
    /// access unit delimiter, and the parameter sets of the track's configuration are put
    /// before random access pictures that lack them. AAC gets an ADTS header, Opus an
    /// `opus_control_header`; MP3 is written as is.
    pub fn write_frame<B: TsBuffer + ?Sized>(
        &mut self,
        frame: &Frame,
        out: &mut B,
    ) -> Result<usize, TsError> {
        let index = self
            .streams
            .iter()
            .position(|s| s.track == frame.track)
            .ok_or(TsError::UnknownTrack { track: frame.track })?;
        let (codec, awaiting) = match self.streams.get(index) {
            Some(s) => (s.codec, s.awaiting_keyframe),
            None => return Err(TsError::UnknownTrack { track: frame.track }),
        };
        if codec != frame.codec {
            return Err(TsError::CodecMismatch {
                track: frame.track,
                expected: codec,
                found: frame.codec,
            });
        }
        if frame.timescale == 0 {
            return Err(TsError::ZeroTimescale { track: frame.track });
        }
        if awaiting && !frame.keyframe {
            return Ok(0);
        }
        let dts = to_90k(frame.dts, frame.timescale);
        let pts = to_90k(frame.pts, frame.timescale);

        self.build_pes(index, frame, pts, dts)?;

        let mut written = 0;
        let psi_due = self.psi_pending
            || match (self.config.psi_interval, self.last_psi) {
                (Some(interval), Some(last)) => dts.signed_diff(last) >= interval as i64,
                (Some(_), None) => true,
                (None, _) => false,
            };
        if psi_due {
            written += self.write_tables(out);
            self.last_psi = Some(dts);
        }

        let is_pcr_stream = self.pcr_index == Some(index);
        let pcr_due = is_pcr_stream
            && (self.pcr_pending
                || frame.keyframe
                || self
                    .last_pcr
                    .is_none_or(|last| dts.signed_diff(last) >= self.config.pcr_interval as i64));
        let Some(stream) = self.streams.get_mut(index) else {
            return Err(TsError::UnknownTrack { track: frame.track });
        };
        stream.awaiting_keyframe = false;
        let is_video = stream.kind == MediaKind::Video;
        let first = FirstPacketFlags {
            pcr: pcr_due.then(|| dts.wrapping_sub(self.config.pcr_delay).get()),
            random_access: frame.keyframe && (is_video || self.pcr_index == Some(index)),
            discontinuity: stream.discontinuity,
        };
        stream.discontinuity = false;
        if pcr_due {
            self.last_pcr = Some(dts);
            self.pcr_pending = false;
        }
        let total = self.pes_len;
        let n = packet_count(total, first);
        out.reserve_bytes(n * PACKET_SIZE);
        let mut reader = PieceReader::new(&self.head, &frame.data, &self.pieces);
        write_pes(out, stream.pid, &mut stream.cc, first, total, &mut reader);
        Ok(written + n * PACKET_SIZE)
    }

    /// Builds the PES header and codec framing into `self.head` and the map of the PES
    /// packet's bytes into `self.pieces`; sets `self.pes_len`.
    fn build_pes(
        &mut self,
        index: usize,
        frame: &Frame,
        pts: Timestamp90k,
        dts: Timestamp90k,
    ) -> Result<(), TsError> {
        let Some(stream) = self.streams.get(index) else {
            return Err(TsError::UnknownTrack { track: frame.track });
        };
        let head = &mut self.head;
        let pieces = &mut self.pieces;
        head.clear();
        pieces.clear();
        let data: &[u8] = &frame.data;
        let is_video = stream.kind == MediaKind::Video;
        let with_dts = is_video && pts != dts;
        let header_len = if with_dts { 19 } else { 14 };
        head.resize(header_len, 0);
        pieces.push(Piece::Head(0, 0));
        let mut data_len = 0usize; // bytes taken from `data`, start codes included
        match &stream.framing {
            Framing::Video {
                hevc,
                nal_length_size,
                aud,
                parameter_sets,
            } => {
                let size = usize::from(*nal_length_size);
                let truncated = TsError::TruncatedNalUnit {
                    track: frame.track,
                    size: data.len(),
                };
                let mut pos = 0;
                let mut random_access = false;
                let mut has_parameter_sets = false;
                while pos < data.len() {
                    let len = data
                        .get(pos..pos + size)
                        .ok_or_else(|| truncated.clone())?
                        .iter()
                        .fold(0usize, |a, b| (a << 8) | usize::from(*b));
                    let start = pos + size;
                    let end = start
                        .checked_add(len)
                        .filter(|e| *e <= data.len())
                        .ok_or_else(|| truncated.clone())?;
                    pos = end;
                    // Empty NAL units are dropped (the byte at `start` belongs to the next).
                    let Some(&first) = data.get(start).filter(|_| len > 0) else {
                        continue;
                    };
                    match classify(*hevc, first) {
                        NalClass::Aud => continue,
                        NalClass::ParameterSet => has_parameter_sets = true,
                        NalClass::RandomAccess => random_access = true,
                        NalClass::Other => {}
                    }
                    pieces.push(Piece::StartCode);
                    pieces.push(Piece::Data(start, end));
                    data_len += 4 + len;
                }
                head.extend_from_slice(aud);
                if (random_access || frame.keyframe) && !has_parameter_sets {
                    head.extend_from_slice(parameter_sets);
                }
            }
            Framing::Adts(fixed) => {
                let frame_len = data.len() + 7;
                if frame_len > 0x1fff {
                    return Err(TsError::FrameTooLarge {
                        track: frame.track,
                        size: data.len(),
                        max: 0x1fff - 7,
                    });
                }
                let mut h = *fixed;
                h[3] |= (frame_len >> 11) as u8 & 0x03;
                h[4] = (frame_len >> 3) as u8;
                h[5] |= ((frame_len & 0x07) as u8) << 5;
                head.extend_from_slice(&h);
                pieces.push(Piece::Data(0, data.len()));
                data_len = data.len();
            }
            Framing::Mp3 => {
                pieces.push(Piece::Data(0, data.len()));
                data_len = data.len();
            }
            Framing::Opus => {
                // opus_control_header: 11-bit sync 0x3ff, no trims, no extension, then
                // au_size as a run of 0xff bytes plus a final byte.
                head.extend_from_slice(&[0x7f, 0xe0]);
                let mut n = data.len();
                while n >= 255 {
                    head.push(0xff);
                    n -= 255;
                }
                head.push(n as u8);
                pieces.push(Piece::Data(0, data.len()));
                data_len = data.len();
            }
        }
        if let Some(p) = pieces.first_mut() {
            *p = Piece::Head(0, head.len());
        }
        let total = head.len() + data_len;

        // PES header (ISO/IEC 13818-1 2.4.3.6).
        let pes_len_field = match u16::try_from(total - 6) {
            Ok(v) => v,
            Err(_) if is_video => 0,
            Err(_) => {
                return Err(TsError::FrameTooLarge {
                    track: frame.track,
                    size: data.len(),
                    max: usize::from(u16::MAX) + 6 + data.len() - total,
                })
            }
        };
        let h = &mut head[..header_len];
        h[..4].copy_from_slice(&[0, 0, 1, stream.stream_id]);
        h[4..6].copy_from_slice(&pes_len_field.to_be_bytes());
        h[6] = 0x84; // '10', data_alignment_indicator
        h[7] = if with_dts { 0xc0 } else { 0x80 };
        h[8] = (header_len - 9) as u8;
        if with_dts {
            put_timestamp(&mut h[9..14], 0x3, pts);
            put_timestamp(&mut h[14..19], 0x1, dts);
        } else {
            put_timestamp(&mut h[9..14], 0x2, pts);
        }
        self.pes_len = total;
        Ok(())
    }
}

fn to_90k(ticks: i64, timescale: u32) -> Timestamp90k {
    Timestamp90k::from_signed(MediaTime::new(ticks, timescale).rescale(90_000))
}

/// Writes a PTS or DTS field: 4-bit prefix, then 33 bits split 3/15/15 by marker bits.
fn put_timestamp(dst: &mut [u8], prefix: u8, ts: Timestamp90k) {
    let t = ts.get();
    dst.copy_from_slice(&[
        (prefix << 4) | (((t >> 30) as u8 & 0x07) << 1) | 1,
        (t >> 22) as u8,
        (((t >> 15) as u8 & 0x7f) << 1) | 1,
        (t >> 7) as u8,
        ((t as u8 & 0x7f) << 1) | 1,
    ]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use hex_literal::hex;
    use onair_media_types::{
        AacConfig, AvcConfig, CodecConfig, CodecId, OpusConfig, TrackId, TrackInfo,
    };

    /// PES packets (header included) per PID, reassembled from `ts`; checks continuity.
    fn pes_of(ts: &[u8], pid: u16) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = Vec::new();
        let mut cc: Option<u8> = None;
        for p in ts.chunks(PACKET_SIZE) {
            assert_eq!(p.len(), PACKET_SIZE);
            assert_eq!(p[0], 0x47);
            if (u16::from(p[1] & 0x1f) << 8 | u16::from(p[2])) != pid {
                continue;
            }
            if let Some(prev) = cc {
                assert_eq!(p[3] & 0x0f, (prev + 1) & 0x0f, "continuity");
            }
            cc = Some(p[3] & 0x0f);
            let start = if p[3] & 0x20 != 0 {
                5 + usize::from(p[4])
            } else {
                4
            };
            if p[1] & 0x40 != 0 {
                out.push(Vec::new());
            }
            if let Some(last) = out.last_mut() {
                last.extend_from_slice(&p[start..]);
            }
        }
        out
    }

    fn avc_track() -> TrackInfo {
        let record =
            Bytes::from_static(&hex!("01 64 00 1f ff e1 00 04 67 64 00 1f 01 00 02 68 ee"));
        TrackInfo {
            id: TrackId(0),
            timescale: 1000,
            config: CodecConfig::Avc(AvcConfig::parse(record).unwrap_or_else(|e| panic!("{e}"))),
        }
    }

    fn video(dts: i64, pts: i64, keyframe: bool, data: &'static [u8]) -> Frame {
        Frame {
            track: TrackId(0),
            codec: CodecId::H264,
            timescale: 1000,
            dts,
            pts,
            keyframe,
            data: Bytes::from_static(data),
        }
    }

    fn muxer() -> TsMuxer {
        TsMuxer::new(TsMuxerConfig::default()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn h264_gets_aud_and_parameter_sets_before_idr() {
        let mut m = muxer();
        assert_eq!(m.add_track(&avc_track()).map(Pid::get), Ok(0x100));
        let mut out = Vec::new();
        // A leading non-keyframe is dropped: the stream must start with a keyframe.
        assert_eq!(
            m.write_frame(&video(0, 0, false, &hex!("00 00 00 02 41 9a")), &mut out),
            Ok(0)
        );
        assert!(out.is_empty());
        let n = m
            .write_frame(
                &video(40, 120, true, &hex!("00 00 00 03 65 88 84")),
                &mut out,
            )
            .unwrap_or(0);
        assert_eq!(n, out.len());
        assert_eq!(n, 3 * PACKET_SIZE, "PAT, PMT and one PES packet");
        assert_eq!(&out[..4], &hex!("47 40 00 10"));
        assert_eq!(&out[188..192], &hex!("47 50 00 10"));
        // The PES carries a PCR (700 ms behind the DTS of 40 ms: wraps below zero).
        let pes_pkt = &out[376..];
        assert_eq!(&pes_pkt[..4], &hex!("47 41 00 30"));
        assert_eq!(pes_pkt[5] & 0x50, 0x50, "pcr and random access flags");
        m.write_frame(&video(80, 80, false, &hex!("00 00 00 02 41 9a")), &mut out)
            .unwrap_or(0);
        let pes = pes_of(&out, 0x100);
        assert_eq!(pes.len(), 2);
        // PTS 120 ms = 10800, DTS 40 ms = 3600.
        assert_eq!(&pes[0][..9], &hex!("00 00 01 e0 00 28 84 c0 0a"));
        assert_eq!(&pes[0][9..19], &hex!("31 00 01 54 61 11 00 01 1c 21"));
        assert_eq!(
            &pes[0][19..],
            &hex!(
                "00 00 00 01 09 f0 00 00 00 01 67 64 00 1f 00 00 00 01 68 ee 00 00 00 01 65 88 84"
            )
        );
        // PTS == DTS: only a PTS; no parameter sets on a non-IDR picture.
        assert_eq!(&pes[1][6..9], &hex!("84 80 05"));
        assert_eq!(&pes[1][14..], &hex!("00 00 00 01 09 f0 00 00 00 01 41 9a"));
    }

    #[test]
    fn in_band_parameter_sets_and_auds_are_not_doubled() {
        let mut m = muxer();
        let _ = m.add_track(&avc_track());
        let mut out = Vec::new();
        let frame = video(
            0,
            0,
            true,
            &hex!("00 00 00 02 09 10 00 00 00 02 67 42 00 00 00 02 68 ce 00 00 00 01 65"),
        );
        assert!(m.write_frame(&frame, &mut out).is_ok());
        let pes = pes_of(&out, 0x100);
        assert_eq!(
            &pes[0][14..],
            &hex!("00 00 00 01 09 f0 00 00 00 01 67 42 00 00 00 01 68 ce 00 00 00 01 65")
        );
    }

    #[test]
    fn empty_nal_units_are_dropped() {
        let mut m = muxer();
        let _ = m.add_track(&avc_track());
        let mut out = Vec::new();
        let frame = video(0, 0, false, &hex!("00 00 00 00 00 00 00 02 41 9a"));
        let mut key = frame.clone();
        key.keyframe = true;
        key.data = Bytes::from_static(&hex!("00 00 00 01 65"));
        assert!(m.write_frame(&key, &mut out).is_ok());
        assert!(m.write_frame(&frame, &mut out).is_ok());
        let pes = pes_of(&out, 0x100);
        assert_eq!(&pes[1][14..], &hex!("00 00 00 01 09 f0 00 00 00 01 41 9a"));
    }

    #[test]
    fn aac_gets_adts_and_opus_a_control_header() {
        let mut m = muxer();
        let aac = TrackInfo {
            id: TrackId(1),
            timescale: 48_000,
            config: CodecConfig::Aac(AacConfig::new(2, 3, 2)),
        };
        let head = hex!("4f 70 75 73 48 65 61 64 01 02 38 01 80 bb 00 00 00 00 00");
        let opus = TrackInfo {
            id: TrackId(2),
            timescale: 48_000,
            config: CodecConfig::Opus(
                OpusConfig::parse(Bytes::copy_from_slice(&head)).unwrap_or_else(|e| panic!("{e}")),
            ),
        };
        assert_eq!(m.add_track(&aac).map(Pid::get), Ok(0x100));
        assert_eq!(m.add_track(&opus).map(Pid::get), Ok(0x101));
        // Audio only: the first track carries the PCR.
        assert_eq!(m.pcr_pid().map(Pid::get), Some(0x100));
        let mut out = Vec::new();
        let f = |track, codec, data: Vec<u8>| Frame {
            track: TrackId(track),
            codec,
            timescale: 48_000,
            dts: 0,
            pts: 0,
            keyframe: true,
            data: Bytes::from(data),
        };
        assert!(m
            .write_frame(&f(1, CodecId::Aac, vec![1, 2, 3, 4, 5, 6]), &mut out)
            .is_ok());
        assert!(m
            .write_frame(&f(2, CodecId::Opus, vec![0xfc; 300]), &mut out)
            .is_ok());
        let aac_pes = pes_of(&out, 0x100);
        assert_eq!(&aac_pes[0][..6], &hex!("00 00 01 c0 00 15"));
        assert_eq!(
            &aac_pes[0][14..],
            &hex!("ff f1 4c 80 01 bf fc 01 02 03 04 05 06")
        );
        let opus_pes = pes_of(&out, 0x101);
        assert_eq!(&opus_pes[0][..4], &hex!("00 00 01 bd"));
        assert_eq!(&opus_pes[0][14..18], &hex!("7f e0 ff 2d"));
        assert_eq!(opus_pes[0].len(), 18 + 300);
        // The PMT declares the Opus descriptors.
        let pmt = &out[188..];
        let descriptors = hex!("06 e1 01 f0 0a 05 04 4f 70 75 73 7f 02 80 02");
        assert!(pmt.windows(descriptors.len()).any(|w| w == descriptors));
    }

    #[test]
    fn timestamps_wrap_modulo_2_pow_33() {
        let mut m = muxer();
        let _ = m.add_track(&avc_track());
        let mut out = Vec::new();
        // 2^33 ticks of 90 kHz is 95443717.68 ms; 1 ms past it wraps to 90 ticks.
        let ms = (1i64 << 33) / 90 + 1;
        let frame = video(ms, ms, true, &hex!("00 00 00 01 65"));
        assert!(m.write_frame(&frame, &mut out).is_ok());
        let pes = pes_of(&out, 0x100);
        let expected = Timestamp90k::from_signed(MediaTime::new(ms, 1000).rescale(90_000));
        assert!(expected.get() < 200);
        let mut field = [0u8; 5];
        put_timestamp(&mut field, 2, expected);
        assert_eq!(&pes[0][9..14], &field);
    }

    #[test]
    fn new_segment_repeats_tables_and_waits_for_a_keyframe() {
        let mut m = muxer();
        let _ = m.add_track(&avc_track());
        let mut out = Vec::new();
        let _ = m.write_frame(&video(0, 0, true, &hex!("00 00 00 01 65")), &mut out);
        let first = out.len();
        let _ = m.write_frame(&video(40, 40, false, &hex!("00 00 00 01 41")), &mut out);
        assert_eq!(out.len() - first, PACKET_SIZE, "no tables mid-segment");
        m.new_segment();
        let before = out.len();
        assert_eq!(
            m.write_frame(&video(80, 80, false, &hex!("00 00 00 01 41")), &mut out),
            Ok(0)
        );
        let _ = m.write_frame(&video(120, 120, true, &hex!("00 00 00 01 65")), &mut out);
        assert_eq!(
            &out[before..before + 4],
            &hex!("47 40 00 11"),
            "PAT, counter 1"
        );
        assert_eq!(&out[before + 188..before + 192], &hex!("47 50 00 11"));
        assert_eq!(pes_of(&out, 0x100).len(), 3);
    }

    #[test]
    fn discontinuity_is_flagged_once() {
        let mut m = muxer();
        let _ = m.add_track(&avc_track());
        let mut out = Vec::new();
        let _ = m.write_frame(&video(0, 0, true, &hex!("00 00 00 01 65")), &mut out);
        m.set_discontinuity();
        let at = out.len();
        let _ = m.write_frame(&video(40, 40, false, &hex!("00 00 00 01 41")), &mut out);
        assert_eq!(out[at + 5] & 0x80, 0x80);
        let at = out.len();
        let _ = m.write_frame(&video(80, 80, false, &hex!("00 00 00 01 41")), &mut out);
        assert_eq!(out[at + 3] & 0x20, 0x20, "stuffing");
        assert_eq!(out[at + 5] & 0x80, 0);
    }

    #[test]
    fn hevc_gets_its_aud_and_vps_sps_pps_before_irap() {
        let mut rec =
            hex!("01 01 60 00 00 00 b0 00 00 00 00 00 5d f0 00 fc fd f8 f8 00 00 0f 03").to_vec();
        for (t, nal) in [
            (32u8, &[0x40u8, 0x01][..]),
            (33, &[0x42, 0x01]),
            (34, &[0x44, 0x01]),
        ] {
            rec.extend_from_slice(&[0x80 | t, 0, 1, 0, nal.len() as u8]);
            rec.extend_from_slice(nal);
        }
        let config = onair_media_types::HevcConfig::parse(Bytes::from(rec))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut m = muxer();
        let track = TrackInfo {
            id: TrackId(0),
            timescale: 1000,
            config: CodecConfig::Hevc(config),
        };
        assert_eq!(m.add_track(&track).map(Pid::get), Ok(0x100));
        let mut out = Vec::new();
        // CRA picture (type 21): 0x2a 0x01.
        let mut frame = video(0, 0, true, &hex!("00 00 00 03 2a 01 af"));
        frame.codec = CodecId::H265;
        assert!(m.write_frame(&frame, &mut out).is_ok());
        let pes = pes_of(&out, 0x100);
        assert_eq!(
            &pes[0][14..],
            &hex!("00 00 00 01 46 01 50 00 00 00 01 40 01 00 00 00 01 42 01 00 00 00 01 44 01 00 00 00 01 2a 01 af")
        );
        // The PMT names stream type 0x24.
        assert_eq!(&out[188 + 17..188 + 20], &hex!("24 e1 00"));
    }

    #[test]
    fn a_late_track_bumps_the_pmt_version() {
        let mut m = muxer();
        let _ = m.add_track(&avc_track());
        let mut out = Vec::new();
        let _ = m.write_frame(&video(0, 0, true, &hex!("00 00 00 01 65")), &mut out);
        assert_eq!(out[188 + 10], 0xc1, "version 0");
        let aac = TrackInfo {
            id: TrackId(1),
            timescale: 48_000,
            config: CodecConfig::Aac(AacConfig::new(2, 3, 2)),
        };
        assert_eq!(m.add_track(&aac).map(Pid::get), Ok(0x101));
        let at = out.len();
        let _ = m.write_frame(&video(40, 40, false, &hex!("00 00 00 01 41")), &mut out);
        assert_eq!(&out[at..at + 4], &hex!("47 40 00 11"), "PAT again");
        assert_eq!(out[at + 188 + 10], 0xc3, "PMT version 1");
        // Re-announcing a track with the same codec keeps its PID.
        assert_eq!(m.add_track(&aac).map(Pid::get), Ok(0x101));
    }

    #[test]
    fn bad_input_gives_typed_errors() {
        let mut m = muxer();
        let _ = m.add_track(&avc_track());
        let mut out = Vec::new();
        let truncated = video(0, 0, true, &hex!("00 00 00 09 65 88"));
        assert_eq!(
            m.write_frame(&truncated, &mut out),
            Err(TsError::TruncatedNalUnit {
                track: TrackId(0),
                size: 6
            })
        );
        let mut other = video(0, 0, true, &hex!("00"));
        other.track = TrackId(7);
        assert_eq!(
            m.write_frame(&other, &mut out),
            Err(TsError::UnknownTrack { track: TrackId(7) })
        );
        let mut wrong = video(0, 0, true, &hex!("00"));
        wrong.codec = CodecId::H265;
        assert!(matches!(
            m.write_frame(&wrong, &mut out),
            Err(TsError::CodecMismatch { .. })
        ));
        let av1 = TrackInfo {
            id: TrackId(3),
            timescale: 1000,
            config: CodecConfig::Av1(Bytes::new()),
        };
        assert_eq!(
            m.add_track(&av1),
            Err(TsError::UnsupportedCodec {
                codec: CodecId::Av1
            })
        );
        assert!(out.is_empty());
    }
}
