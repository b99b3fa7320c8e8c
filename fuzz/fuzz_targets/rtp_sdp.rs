#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    kurento_media_server_fuzz::rtp_sdp::run(data);
});
