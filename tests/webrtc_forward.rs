//! A→B forwarding between two endpoints (the media-core shape): what endpoint A receives is
//! `send_rtp`'d into endpoint B, whose peer negotiated different payload type numbers.

mod webrtc_common;

use kurento_media_server::media::{FromElement, GraphEvent, MediaType, PipelineMedia};

use std::time::{Duration, Instant};

use kurento_media_server::webrtc::{EndpointConfig, MediaKind, WebRtcEvent};
use str0m::format::{Codec, FormatParams};
use str0m::media::Frequency;
use str0m::rtp::VideoOrientation;
use webrtc_common::*;

fn lo_config(ports: (u16, u16)) -> EndpointConfig {
    EndpointConfig {
        network_interfaces: Some(vec!["lo".into()]),
        port_range: ports,
        ..Default::default()
    }
}

async fn connect(peer: &mut Peer, ports: (u16, u16)) -> Loopback {
    let mut ep = Loopback::spawn(lo_config(ports), false);
    let handle = ep.handle.clone();
    peer.host_candidate();
    let answer = handle.process_offer(peer.create_offer()).await.unwrap();
    peer.accept_answer(&answer);
    handle.gather_candidates().await.unwrap();
    until_connected(peer, &mut ep, "connected").await;
    ep
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_a_to_b_with_payload_type_remapping() {
    init_log();
    let mut peer_a = Peer::new().await;
    // Peer B uses unusual payload type numbers, so B's endpoint must rewrite the PT.
    let mut peer_b = Peer::with_config(|c| {
        let mut c = c.clear_codecs();
        c.codec_config().add_config(
            121.into(),
            None,
            Codec::Vp8,
            Frequency::NINETY_KHZ,
            None,
            FormatParams::default(),
        );
        c.codec_config().add_config(
            109.into(),
            None,
            Codec::Opus,
            Frequency::FORTY_EIGHT_KHZ,
            Some(2),
            FormatParams::parse_line("minptime=10;useinbandfec=1"),
        );
        c
    })
    .await;
    let mut a = connect(&mut peer_a, (46000, 46499)).await;
    let mut b = connect(&mut peer_b, (46500, 46999)).await;
    let pt_a_vp8 = *peer_a.pt_for(Codec::Vp8);
    assert_ne!(pt_a_vp8, 121);

    // Extensions that describe the media travel with it (a phone's rotation, the audio level).
    peer_a.ext_out.video_orientation = Some(VideoOrientation::Deg90);
    peer_a.ext_out.audio_level = Some(-30);
    peer_a.ext_out.voice_activity = Some(true);
    const N: usize = 30;
    for i in 0..N {
        peer_a.send(MediaKind::Video, &vp8_payload(i, i == 0), true);
        peer_a.send(MediaKind::Audio, &opus_payload(i), false);
        peer_a.step(Duration::from_millis(2)).await;
    }
    let end = Instant::now() + Duration::from_secs(10);
    let mut forwarded = 0;
    while peer_b.received_of(MediaKind::Video).len() < N * 9 / 10
        || peer_b.received_of(MediaKind::Audio).len() < N * 9 / 10
    {
        assert!(
            Instant::now() < end,
            "B got {} packets",
            peer_b.received.len()
        );
        peer_a.step(Duration::from_millis(2)).await;
        a.poll();
        for e in a.media.drain(..) {
            if let FromElement::Rtp(p) = e {
                assert_eq!(p.payload_type == pt_a_vp8, p.kind == MediaKind::Video);
                b.handle.send_rtp(p);
                forwarded += 1;
            }
        }
        peer_b.step(Duration::from_millis(2)).await;
        b.poll();
    }
    assert!(forwarded >= N * 2 * 9 / 10);
    // B's peer sees its own payload types, and payloads unchanged.
    let video_pts: Vec<u8> = peer_b
        .received
        .iter()
        .filter(|(m, _, _)| Some(*m) == peer_b.video_mid)
        .map(|(_, pt, _)| **pt)
        .collect();
    assert!(video_pts.iter().all(|pt| *pt == 121), "{video_pts:?}");
    let audio_pts: Vec<u8> = peer_b
        .received
        .iter()
        .filter(|(m, _, _)| Some(*m) == peer_b.audio_mid)
        .map(|(_, pt, _)| **pt)
        .collect();
    assert!(audio_pts.iter().all(|pt| *pt == 109), "{audio_pts:?}");
    assert!(peer_b
        .received_of(MediaKind::Video)
        .contains(&vp8_payload(0, true)));
    for (mid, ext) in &peer_b.received_ext {
        if Some(*mid) == peer_b.video_mid {
            assert_eq!(ext.video_orientation, Some(VideoOrientation::Deg90));
        } else {
            assert_eq!(
                (ext.audio_level, ext.voice_activity),
                (Some(-30), Some(true))
            );
        }
    }
    let sb = b.handle.stats().await.unwrap();
    assert!(sb.video.packets_sent >= (N * 9 / 10) as u64);
    assert_eq!(sb.video.packets_received, 0);
    a.handle.close();
    b.handle.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packets_of_a_codec_b_did_not_negotiate_are_dropped() {
    init_log();
    let mut peer_a = Peer::new().await;
    // Peer B only does VP9 (and Opus): A's VP8 cannot be sent to it.
    let mut peer_b =
        Peer::with_config(|c| c.clear_codecs().enable_vp9(true).enable_opus(true, false)).await;
    let mut a = connect(&mut peer_a, (47000, 47499)).await;
    let mut b = connect(&mut peer_b, (47500, 47999)).await;
    for i in 0..20 {
        peer_a.send(MediaKind::Video, &vp8_payload(i, false), true);
        peer_a.send(MediaKind::Audio, &opus_payload(i), false);
        peer_a.step(Duration::from_millis(2)).await;
    }
    let end = Instant::now() + Duration::from_secs(10);
    while peer_b.received_of(MediaKind::Audio).len() < 18 {
        assert!(Instant::now() < end, "audio did not arrive at B");
        peer_a.step(Duration::from_millis(2)).await;
        a.poll();
        for e in a.media.drain(..) {
            if let FromElement::Rtp(p) = e {
                b.handle.send_rtp(p);
            }
        }
        peer_b.step(Duration::from_millis(2)).await;
        b.poll();
    }
    for _ in 0..20 {
        peer_b.step(Duration::from_millis(2)).await;
    }
    assert_eq!(peer_b.received_of(MediaKind::Video).len(), 0);
    let mismatches: Vec<&WebRtcEvent> = b
        .events
        .iter()
        .filter(|e| matches!(e, WebRtcEvent::CodecNotNegotiated { .. }))
        .collect();
    match mismatches.as_slice() {
        [WebRtcEvent::CodecNotNegotiated {
            kind: MediaKind::Video,
            codec,
            accepts,
        }] => {
            assert_eq!(codec, "VP8");
            // What it sends instead: the codec a transcoder must make.
            assert!(
                accepts.iter().all(|c| c.name.as_ref() != "VP8") && !accepts.is_empty(),
                "{accepts:?}"
            );
        }
        other => panic!("the sink must report the mismatch exactly once: {other:?}"),
    }
    let sb = b.handle.stats().await.unwrap();
    assert_eq!(sb.video.packets_sent, 0);
    assert!(sb.audio.packets_sent >= 18);
    a.handle.close();
    b.handle.close();
}

/// Flow state comes from the pipeline's graph: media arriving at an element is FLOWING in, two
/// seconds of silence NOT_FLOWING, and its return FLOWING again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_that_stops_is_reported_and_its_return_too() {
    init_log();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let media = PipelineMedia::spawn("flow".into(), move |e| {
        let _ = tx.send(e);
    });
    let mut leg = Leg::new(&media).await;
    let key = leg.key;
    run_legs(
        &mut [&mut leg],
        Duration::from_secs(10),
        "connection",
        |l| l[0].peer.connected,
    )
    .await;
    let flow = |producing: bool| GraphEvent::Producing {
        element: key,
        media: MediaType::Audio,
        producing,
        codec: producing.then(|| "opus".into()),
    };
    let mut seen = Vec::new();
    let mut i = 0;
    // Media, then silence, then media again.
    for phase in [true, false, true] {
        let end = Instant::now() + Duration::from_secs(6);
        while seen.last() != Some(&flow(phase)) {
            assert!(
                Instant::now() < end,
                "no {:?}; graph events: {seen:?}",
                flow(phase)
            );
            if phase {
                leg.peer.send(MediaKind::Audio, &opus_payload(i), false);
                i += 1;
            }
            leg.peer.step(Duration::from_millis(20)).await;
            while let Ok(e) = rx.try_recv() {
                if matches!(&e, GraphEvent::Producing { element, .. } if *element == key) {
                    seen.push(e);
                }
            }
        }
    }
    assert_eq!(seen, vec![flow(true), flow(false), flow(true)]);
    leg.handle.close();
}

/// DTLS must match the fingerprint the offer announced: a peer whose certificate is not the one in
/// its SDP never gets a connection (and so no SRTP keys). The control run rewrites the offer the
/// same way but keeps the fingerprint, and must connect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dtls_certificate_that_does_not_match_the_sdp_fingerprint_is_refused() {
    init_log();
    assert!(
        connects_with_rewritten_offer(false, (48500, 48749)).await,
        "control run must connect"
    );
    assert!(
        !connects_with_rewritten_offer(true, (48750, 48999)).await,
        "connected despite a forged fingerprint"
    );
}

async fn connects_with_rewritten_offer(forge: bool, ports: (u16, u16)) -> bool {
    let mut peer = Peer::new().await;
    let mut ep = Loopback::spawn(lo_config(ports), false);
    let handle = ep.handle.clone();
    peer.host_candidate();
    let offer = peer.create_offer();
    let mut seen = false;
    let rewritten: String = offer
        .lines()
        .map(|l| match l.strip_prefix("a=fingerprint:sha-256 ") {
            Some(fp) => {
                seen = true;
                let mut fp = fp.to_string();
                if forge {
                    let first = if fp.starts_with('0') { "1" } else { "0" };
                    fp.replace_range(0..1, first);
                }
                format!("a=fingerprint:sha-256 {fp}\r\n")
            }
            None => format!("{l}\r\n"),
        })
        .collect();
    assert!(seen, "the offer carries a sha-256 fingerprint");
    let answer = handle.process_offer(rewritten).await.unwrap();
    peer.accept_answer(&answer);
    handle.gather_candidates().await.unwrap();
    let end = Instant::now() + Duration::from_secs(4);
    let connected = WebRtcEvent::ConnectionStateChanged { connected: true };
    while Instant::now() < end && !ep.events.contains(&connected) {
        peer.step(Duration::from_millis(20)).await;
        ep.poll();
    }
    handle.close();
    ep.events.contains(&connected)
}
