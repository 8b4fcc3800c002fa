//! Ladders as asked for ([`Rung`], [`Ladder`], parsed from `source,720p,480p@1000k,...`) and
//! planned against a source (no upscaling, even sizes, the source's aspect ratio, no
//! duplicates, each rung scaled from the nearest larger picture).

use std::fmt;
use std::str::FromStr;

/// The named rungs: height and bitrate, 16:9 (the width comes from the source's aspect).
pub const NAMED_RUNGS: [(u32, u64); 6] = [
    (1080, 6_000_000),
    (720, 3_000_000),
    (540, 2_000_000),
    (480, 1_500_000),
    (360, 800_000),
    (240, 400_000),
];

/// At most this many rungs in a ladder.
pub const MAX_RUNGS: usize = 16;

/// One rung of a ladder, as asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rung {
    /// The source's own video, passed through without decoding or encoding, if its
    /// keyframes are regular and fit the segment target; otherwise a transcoded rung at the
    /// source's size takes its place.
    Source,
    /// A picture `height` lines high and as wide as the source's display aspect ratio makes
    /// it (`720p`, `720p@2500k`).
    Height {
        /// Lines.
        height: u32,
        /// Target bitrate in bits per second.
        bitrate_bps: u64,
    },
    /// An explicit picture size (`1280x720@3000k`).
    Size {
        /// Pixels per line.
        width: u32,
        /// Lines.
        height: u32,
        /// Target bitrate in bits per second.
        bitrate_bps: u64,
    },
}

impl Rung {
    /// A named rung (`1080`, `720`, `540`, `480`, `360`, `240`) at its standard bitrate.
    pub fn named(height: u32) -> Option<Self> {
        NAMED_RUNGS
            .iter()
            .find(|(h, _)| *h == height)
            .map(|&(height, bitrate_bps)| Rung::Height {
                height,
                bitrate_bps,
            })
    }

    /// The target bitrate (`None` for [`Rung::Source`]).
    pub fn bitrate_bps(&self) -> Option<u64> {
        match self {
            Rung::Source => None,
            Rung::Height { bitrate_bps, .. } | Rung::Size { bitrate_bps, .. } => Some(*bitrate_bps),
        }
    }
}

fn write_kbps(f: &mut fmt::Formatter<'_>, bps: u64) -> fmt::Result {
    if bps % 1000 == 0 {
        write!(f, "@{}k", bps / 1000)
    } else {
        write!(f, "@{bps}")
    }
}

impl fmt::Display for Rung {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Rung::Source => f.write_str("source"),
            Rung::Height {
                height,
                bitrate_bps,
            } => {
                write!(f, "{height}p")?;
                if Rung::named(height) != Some(*self) {
                    write_kbps(f, bitrate_bps)?;
                }
                Ok(())
            }
            Rung::Size {
                width,
                height,
                bitrate_bps,
            } => {
                write!(f, "{width}x{height}")?;
                write_kbps(f, bitrate_bps)
            }
        }
    }
}

/// Why a ladder's text could not be read. `position` counts rungs from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LadderError {
    /// No rungs.
    #[error("the ladder is empty")]
    Empty,
    /// More rungs than [`MAX_RUNGS`].
    #[error("more than {max} rungs")]
    TooManyRungs {
        /// The limit.
        max: usize,
    },
    /// Neither `source`, `<height>p`, nor `<width>x<height>`.
    #[error("rung {position}: not `source`, `<height>p` or `<width>x<height>`")]
    UnknownRung {
        /// Which rung.
        position: usize,
    },
    /// A size of zero, or above 8192.
    #[error("rung {position}: invalid picture size")]
    InvalidSize {
        /// Which rung.
        position: usize,
    },
    /// A bitrate that is not `<number>`, `<number>k` (both kbit/s) or `<number>M`, or is
    /// below 16 kbit/s or above 1 Gbit/s.
    #[error("rung {position}: invalid bitrate")]
    InvalidBitrate {
        /// Which rung.
        position: usize,
    },
    /// A height with no standard bitrate and none given (`900p` needs `900p@4000k`), or a
    /// `<width>x<height>` without `@<kbps>`.
    #[error("rung {position}: needs a bitrate (`@<kbps>`)")]
    MissingBitrate {
        /// Which rung.
        position: usize,
    },
    /// `source` given twice, or with a bitrate.
    #[error("rung {position}: `source` may appear once, without a bitrate")]
    InvalidSource {
        /// Which rung.
        position: usize,
    },
}

/// The renditions asked for, in the order given.
///
/// Parsed from a comma-separated list: `source`, named rungs (`1080p` 6000k, `720p` 3000k,
/// `540p` 2000k, `480p` 1500k, `360p` 800k, `240p` 400k), any height with a bitrate
/// (`720p@2500k`, `900p@4000k`), or an explicit size (`1280x720@3000k`). Bitrates are in
/// kbit/s with or without `k`, or in Mbit/s with `M` (`2.5M`).
///
/// ```
/// use onair_transcode::{Ladder, Rung};
/// let ladder: Ladder = "source,720p,480p@1000k,640x360@800".parse()?;
/// assert_eq!(ladder.rungs()[2], Rung::Height { height: 480, bitrate_bps: 1_000_000 });
/// assert_eq!(ladder.to_string(), "source,720p,480p@1000k,640x360@800k");
/// # Ok::<(), onair_transcode::LadderError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ladder {
    rungs: Vec<Rung>,
}

impl Ladder {
    /// A ladder of `rungs`, checked as the parser checks them.
    pub fn new(rungs: Vec<Rung>) -> Result<Self, LadderError> {
        if rungs.is_empty() {
            return Err(LadderError::Empty);
        }
        if rungs.len() > MAX_RUNGS {
            return Err(LadderError::TooManyRungs { max: MAX_RUNGS });
        }
        let mut sources = 0;
        for (position, rung) in rungs.iter().enumerate() {
            match *rung {
                Rung::Source => {
                    sources += 1;
                    if sources > 1 {
                        return Err(LadderError::InvalidSource { position });
                    }
                }
                Rung::Height {
                    height,
                    bitrate_bps,
                } => {
                    check_dimension(height, position)?;
                    check_bitrate(bitrate_bps, position)?;
                }
                Rung::Size {
                    width,
                    height,
                    bitrate_bps,
                } => {
                    check_dimension(width, position)?;
                    check_dimension(height, position)?;
                    check_bitrate(bitrate_bps, position)?;
                }
            }
        }
        Ok(Self { rungs })
    }

    /// `720p,480p,360p`: a common ladder for a 720p or 1080p source.
    pub fn standard() -> Self {
        Self {
            rungs: [720, 480, 360]
                .into_iter()
                .filter_map(Rung::named)
                .collect(),
        }
    }

    /// The rungs, in the order given.
    pub fn rungs(&self) -> &[Rung] {
        &self.rungs
    }

    /// Whether a `source` rung asks for passthrough.
    pub fn has_source(&self) -> bool {
        self.rungs.contains(&Rung::Source)
    }
}

fn check_dimension(v: u32, position: usize) -> Result<(), LadderError> {
    if v == 0 || v > 8192 {
        Err(LadderError::InvalidSize { position })
    } else {
        Ok(())
    }
}

fn check_bitrate(bps: u64, position: usize) -> Result<(), LadderError> {
    if (16_000..=1_000_000_000).contains(&bps) {
        Ok(())
    } else {
        Err(LadderError::InvalidBitrate { position })
    }
}

fn parse_dimension(s: &str, position: usize) -> Result<u32, LadderError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(LadderError::UnknownRung { position });
    }
    s.parse().map_err(|_| LadderError::InvalidSize { position })
}

/// `3000`, `3000k` (kbit/s) or `2.5M` (Mbit/s), in bits per second.
fn parse_bitrate(s: &str, position: usize) -> Result<u64, LadderError> {
    let invalid = LadderError::InvalidBitrate { position };
    let (number, scale) = if let Some(n) = s.strip_suffix(['k', 'K']) {
        (n, 1_000.0)
    } else if let Some(n) = s.strip_suffix('M') {
        (n, 1_000_000.0)
    } else {
        (s, 1_000.0)
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(invalid);
    }
    let value: f64 = number.parse().map_err(|_| invalid)?;
    let bps = (value * scale).round();
    if !(1.0..=1e12).contains(&bps) {
        return Err(invalid);
    }
    Ok(bps as u64)
}

fn parse_rung(text: &str, position: usize) -> Result<Rung, LadderError> {
    let (shape, bitrate) = match text.split_once('@') {
        Some((shape, rate)) => (shape, Some(parse_bitrate(rate, position)?)),
        None => (text, None),
    };
    if shape.eq_ignore_ascii_case("source") {
        return match bitrate {
            None => Ok(Rung::Source),
            Some(_) => Err(LadderError::InvalidSource { position }),
        };
    }
    if let Some(height) = shape.strip_suffix(['p', 'P']) {
        let height = parse_dimension(height, position)?;
        let bitrate_bps = match bitrate {
            Some(b) => b,
            None => Rung::named(height)
                .and_then(|r| r.bitrate_bps())
                .ok_or(LadderError::MissingBitrate { position })?,
        };
        return Ok(Rung::Height {
            height,
            bitrate_bps,
        });
    }
    if let Some((w, h)) = shape.split_once(['x', 'X']) {
        let width = parse_dimension(w, position)?;
        let height = parse_dimension(h, position)?;
        let bitrate_bps = bitrate.ok_or(LadderError::MissingBitrate { position })?;
        return Ok(Rung::Size {
            width,
            height,
            bitrate_bps,
        });
    }
    Err(LadderError::UnknownRung { position })
}

impl FromStr for Ladder {
    type Err = LadderError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut rungs = Vec::new();
        for (position, part) in s.split(',').map(str::trim).enumerate() {
            if part.is_empty() {
                if s.trim().is_empty() {
                    return Err(LadderError::Empty);
                }
                return Err(LadderError::UnknownRung { position });
            }
            if position >= MAX_RUNGS {
                return Err(LadderError::TooManyRungs { max: MAX_RUNGS });
            }
            rungs.push(parse_rung(part, position)?);
        }
        Ladder::new(rungs)
    }
}

impl fmt::Display for Ladder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, rung) in self.rungs.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{rung}")?;
        }
        Ok(())
    }
}

/// What planning needs to know about the source's pictures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourcePicture {
    /// Coded width in pixels.
    pub width: u32,
    /// Coded height in lines.
    pub height: u32,
    /// Sample (pixel) aspect ratio, `(1, 1)` for square pixels.
    pub sample_aspect: (u32, u32),
    /// The source's video bitrate, if known.
    pub bitrate_bps: Option<u64>,
}

impl SourcePicture {
    /// The width the picture is shown at (coded width times the sample aspect ratio).
    pub fn display_width(&self) -> u32 {
        let (num, den) = self.sample_aspect;
        if num == 0 || den == 0 {
            return self.width;
        }
        let w = u64::from(self.width) * u64::from(num) / u64::from(den);
        u32::try_from(w).unwrap_or(self.width)
    }
}

/// Why planning dropped a rung.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// Larger than the source (no upscaling).
    AboveSourceSize,
    /// At or above the source's bitrate: it could only spend bits on what is not there.
    AtOrAboveSourceBitrate,
    /// The same picture size as an earlier rung (the earlier one stays).
    Duplicate,
}

/// A rung that will be transcoded, as planned against a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlannedRung {
    /// The rung asked for (`Rung::Source` for the stand-in of a refused passthrough).
    pub(crate) rung: Rung,
    /// `720p`, `1280x720`.
    pub(crate) name: String,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) bitrate_bps: u64,
}

/// The outcome of planning a ladder against a source.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Plan {
    /// The rungs to transcode, largest picture first.
    pub(crate) rungs: Vec<PlannedRung>,
    /// A transcoded rung at the source's size that replaces `source` if passthrough is
    /// refused (`None` when a transcoded rung of that size exists already, or no `source`
    /// rung was asked for).
    pub(crate) stand_in: Option<PlannedRung>,
    /// Rungs dropped, and why.
    pub(crate) dropped: Vec<(Rung, DropReason)>,
}

fn even(v: u64) -> u32 {
    let v = v.div_ceil(2) * 2;
    u32::try_from(v.max(2)).unwrap_or(u32::MAX - 1)
}

/// Rounds to the nearest even number (at least 2).
fn round_even(num: u64, den: u64) -> u32 {
    if den == 0 {
        return 2;
    }
    // nearest multiple of 2 of num/den
    let twice = (num + den) / (2 * den);
    u32::try_from((twice * 2).max(2)).unwrap_or(u32::MAX - 1)
}

/// The bitrate of a transcoded rung at `height` lines with no bitrate given: the named
/// rung's at the nearest height at or above, scaled by area above 1080p.
pub(crate) fn default_bitrate(height: u32) -> u64 {
    NAMED_RUNGS
        .iter()
        .rev()
        .find(|(h, _)| *h >= height)
        .map(|&(_, b)| b)
        .unwrap_or_else(|| {
            let (h, b) = NAMED_RUNGS[0];
            b * u64::from(height) * u64::from(height) / (u64::from(h) * u64::from(h))
        })
}

/// Plans `ladder` against `source`: sizes, drops and the stand-in for `source`.
pub(crate) fn plan(ladder: &Ladder, source: &SourcePicture) -> Plan {
    let src_h = source.height;
    let src_w = source.display_width();
    // The largest even size within the source: what the source-sized rung gets.
    let (full_w, full_h) = (src_w.max(2) / 2 * 2, src_h.max(2) / 2 * 2);
    let mut planned: Vec<PlannedRung> = Vec::new();
    let mut dropped = Vec::new();
    for rung in ladder.rungs() {
        // Heights and explicit sizes above the source are dropped; a width derived from
        // the aspect ratio is only rounded, and clamped to the source's.
        let (name, width, height, bitrate_bps, above) = match *rung {
            Rung::Source => continue,
            Rung::Height {
                height,
                bitrate_bps,
            } => {
                let width = round_even(
                    u64::from(height) * u64::from(src_w),
                    u64::from(src_h.max(1)),
                );
                let above = height > src_h;
                (
                    format!("{height}p"),
                    width,
                    even(u64::from(height)),
                    bitrate_bps,
                    above,
                )
            }
            Rung::Size {
                width,
                height,
                bitrate_bps,
            } => (
                format!("{width}x{height}"),
                even(u64::from(width)),
                even(u64::from(height)),
                bitrate_bps,
                width > src_w || height > src_h,
            ),
        };
        if above {
            dropped.push((*rung, DropReason::AboveSourceSize));
            continue;
        }
        if source.bitrate_bps.is_some_and(|b| bitrate_bps >= b) {
            dropped.push((*rung, DropReason::AtOrAboveSourceBitrate));
            continue;
        }
        let (width, height) = (width.min(full_w), height.min(full_h));
        if planned
            .iter()
            .any(|p| p.width == width && p.height == height)
        {
            dropped.push((*rung, DropReason::Duplicate));
            continue;
        }
        planned.push(PlannedRung {
            rung: *rung,
            name,
            width,
            height,
            bitrate_bps,
        });
    }
    let source_size_covered = planned
        .iter()
        .any(|p| p.width == full_w && p.height == full_h);
    let stand_in =
        ((ladder.has_source() || planned.is_empty()) && !source_size_covered).then(|| {
            let standard = default_bitrate(full_h);
            PlannedRung {
                rung: Rung::Source,
                name: format!("{full_h}p"),
                width: full_w,
                height: full_h,
                bitrate_bps: source.bitrate_bps.map_or(standard, |b| b.min(standard)),
            }
        });
    let stand_in = match stand_in {
        // Without a `source` rung the stand-in is the only rung there is.
        Some(only) if !ladder.has_source() => {
            planned.push(only);
            None
        }
        other => other,
    };
    planned.sort_by_key(|p| std::cmp::Reverse(u64::from(p.width) * u64::from(p.height)));
    Plan {
        rungs: planned,
        stand_in,
        dropped,
    }
}

/// For each rung (largest first), the index of the rung whose picture it is scaled from:
/// the smallest larger one that contains it in both dimensions, `None` for the source.
pub(crate) fn scale_sources(sizes: &[(u32, u32)]) -> Vec<Option<usize>> {
    sizes
        .iter()
        .enumerate()
        .map(|(i, &(w, h))| {
            (0..i).rev().find(|&j| {
                let (pw, ph) = sizes[j];
                pw >= w && ph >= h && (pw, ph) != (w, h)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(width: u32, height: u32) -> SourcePicture {
        SourcePicture {
            width,
            height,
            sample_aspect: (1, 1),
            bitrate_bps: None,
        }
    }

    fn sizes(plan: &Plan) -> Vec<(u32, u32)> {
        plan.rungs.iter().map(|r| (r.width, r.height)).collect()
    }

    #[test]
    fn parses_named_height_and_explicit_rungs() {
        let ladder: Ladder = "source, 1080p,720p@2500k,540P,480p@1.5M,1280x720@3000,426x240@400k"
            .parse()
            .unwrap();
        assert_eq!(
            ladder.rungs(),
            &[
                Rung::Source,
                Rung::Height {
                    height: 1080,
                    bitrate_bps: 6_000_000
                },
                Rung::Height {
                    height: 720,
                    bitrate_bps: 2_500_000
                },
                Rung::Height {
                    height: 540,
                    bitrate_bps: 2_000_000
                },
                Rung::Height {
                    height: 480,
                    bitrate_bps: 1_500_000
                },
                Rung::Size {
                    width: 1280,
                    height: 720,
                    bitrate_bps: 3_000_000
                },
                Rung::Size {
                    width: 426,
                    height: 240,
                    bitrate_bps: 400_000
                },
            ]
        );
        assert_eq!(
            ladder.to_string(),
            "source,1080p,720p@2500k,540p,480p,1280x720@3000k,426x240@400k"
        );
        assert_eq!(ladder.to_string().parse::<Ladder>().unwrap(), ladder);
    }

    #[test]
    fn parse_errors_are_typed() {
        let err = |s: &str| s.parse::<Ladder>().unwrap_err();
        assert_eq!(err(""), LadderError::Empty);
        assert_eq!(err("720p,,480p"), LadderError::UnknownRung { position: 1 });
        assert_eq!(err("720p,hd"), LadderError::UnknownRung { position: 1 });
        assert_eq!(err("900p"), LadderError::MissingBitrate { position: 0 });
        assert_eq!(err("640x360"), LadderError::MissingBitrate { position: 0 });
        assert_eq!(
            err("720p@fast"),
            LadderError::InvalidBitrate { position: 0 }
        );
        assert_eq!(err("720p@5"), LadderError::InvalidBitrate { position: 0 });
        assert_eq!(err("0p@500k"), LadderError::InvalidSize { position: 0 });
        assert_eq!(
            err("99999x2@500k"),
            LadderError::InvalidSize { position: 0 }
        );
        assert_eq!(err("-720p"), LadderError::UnknownRung { position: 0 });
        assert_eq!(
            err("source,source"),
            LadderError::InvalidSource { position: 1 }
        );
        assert_eq!(
            err("source@500k"),
            LadderError::InvalidSource { position: 0 }
        );
        assert_eq!(
            err(&["240p"; 17].join(",")),
            LadderError::TooManyRungs { max: MAX_RUNGS }
        );
        assert_eq!(
            "900p@4000k".parse::<Ladder>().unwrap().rungs(),
            &[Rung::Height {
                height: 900,
                bitrate_bps: 4_000_000
            }]
        );
    }

    #[test]
    fn width_follows_the_source_aspect_and_sizes_are_even() {
        let ladder: Ladder = "1080p,720p,540p,480p,360p,240p".parse().unwrap();
        let plan = plan(&ladder, &source(1920, 1080));
        assert_eq!(
            sizes(&plan),
            [
                (1920, 1080),
                (1280, 720),
                (960, 540),
                (854, 480),
                (640, 360),
                (426, 240)
            ]
        );
        // 4:3 source: the same heights, narrower.
        let plan = super::plan(&ladder, &source(1440, 1080));
        assert_eq!(
            sizes(&plan),
            [
                (1440, 1080),
                (960, 720),
                (720, 540),
                (640, 480),
                (480, 360),
                (320, 240)
            ]
        );
        // Odd heights and widths come out even.
        let ladder: Ladder = "361p@500k,333x201@300k".parse().unwrap();
        let plan = super::plan(&ladder, &source(1280, 720));
        assert_eq!(sizes(&plan), [(642, 362), (334, 202)]);
        assert!(plan
            .rungs
            .iter()
            .all(|r| r.width % 2 == 0 && r.height % 2 == 0));
    }

    #[test]
    fn anamorphic_sources_are_widened_to_their_display_aspect() {
        // 1440x1080 shown at 4:3 pixels = 1920x1080 on screen.
        let src = SourcePicture {
            sample_aspect: (4, 3),
            ..source(1440, 1080)
        };
        let plan = plan(&"720p".parse().unwrap(), &src);
        assert_eq!(sizes(&plan), [(1280, 720)]);
    }

    #[test]
    fn no_upscaling_rungs_above_the_source_are_dropped() {
        let ladder: Ladder = "1080p,720p,480p,1920x1080@5000k".parse().unwrap();
        let plan = plan(&ladder, &source(1280, 720));
        assert_eq!(sizes(&plan), [(1280, 720), (854, 480)]);
        assert_eq!(
            plan.dropped,
            [
                (Rung::named(1080).unwrap(), DropReason::AboveSourceSize),
                (
                    Rung::Size {
                        width: 1920,
                        height: 1080,
                        bitrate_bps: 5_000_000
                    },
                    DropReason::AboveSourceSize
                )
            ]
        );
        assert_eq!(plan.stand_in, None);
    }

    #[test]
    fn rungs_at_or_above_the_source_bitrate_are_dropped() {
        let ladder: Ladder = "720p,480p,360p".parse().unwrap();
        let src = SourcePicture {
            bitrate_bps: Some(1_500_000),
            ..source(1280, 720)
        };
        let plan = plan(&ladder, &src);
        assert_eq!(sizes(&plan), [(640, 360)]);
        assert_eq!(
            plan.dropped,
            [
                (
                    Rung::named(720).unwrap(),
                    DropReason::AtOrAboveSourceBitrate
                ),
                (
                    Rung::named(480).unwrap(),
                    DropReason::AtOrAboveSourceBitrate
                ),
            ]
        );
    }

    #[test]
    fn duplicates_keep_the_first() {
        let ladder: Ladder = "720p,1280x720@2000k,480p,480p@1000k".parse().unwrap();
        let plan = plan(&ladder, &source(1920, 1080));
        assert_eq!(sizes(&plan), [(1280, 720), (854, 480)]);
        assert_eq!(plan.rungs[0].bitrate_bps, 3_000_000);
        assert_eq!(plan.rungs[1].bitrate_bps, 1_500_000);
        assert_eq!(plan.dropped.len(), 2);
        assert!(plan
            .dropped
            .iter()
            .all(|(_, r)| *r == DropReason::Duplicate));
    }

    #[test]
    fn source_gets_a_stand_in_at_its_size_unless_a_rung_covers_it() {
        let ladder: Ladder = "source,720p,480p".parse().unwrap();
        let plan = super::plan(&ladder, &source(1920, 1080));
        let stand_in = plan.stand_in.unwrap();
        assert_eq!((stand_in.width, stand_in.height), (1920, 1080));
        assert_eq!(stand_in.bitrate_bps, 6_000_000);
        assert_eq!(stand_in.name, "1080p");
        // A 720p source: the 720p rung covers it.
        let plan = super::plan(&ladder, &source(1280, 720));
        assert_eq!(plan.stand_in, None);
        // A known source bitrate below the standard one caps the stand-in.
        let src = SourcePicture {
            bitrate_bps: Some(2_000_000),
            ..source(1920, 1080)
        };
        let plan = super::plan(&ladder, &src);
        assert_eq!(plan.stand_in.unwrap().bitrate_bps, 2_000_000);
        // A source smaller than every rung still gets one rendition.
        let plan = super::plan(&"720p,480p".parse().unwrap(), &source(320, 240));
        assert_eq!(plan.stand_in, None);
        assert_eq!(sizes(&plan), [(320, 240)]);
        assert_eq!(plan.rungs[0].bitrate_bps, 400_000);
        // An odd source: the rung at its height is clamped to the even size within it.
        let plan = super::plan(&"720p,360p".parse().unwrap(), &source(1279, 720));
        assert_eq!(sizes(&plan), [(1278, 720), (640, 360)]);
    }

    #[test]
    fn each_rung_scales_from_the_nearest_larger_picture() {
        let sizes = [(1280, 720), (854, 480), (640, 360), (426, 240)];
        assert_eq!(scale_sources(&sizes), [None, Some(0), Some(1), Some(2)]);
        // A picture that does not contain the next one (another aspect) is skipped.
        let sizes = [(1280, 720), (700, 760), (426, 240)];
        assert_eq!(scale_sources(&sizes), [None, None, Some(1)]);
    }

    #[test]
    fn default_bitrates_follow_the_named_rungs() {
        assert_eq!(default_bitrate(1080), 6_000_000);
        assert_eq!(default_bitrate(1000), 6_000_000);
        assert_eq!(default_bitrate(720), 3_000_000);
        assert_eq!(default_bitrate(100), 400_000);
        assert_eq!(default_bitrate(2160), 24_000_000);
    }
}
