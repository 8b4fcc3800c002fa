#![no_main]
// placeholder until its owner writes it
libfuzzer_sys::fuzz_target!(|_data: &[u8]| {});
