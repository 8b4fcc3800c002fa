//! What a dependent project first writes: open an encoder of the FFmpeg-linking crates, so the
//! binary only links and runs if FFmpeg was linked right.
fn main() {
    let config = onair::encoder::VideoEncoderConfig::new(
        64,
        64,
        onair::encoder::FrameRate { num: 30, den: 1 },
        200_000,
    );
    let encoder = onair::encoder::VideoEncoder::new(config).expect("libx264 opens");
    println!("{:?}", encoder.track_info().config.codec());
}
