//! Just enough of an H.264 sequence parameter set parser (ITU-T H.264 7.3.2.1.1) to fill in
//! HLS `RESOLUTION` and `FRAME-RATE` and the fMP4 sample entry's picture size.

/// What the packager needs from an SPS.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SpsInfo {
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// From the VUI timing info, when present.
    pub(crate) frame_rate: Option<f64>,
}

struct Bits {
    data: Vec<u8>,
    pos: usize,
}

impl Bits {
    fn bit(&mut self) -> Option<u32> {
        let byte = *self.data.get(self.pos / 8)?;
        let v = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Some(u32::from(v))
    }
    fn bits(&mut self, n: u32) -> Option<u32> {
        let mut v = 0;
        for _ in 0..n {
            v = (v << 1) | self.bit()?;
        }
        Some(v)
    }
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some(((1u64 << zeros) - 1 + u64::from(self.bits(zeros)?)) as u32)
    }
    fn se(&mut self) -> Option<i32> {
        let k = self.ue()?;
        Some(if k % 2 == 1 {
            k.div_ceil(2) as i32
        } else {
            -((k / 2) as i32)
        })
    }
}

/// Removes emulation prevention bytes (00 00 03 -> 00 00).
fn rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Parses an SPS NAL unit (with its one-byte NAL header). `None` when it is malformed.
pub(crate) fn parse_h264_sps(nal: &[u8]) -> Option<SpsInfo> {
    let mut r = Bits {
        data: rbsp(nal.get(1..)?),
        pos: 0,
    };
    let profile = r.bits(8)?;
    r.bits(16)?; // constraint flags, level
    r.ue()?;
    let mut chroma_format = 1;
    if matches!(
        profile,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format = r.ue()?;
        if chroma_format == 3 {
            r.bit()?;
        }
        r.ue()?;
        r.ue()?;
        r.bit()?;
        if r.bit()? == 1 {
            let lists = if chroma_format == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit()? == 1 {
                    let size = if i < 6 { 16 } else { 64 };
                    let (mut last, mut next) = (8i32, 8i32);
                    for _ in 0..size {
                        if next != 0 {
                            next = (last + r.se()? + 256).rem_euclid(256);
                        }
                        if next != 0 {
                            last = next;
                        }
                    }
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?;
        }
        1 => {
            r.bit()?;
            r.se()?;
            r.se()?;
            let n = r.ue()?;
            if n > 255 {
                return None;
            }
            for _ in 0..n {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?;
    let width_mbs = r.ue()?.checked_add(1)?;
    let height_units = r.ue()?.checked_add(1)?;
    let frame_mbs_only = r.bit()?;
    if frame_mbs_only == 0 {
        r.bit()?;
    }
    r.bit()?;
    let (mut crop_l, mut crop_r, mut crop_t, mut crop_b) = (0, 0, 0, 0);
    if r.bit()? == 1 {
        crop_l = r.ue()?;
        crop_r = r.ue()?;
        crop_t = r.ue()?;
        crop_b = r.ue()?;
    }
    let (sub_w, sub_h) = match chroma_format {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let crop_x = if chroma_format == 0 { 1 } else { sub_w };
    let crop_y = (if chroma_format == 0 { 1 } else { sub_h }) * (2 - frame_mbs_only);
    let width = (width_mbs * 16).checked_sub(crop_x * (crop_l + crop_r))?;
    let height =
        ((2 - frame_mbs_only) * height_units * 16).checked_sub(crop_y * (crop_t + crop_b))?;
    let frame_rate = vui_frame_rate(&mut r);
    Some(SpsInfo {
        width,
        height,
        frame_rate,
    })
}

/// Picture size from an H.265 SPS NAL unit (with its two-byte header), ITU-T H.265 7.3.2.2.
pub(crate) fn parse_h265_sps_size(nal: &[u8]) -> Option<(u32, u32)> {
    let mut r = Bits {
        data: rbsp(nal.get(2..)?),
        pos: 0,
    };
    r.bits(4)?; // sps_video_parameter_set_id
    let max_sub_layers_minus1 = r.bits(3)?;
    r.bit()?;
    // profile_tier_level: the general part is 88 bits of profile and 8 of level.
    r.bits(32)?;
    r.bits(32)?;
    r.bits(32)?;
    let mut present = Vec::new();
    for _ in 0..max_sub_layers_minus1 {
        present.push((r.bit()?, r.bit()?));
    }
    if max_sub_layers_minus1 > 0 {
        for _ in max_sub_layers_minus1..8 {
            r.bits(2)?;
        }
    }
    for (profile, level) in present {
        if profile == 1 {
            r.bits(32)?;
            r.bits(32)?;
            r.bits(24)?;
        }
        if level == 1 {
            r.bits(8)?;
        }
    }
    r.ue()?; // sps_seq_parameter_set_id
    let chroma_format = r.ue()?;
    if chroma_format == 3 {
        r.bit()?;
    }
    let width = r.ue()?;
    let height = r.ue()?;
    if r.bit()? == 1 {
        let (sub_w, sub_h) = match chroma_format {
            1 => (2, 2),
            2 => (2, 1),
            _ => (1, 1),
        };
        let (left, right, top, bottom) = (r.ue()?, r.ue()?, r.ue()?, r.ue()?);
        let width = width.checked_sub(sub_w * left.checked_add(right)?)?;
        let height = height.checked_sub(sub_h * top.checked_add(bottom)?)?;
        return Some((width, height));
    }
    Some((width, height))
}

fn vui_frame_rate(r: &mut Bits) -> Option<f64> {
    if r.bit()? == 0 {
        return None;
    }
    if r.bit()? == 1 && r.bits(8)? == 255 {
        r.bits(32)?;
    }
    if r.bit()? == 1 {
        r.bit()?;
    }
    if r.bit()? == 1 {
        r.bits(4)?;
        if r.bit()? == 1 {
            r.bits(24)?;
        }
    }
    if r.bit()? == 1 {
        r.ue()?;
        r.ue()?;
    }
    if r.bit()? == 1 {
        let units = r.bits(32)?;
        let scale = r.bits(32)?;
        if units > 0 {
            return Some(f64::from(scale) / (2.0 * f64::from(units)));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    #[test]
    fn parses_x264_sps_320x240_30fps() {
        // SPS written by ffmpeg/libx264 for testsrc 320x240 at 30 fps, High profile.
        let sps = hex!("6764000dacd94141fb0110000003001000000303c0f1429960");
        let info = parse_h264_sps(&sps).unwrap();
        assert_eq!((info.width, info.height), (320, 240));
        assert_eq!(info.frame_rate, Some(30.0));
        let info = parse_h264_sps(&hex!(
            "6764001facd9405005bb011000000300100000030320f1831960"
        ));
        assert_eq!(info.map(|i| (i.width, i.height)), Some((1280, 720)));
        assert_eq!(info.and_then(|i| i.frame_rate), Some(25.0));
        // High 4:4:4 Predictive (chroma_format_idc 3)
        let info = parse_h264_sps(&hex!("67f4000d919b28283f6022000003000200000300781e28532c"));
        assert_eq!(info.map(|i| (i.width, i.height)), Some((320, 240)));
    }

    #[test]
    fn parses_x265_sps_size() {
        // SPS written by libx265 for testsrc 320x240, Main profile.
        let sps = hex!(
            "42010101600000030090000003000003003ca00a080f165959a4932bc05a020000030002000003003c10"
        );
        assert_eq!(parse_h265_sps_size(&sps), Some((320, 240)));
        assert_eq!(parse_h265_sps_size(&sps[..12]), None);
    }

    #[test]
    fn truncated_sps_is_none() {
        assert_eq!(parse_h264_sps(&hex!("6764000dacd9")), None);
        assert_eq!(parse_h264_sps(&[]), None);
    }
}
