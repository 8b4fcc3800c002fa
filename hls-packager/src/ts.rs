//! MPEG-TS segments through `onair-ts-mux`.

use onair_media_types::{CodecConfig, CodecId, Frame, TrackInfo};
use onair_ts_mux::{TsMuxer, TsMuxerConfig};

use crate::error::Error;
use crate::SegmentFormat;

/// Whether `onair-ts-mux` carries this codec.
pub(crate) fn check_codec(config: &CodecConfig) -> Result<(), Error> {
    match config.codec() {
        CodecId::H264 | CodecId::H265 | CodecId::Aac | CodecId::Mp3 | CodecId::Opus => Ok(()),
        codec => Err(Error::UnsupportedCodec {
            codec,
            format: SegmentFormat::Ts,
        }),
    }
}

/// One muxer per epoch of the stream; every segment starts with PAT/PMT.
pub(crate) struct TsWriter {
    muxer: Option<TsMuxer>,
    tracks: Vec<TrackInfo>,
    /// Frames the muxer refused (it only refuses what `check_codec` let through in
    /// pathological cases, e.g. a codec change without a new track announcement).
    pub(crate) refused: u64,
}

impl TsWriter {
    pub(crate) fn new() -> Self {
        Self {
            muxer: None,
            tracks: Vec::new(),
            refused: 0,
        }
    }

    /// Forgets the muxer state: a new stream (discontinuity) starts.
    pub(crate) fn reset(&mut self) {
        self.muxer = None;
        self.tracks.clear();
    }

    pub(crate) fn start_segment(&mut self, tracks: &[TrackInfo]) {
        if self.tracks != tracks {
            // A changed track list is only possible across a discontinuity; start afresh so
            // a codec change on the same track id is not refused.
            self.muxer = None;
        }
        if self.muxer.is_none() {
            let Ok(mut muxer) = TsMuxer::new(TsMuxerConfig::default()) else {
                return;
            };
            for t in tracks {
                if muxer.add_track(t).is_err() {
                    self.refused += 1;
                }
            }
            self.muxer = Some(muxer);
            self.tracks = tracks.to_vec();
        }
        if let Some(m) = &mut self.muxer {
            m.new_segment();
        }
    }

    pub(crate) fn write_frame(&mut self, frame: &Frame, out: &mut Vec<u8>) {
        let ok = self
            .muxer
            .as_mut()
            .is_some_and(|m| m.write_frame(frame, out).is_ok());
        if !ok {
            self.refused += 1;
        }
    }
}
