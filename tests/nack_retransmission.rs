//! NACKs from a WebRTC peer are answered from the endpoint's retransmission cache, over RTX,
//! even when loss is heavy: str0m by default stops retransmitting once retransmissions exceed
//! 15 % of a stream, which 5 % loss plus reordering already reaches (see tests/impaired_link.rs).

mod webrtc_common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use kurento_media_server::webrtc::{EndpointConfig, MediaKind};
use str0m::format::Codec;
use webrtc_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_of_the_video_lost_is_retransmitted_over_rtx() {
    init_log();
    let mut peer = Peer::new().await;
    let cfg = EndpointConfig {
        network_interfaces: Some(vec!["lo".into()]),
        port_range: (49000, 49499),
        ..Default::default()
    };
    // The endpoint sends back what it receives (hello-world shape): the peer's video returns
    // to it through the endpoint's send stream, which is what NACKs are answered from.
    let mut ep = Loopback::spawn(cfg, true);
    let handle = ep.handle.clone();
    peer.host_candidate();
    let answer = handle.process_offer(peer.create_offer()).await.unwrap();
    assert!(answer.contains("rtx/90000"), "RTX negotiated: {answer}");
    peer.accept_answer(&answer);
    handle.gather_candidates().await.unwrap();
    until_connected(&mut peer, &mut ep, "connected").await;
    let vp8 = *peer.pt_for(Codec::Vp8);
    // Every third video packet on its way back to the peer is lost (retransmissions, on the
    // RTX payload type, are not).
    peer.drop_rtp = Some((vp8, 3));

    const N: usize = 300;
    let mut next_send = Instant::now();
    let mut i = 0;
    let end = Instant::now() + Duration::from_secs(15);
    // The first N packets count; a few more follow so that a loss at the very end shows too.
    let distinct = |p: &Peer| {
        p.received_of(MediaKind::Video)
            .iter()
            .map(|v| u32::from_be_bytes([v[7], v[8], v[9], v[10]]))
            .filter(|&n| (n as usize) < N)
            .collect::<HashSet<_>>()
            .len()
    };
    while distinct(&peer) < N {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if i < N + 5 && now >= next_send {
            peer.send(MediaKind::Video, &vp8_payload(i, i % 60 == 0), true);
            i += 1;
            next_send += Duration::from_millis(10);
        }
        ep.poll();
        peer.step(Duration::from_millis(2)).await;
    }
    let got = distinct(&peer);
    println!(
        "sent {i} video packets, {} dropped on the way back, {got} distinct received",
        peer.dropped
    );
    assert!(peer.dropped >= N / 3 - 5, "the loss was applied");
    assert_eq!(got, N, "every lost packet came back by retransmission");
    handle.close();
}
