//! SDP from the remote peer into a WebRTC endpoint (str0m behind our adapter), as
//! `WebRtcEndpoint.processOffer` / `processAnswer` deliver it.
//!
//! Byte 0: even = `process_offer(rest)`; odd = `generate_offer` (audio/video from bits 1-2), then
//! `process_answer(rest)`. Then the endpoint's SDP getters and stats are read, and it is closed.

use super::webrtc_common::{call, with_endpoint};

pub fn run(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let Ok(sdp) = std::str::from_utf8(rest) else {
        return;
    };
    let sdp = sdp.to_owned();
    with_endpoint(|h| async move {
        if sel & 1 == 0 {
            if let Ok(answer) = call("process_offer", h.process_offer(sdp)).await {
                assert!(answer.starts_with("v=0"), "answer is not SDP: {answer:?}");
            }
        } else {
            let (audio, video) = (sel & 2 != 0, sel & 4 != 0);
            if call("generate_offer", h.generate_offer(audio, video))
                .await
                .is_ok()
            {
                let _ = call("process_answer", h.process_answer(sdp)).await;
            }
        }
        let _ = call("local_sdp", h.local_sdp()).await;
        let _ = call("remote_sdp", h.remote_sdp()).await;
        let _ = call("stats", h.stats()).await;
        let _ = call("gather_candidates", h.gather_candidates()).await;
    });
}
