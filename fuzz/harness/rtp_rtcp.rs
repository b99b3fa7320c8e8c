//! RTP and RTCP arriving at a connected WebRTC endpoint, as the media core sees them.
//!
//! Each input first connects a plain str0m peer to a fresh endpoint over loopback (ICE, DTLS,
//! SRTP), with the endpoint looping what it receives back to the same peer (the hello-world
//! shape), so every packet crosses our receive path and our per-sink rewrite (sequence extension,
//! payload type mapping, send buffer). Then the input is a list of operations by the peer:
//!
//! - 0: an RTP packet through SRTP with fuzzed payload type, sequence number, timestamp, marker
//!   and payload, on the audio or video stream;
//! - 1: a raw datagram to the endpoint's socket from the peer's address (garbage that may look
//!   like RTP, RTCP, STUN or DTLS, and fails SRTP authentication);
//! - 2: a keyframe request (RTCP PLI) from the peer;
//! - 3: a few milliseconds of both sides running.
//!
//! Afterwards the endpoint must still answer and close cleanly.

#[path = "../../tests/webrtc_common/mod.rs"]
mod peer;

use super::bytes::Bytes;
use super::webrtc_common::{call, endpoint_config, CALL_TIMEOUT};
use kurento_media_server::webrtc::{MediaKind, WebRtcEvent};
use peer::{Loopback, Peer};
use std::time::{Duration, Instant};
use str0m::format::Codec;
use str0m::rtp::RtpWrite;

/// Operations per input; more only repeats what the fuzzer can reach anyway.
const MAX_OPS: usize = 64;

pub fn run(data: &[u8]) {
    let rt = super::runtime();
    rt.block_on(async {
        let mut ep = Loopback::spawn(endpoint_config(), true);
        let handle = ep.handle.clone();
        let mut p = Peer::new().await;
        p.host_candidate();
        let answer = call("process_offer", handle.process_offer(p.create_offer()))
            .await
            .unwrap_or_else(|e| panic!("a valid offer was refused: {e}"));
        p.accept_answer(&answer);
        let _ = call("gather_candidates", handle.gather_candidates()).await;
        let target = *handle
            .local_addrs()
            .first()
            .unwrap_or_else(|| panic!("the endpoint has no local address"));
        let end = Instant::now() + CALL_TIMEOUT;
        while !(p.connected
            && ep
                .events
                .contains(&WebRtcEvent::ConnectionStateChanged { connected: true }))
        {
            assert!(Instant::now() < end, "loopback peer did not connect");
            ep.poll();
            p.step(Duration::from_millis(5)).await;
        }

        let mut b = Bytes::new(data);
        let mut seq: u64 = 0;
        for _ in 0..MAX_OPS {
            if b.is_empty() {
                break;
            }
            match b.u8() % 4 {
                0 => {
                    let video = b.bool();
                    let (mid, codec) = if video {
                        (p.video_mid, Codec::Vp8)
                    } else {
                        (p.audio_mid, Codec::Opus)
                    };
                    // Mostly the negotiated payload type, sometimes any number.
                    let pt = if b.u8() < 200 {
                        p.pt_for(codec)
                    } else {
                        b.u8().into()
                    };
                    // Sequence numbers that jump, repeat and go back, extended as str0m expects.
                    seq = match b.u8() % 4 {
                        0 => seq.wrapping_add(1),
                        1 => seq.wrapping_add(u64::from(b.u16())),
                        2 => seq.saturating_sub(u64::from(b.u8())),
                        _ => seq,
                    };
                    let ts = b.u32();
                    let marker = b.bool();
                    let payload = b.slice(1200).to_vec();
                    let Some(mid) = mid else { continue };
                    let mut api = p.rtc.direct_api();
                    if let Some(tx) = api.stream_tx_by_mid(mid, None) {
                        tx.write_rtp(
                            RtpWrite::new(pt, seq.into(), ts, Instant::now(), payload)
                                .marker(marker)
                                .nackable(video),
                        );
                    }
                }
                1 => {
                    let datagram = b.slice(1500);
                    let _ = p.sock.try_send_to(datagram, target);
                }
                2 => p.request_keyframe(if b.bool() {
                    MediaKind::Video
                } else {
                    MediaKind::Audio
                }),
                _ => {
                    for _ in 0..b.below(4) {
                        p.step(Duration::from_millis(2)).await;
                    }
                }
            }
            ep.poll();
            p.step(Duration::from_millis(1)).await;
        }
        for _ in 0..5 {
            ep.poll();
            p.step(Duration::from_millis(2)).await;
        }
        let _ = call("stats", handle.stats()).await;
        handle.close();
        let closed = tokio::time::timeout(CALL_TIMEOUT, async {
            loop {
                match ep.rx.recv().await {
                    Some(WebRtcEvent::Closed) => return true,
                    Some(_) => {}
                    None => return false,
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("endpoint did not close within {CALL_TIMEOUT:?}"));
        assert!(closed, "endpoint task ended without Closed (did it panic?)");
    });
}
