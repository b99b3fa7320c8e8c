//! Remote ICE candidates into a WebRTC endpoint, as `WebRtcEndpoint.addIceCandidate` delivers them.
//!
//! Byte 0: bit 0 = negotiate first (a fixed valid offer, so candidates reach a live ICE agent;
//! without it they arrive before any SDP, which clients also do). The rest is lines; each line is
//! one candidate string, and its first byte picks `sdpMid` / `sdpMLineIndex` (present, absent,
//! matching or not).

use super::webrtc_common::{call, with_endpoint};
use kurento_media_server::webrtc::IceCandidateInit;

/// A minimal browser-style offer (audio + video, BUNDLE) used to reach a negotiated state.
pub const OFFER: &str = include_str!("offer.sdp");

pub fn run(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest).into_owned();
    let negotiate = sel & 1 == 1;
    with_endpoint(|h| async move {
        if negotiate {
            call(
                "process_offer",
                h.process_offer(OFFER.replace('\n', "\r\n")),
            )
            .await
            .unwrap_or_else(|e| panic!("the fixed offer was rejected: {e}"));
            let _ = call("gather_candidates", h.gather_candidates()).await;
        }
        for line in text.split('\n').take(32) {
            let (meta, cand) = match line.as_bytes().first() {
                Some(&m) => (m, line.get(1..).unwrap_or("")),
                None => (0, ""),
            };
            let c = IceCandidateInit {
                candidate: cand.trim_end_matches('\r').to_owned(),
                sdp_mid: match meta % 4 {
                    0 => None,
                    1 => Some("0".to_owned()),
                    2 => Some("1".to_owned()),
                    _ => Some(String::new()),
                },
                sdp_mline_index: match (meta >> 2) % 4 {
                    0 => None,
                    1 => Some(0),
                    2 => Some(1),
                    _ => Some(u16::MAX),
                },
            };
            let _ = call("add_ice_candidate", h.add_ice_candidate(c)).await;
        }
        let _ = call("stats", h.stats()).await;
    });
}
