#![no_main]
//! AMF0 (with AMF3 behind the AVM+ marker) on arbitrary bytes: decoding never panics, and
//! whatever decodes re-encodes to bytes that decode to the same values (compared through their
//! encoding and their Debug form, so NaN payloads and -0.0 count as equal only to themselves).

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use onair_amf::{amf0, amf3};

fuzz_target!(|data: &[u8]| {
    // one value at a time, as a command parser does
    let mut input = data;
    while let Ok(v) = amf0::decode(&mut input) {
        round_trip_amf0(&[v]);
    }
    if let Ok(values) = amf0::decode_all(data) {
        round_trip_amf0(&values);
    }
    // AMF3 on its own, with tables shared across the body
    if let Ok(values) = amf3::decode_all(data) {
        let mut first = BytesMut::new();
        for v in &values {
            amf3::encode(v, &mut first);
        }
        let again = amf3::decode_all(&first).expect("our AMF3 encoding decodes");
        assert_eq!(format!("{values:?}"), format!("{again:?}"));
        let mut second = BytesMut::new();
        for v in &again {
            amf3::encode(v, &mut second);
        }
        assert_eq!(first, second);
    }
});

fn round_trip_amf0(values: &[amf0::Amf0Value]) {
    let mut first = BytesMut::new();
    amf0::encode_all(values, &mut first);
    let again = amf0::decode_all(&first).expect("our AMF0 encoding decodes");
    assert_eq!(format!("{values:?}"), format!("{again:?}"));
    let mut second = BytesMut::new();
    amf0::encode_all(&again, &mut second);
    assert_eq!(first, second);
}
