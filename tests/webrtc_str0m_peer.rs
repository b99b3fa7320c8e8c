//! Our WebRTC endpoint against a plain str0m peer over real UDP sockets on 127.0.0.1.

mod webrtc_common;

use kurento_media_server::media::FromElement;

use std::collections::HashSet;
use std::time::Duration;

use kurento_media_server::webrtc::{
    DtlsState, EndpointConfig, IceComponentState, MediaKind, WebRtcEvent,
};
use webrtc_common::*;

fn lo_config() -> EndpointConfig {
    EndpointConfig {
        network_interfaces: Some(vec!["lo".into()]),
        port_range: (42000, 42999),
        ..Default::default()
    }
}

async fn connected_pair() -> (Peer, Loopback) {
    let mut ep = Loopback::spawn(lo_config(), true);
    let handle = ep.handle.clone();
    for a in handle.local_addrs() {
        assert!(
            (42000..=42999).contains(&a.port()),
            "port {a} outside range"
        );
        assert!(a.ip().is_loopback());
    }
    let mut peer = Peer::new().await;

    // The peer trickles its candidate BEFORE we have seen any SDP: it must be kept.
    let peer_cand = peer.host_candidate();
    handle.add_ice_candidate(peer_cand).await.unwrap();
    // End-of-candidates marker is accepted and ignored.
    handle
        .add_ice_candidate(kurento_media_server::webrtc::IceCandidateInit {
            candidate: String::new(),
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
        })
        .await
        .unwrap();

    let offer = strip_candidates(&peer.create_offer());
    assert!(!offer.contains("a=candidate"));
    let answer = handle.process_offer(offer.clone()).await.unwrap();
    // Chromium-relevant answer details.
    assert!(answer.contains("a=group:BUNDLE"), "{answer}");
    assert!(answer.contains("a=rtcp-mux"), "{answer}");
    assert!(answer.contains("a=setup:"), "{answer}");
    assert!(answer.contains("a=fingerprint:sha-256"), "{answer}");
    assert!(answer.contains("a=ssrc:"), "{answer}");
    assert!(answer.contains("a=msid:"), "{answer}");
    assert!(answer.contains("VP8/90000"), "{answer}");
    assert!(answer.contains("opus/48000/2"), "{answer}");
    assert_eq!(handle.local_sdp().await.as_deref(), Some(answer.as_str()));
    assert_eq!(handle.remote_sdp().await.as_deref(), Some(offer.as_str()));

    // Our candidates reach the peer only by trickle.
    handle.gather_candidates().await.unwrap();
    run_until(
        &mut peer,
        &mut ep,
        Duration::from_secs(5),
        "IceGatheringDone",
        |_, ep| ep.count(|e| *e == WebRtcEvent::IceGatheringDone) == 1,
    )
    .await;
    let cands = ep.candidates();
    assert!(!cands.is_empty());
    let first_mid = answer
        .lines()
        .find_map(|l| l.strip_prefix("a=mid:"))
        .map(|m| m.trim().to_string());
    for c in &cands {
        assert!(c.candidate.starts_with("candidate:"), "{c:?}");
        assert!(c.candidate.contains("typ host"), "{c:?}");
        assert_eq!(c.sdp_mid, first_mid);
        assert_eq!(c.sdp_mline_index, Some(0));
        peer.add_remote(c);
    }
    peer.accept_answer(&strip_candidates(&answer));

    run_until(
        &mut peer,
        &mut ep,
        Duration::from_secs(10),
        "ICE + DTLS connected",
        |p, ep| {
            p.connected
                && ep.count(|e| *e == WebRtcEvent::ConnectionStateChanged { connected: true }) == 1
        },
    )
    .await;
    (peer, ep)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offer_answer_trickle_connect_and_rtp_loopback() {
    init_log();
    let (mut peer, mut ep) = connected_pair().await;
    let handle = ep.handle.clone();

    assert!(ep
        .events
        .contains(&WebRtcEvent::DtlsStateChanged(DtlsState::Connected)));
    assert!(ep.events.iter().any(|e| matches!(
        e,
        WebRtcEvent::IceComponentStateChanged {
            state: IceComponentState::Gathering,
            ..
        }
    )));
    assert!(ep.events.iter().any(|e| matches!(
        e,
        WebRtcEvent::IceComponentStateChanged {
            state: IceComponentState::Connected | IceComponentState::Ready,
            ..
        }
    )));

    // Peer → us: VP8- and Opus-shaped RTP. Every packet we emit is looped back by `ep`.
    const N: usize = 40;
    let mut sent_video = HashSet::new();
    let mut sent_audio = HashSet::new();
    for i in 0..N {
        let v = vp8_payload(i, i == 0);
        let a = opus_payload(i);
        peer.send(MediaKind::Video, &v, true);
        peer.send(MediaKind::Audio, &a, false);
        sent_video.insert(v);
        sent_audio.insert(a);
        peer.step(Duration::from_millis(2)).await;
        ep.poll();
    }
    run_until(
        &mut peer,
        &mut ep,
        Duration::from_secs(10),
        "looped-back RTP at the peer",
        |p, _| {
            p.received_of(MediaKind::Video).len() >= N * 9 / 10
                && p.received_of(MediaKind::Audio).len() >= N * 9 / 10
        },
    )
    .await;

    // What we emitted: the right kinds, codecs and the keyframe hint on the first VP8 packet.
    let rtp: Vec<_> = ep.rtp().into_iter().cloned().collect();
    let video: Vec<_> = rtp.iter().filter(|p| p.kind == MediaKind::Video).collect();
    let audio: Vec<_> = rtp.iter().filter(|p| p.kind == MediaKind::Audio).collect();
    assert!(video.len() >= N * 9 / 10 && audio.len() >= N * 9 / 10);
    assert!(video
        .iter()
        .all(|p| &*p.codec.name == "VP8" && p.codec.clock_rate == 90000));
    assert!(audio
        .iter()
        .all(|p| &*p.codec.name == "opus" && p.codec.clock_rate == 48000));
    assert!(video.iter().any(|p| p.is_keyframe_hint));
    assert!(video.iter().filter(|p| p.is_keyframe_hint).count() <= 1);
    // The transport's arrival is announced to the graph once (its sinks then need a keyframe).
    assert_eq!(ep.count_media(|e| matches!(e, FromElement::TransportUp)), 1);

    // Payloads arrive back unchanged.
    for p in peer.received_of(MediaKind::Video) {
        assert!(sent_video.contains(&p), "unexpected video payload");
    }
    for p in peer.received_of(MediaKind::Audio) {
        assert!(sent_audio.contains(&p), "unexpected audio payload");
    }

    // Keyframe request from the peer about what we send → KeyframeRequested.
    peer.request_keyframe(MediaKind::Video);
    run_until(
        &mut peer,
        &mut ep,
        Duration::from_secs(5),
        "KeyframeRequested",
        |_, ep| {
            ep.count_media(|e| {
                *e == FromElement::KeyframeRequested {
                    kind: MediaKind::Video,
                }
            }) >= 1
        },
    )
    .await;

    // Our request_keyframe reaches the peer as a PLI on its video send stream.
    let video_mid = peer.video_mid.unwrap();
    handle.request_keyframe(MediaKind::Video);
    run_until(
        &mut peer,
        &mut ep,
        Duration::from_secs(5),
        "PLI at the peer",
        |p, _| p.keyframe_requests.contains(&video_mid),
    )
    .await;

    let stats = handle.stats().await.unwrap();
    assert!(stats.video.packets_received >= (N * 9 / 10) as u64);
    assert!(stats.audio.packets_received >= (N * 9 / 10) as u64);
    assert_eq!(stats.video.packets_sent, stats.video.packets_received);
    assert!(stats.video.bytes_received > 300 * stats.video.packets_received);
    assert_eq!(stats.dtls_state, DtlsState::Connected);
    let (local, remote) = stats.selected_pair.clone().expect("selected pair");
    assert!(local.contains("typ host"), "{local}");
    assert!(remote.contains(&peer.addr.port().to_string()), "{remote}");
    assert!(ep.count(|e| matches!(e, WebRtcEvent::NewCandidatePairSelected { .. })) >= 1);

    handle.close();
    run_until(
        &mut peer,
        &mut ep,
        Duration::from_secs(5),
        "Closed",
        |_, ep| ep.events.contains(&WebRtcEvent::Closed),
    )
    .await;
    assert!(handle.stats().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_input_does_not_break_the_session() {
    init_log();
    let (mut peer, mut ep) = connected_pair().await;
    let target = ep.handle.local_addrs()[0];
    let junk_sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();

    // A real STUN binding request and an RTP header to truncate.
    let mut stun = vec![0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42];
    stun.extend_from_slice(&[7u8; 12]);
    stun.extend_from_slice(&[0x00, 0x06, 0x00, 0x04, b'a', b'b', b'c', b'd']);
    let rtp = [
        0x80u8, 96, 0, 1, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3,
    ];
    let mut junk: Vec<Vec<u8>> = Vec::new();
    for n in 0..stun.len() {
        junk.push(stun[..n].to_vec());
    }
    for n in 0..rtp.len() {
        junk.push(rtp[..n].to_vec());
    }
    for i in 0..300usize {
        let len = 1 + (i * 37) % 1400;
        let mut v: Vec<u8> = (0..len).map(|_| rand::random()).collect();
        // Steer some into each demux class (STUN, DTLS, ChannelData, RTP/RTCP).
        v[0] = [0x00, 0x01, 0x16, 0x17, 0x40, 0x80, 0x81][i % 7];
        junk.push(v);
    }
    for j in &junk {
        // From a stranger and from the peer's own (nominated) address.
        junk_sock.send_to(j, target).await.unwrap();
        peer.sock.send_to(j, target).await.unwrap();
    }
    peer.step(Duration::from_millis(20)).await;

    // The session still carries media both ways.
    for i in 0..20 {
        peer.send(MediaKind::Video, &vp8_payload(1000 + i, false), true);
        peer.step(Duration::from_millis(2)).await;
        ep.poll();
    }
    run_until(
        &mut peer,
        &mut ep,
        Duration::from_secs(10),
        "media after garbage",
        |p, _| p.received_of(MediaKind::Video).len() >= 18,
    )
    .await;
    assert!(!ep.handle.is_closed());
    assert!(!ep.events.contains(&WebRtcEvent::Closed));
    ep.handle.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_offer_and_process_answer_with_str0m_answerer() {
    init_log();
    let mut ep = Loopback::spawn(lo_config(), false);
    let handle = ep.handle.clone();
    // Gather before the offer exists (KMS apps do this): candidates are held until then.
    handle.gather_candidates().await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    ep.poll();
    assert_eq!(ep.candidates().len(), 0);
    handle.set_max_recv_bandwidth(MediaKind::Video, 300);
    let offer = handle.generate_offer(true, true).await.unwrap();
    assert_eq!(offer.matches("b=AS:300").count(), 1, "{offer}");
    assert!(
        offer.contains("m=audio") && offer.contains("m=video"),
        "{offer}"
    );
    assert!(offer.contains("a=candidate:"), "{offer}");

    let mut peer = Peer::new().await;
    peer.host_candidate();
    let answer = peer
        .rtc
        .sdp_api()
        .accept_offer(str0m::change::SdpOffer::from_sdp_string(&offer).unwrap())
        .unwrap()
        .to_sdp_string();
    assert_eq!(
        handle.process_answer(answer.clone()).await.unwrap(),
        offer,
        "process_answer returns the local SDP"
    );
    run_until(
        &mut peer,
        &mut ep,
        Duration::from_secs(10),
        "connected as offerer",
        |p, ep| {
            p.connected
                && ep.count(|e| *e == WebRtcEvent::IceGatheringDone) == 1
                && ep.count(|e| *e == WebRtcEvent::ConnectionStateChanged { connected: true }) == 1
        },
    )
    .await;
    assert!(!ep.candidates().is_empty());
    // Second offer without answer: process_answer without a pending offer is an error.
    assert!(handle.process_answer(answer).await.is_err());
    handle.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ice_tcp_passive_carries_media() {
    init_log();
    let cfg = EndpointConfig {
        ice_tcp: true,
        port_range: (45000, 45999),
        ..lo_config()
    };
    let mut ep = Loopback::spawn(cfg, true);
    let handle = ep.handle.clone();
    let mut peer = Peer::new().await;
    // The peer only has an active TCP candidate: nothing can flow over UDP.
    let peer_cand = peer.tcp_active_candidate();
    assert!(peer_cand.candidate.contains("tcptype active"));
    let answer = handle
        .process_offer(strip_candidates(&peer.create_offer()))
        .await
        .unwrap();
    handle.add_ice_candidate(peer_cand).await.unwrap();
    handle.gather_candidates().await.unwrap();
    run_until(
        &mut peer,
        &mut ep,
        Duration::from_secs(5),
        "gathering done",
        |_, ep| ep.events.contains(&WebRtcEvent::IceGatheringDone),
    )
    .await;
    let tcp: Vec<_> = ep
        .candidates()
        .into_iter()
        .filter(|c| c.candidate.contains(" tcp ") && c.candidate.contains("tcptype passive"))
        .collect();
    assert!(!tcp.is_empty(), "{:?}", ep.candidates());
    for c in &tcp {
        peer.add_remote(c);
    }
    peer.accept_answer(&strip_candidates(&answer));
    until_connected(&mut peer, &mut ep, "connected over ICE-TCP").await;
    const N: usize = 20;
    for i in 0..N {
        peer.send(MediaKind::Video, &vp8_payload(i, i == 0), true);
        peer.send(MediaKind::Audio, &opus_payload(i), false);
        peer.step(Duration::from_millis(2)).await;
        ep.poll();
    }
    run_until(
        &mut peer,
        &mut ep,
        Duration::from_secs(10),
        "RTP looped back over TCP",
        |p, _| {
            p.received_of(MediaKind::Video).len() >= N * 9 / 10
                && p.received_of(MediaKind::Audio).len() >= N * 9 / 10
        },
    )
    .await;
    let (local, _) = handle.stats().await.unwrap().selected_pair.unwrap();
    assert!(local.contains("tcptype passive"), "{local}");
    handle.close();
}

/// A WebRTC offer with an extra plain-RTP m-line: KMS rejects just that line (its WebRtcEndpoint
/// has no RTP/AVP handler) and negotiates the rest; str0m alone would refuse the whole offer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_rtp_line_in_a_webrtc_offer_is_rejected_and_the_rest_connects() {
    init_log();
    let mut ep = Loopback::spawn(lo_config(), true);
    let handle = ep.handle.clone();
    let mut peer = Peer::new().await;
    handle
        .add_ice_candidate(peer.host_candidate())
        .await
        .unwrap();
    let offer = strip_candidates(&peer.create_offer());
    let extra = "m=audio 5004 RTP/AVP 0\r\nc=IN IP4 127.0.0.1\r\na=rtpmap:0 PCMU/8000\r\n";
    let mixed = format!("{offer}{extra}");
    let answer = handle.process_offer(mixed.clone()).await.unwrap();
    let count = |s: &str| s.lines().filter(|l| l.starts_with("m=")).count();
    assert_eq!(count(&answer), count(&mixed), "{answer}");
    let (ours, rejected) = answer
        .rsplit_once("m=audio 0 RTP/AVP 0\r\n")
        .unwrap_or_else(|| panic!("plain RTP line not rejected: {answer}"));
    assert!(rejected.contains("a=inactive"), "{answer}");
    assert!(ours.contains("a=fingerprint:sha-256"), "{answer}");
    handle.gather_candidates().await.unwrap();
    run_until(
        &mut peer,
        &mut ep,
        Duration::from_secs(5),
        "IceGatheringDone",
        |_, ep| ep.count(|e| *e == WebRtcEvent::IceGatheringDone) == 1,
    )
    .await;
    for c in &ep.candidates() {
        peer.add_remote(c);
    }
    // The str0m peer offered without the extra line, so it gets the answer without it too.
    peer.accept_answer(&strip_candidates(ours));
    until_connected(&mut peer, &mut ep, "connected despite the rejected line").await;
    ep.handle.close();
}

/// getStats' figures come from the session itself: the SSRCs on the wire both ways, live
/// counters, feedback counts that move when feedback flows, and the server transit time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_report_real_ssrcs_counters_and_feedback() {
    use std::time::Instant;
    init_log();
    let (mut peer, mut ep) = connected_pair().await;
    let handle = ep.handle.clone();
    let video_mid = peer.video_mid.unwrap();
    let peer_tx_ssrc = {
        let mut api = peer.rtc.direct_api();
        *api.stream_tx_by_mid(video_mid, None).unwrap().ssrc()
    };
    let vp8 = *peer.pt_for(str0m::format::Codec::Vp8);
    // Losses on the way back make the peer NACK what we send.
    peer.drop_rtp = Some((vp8, 4));

    let before = handle.stats().await.unwrap();
    assert_eq!(before.video.pli_received, 0);
    assert_eq!(before.video.nack_received, 0);

    let mut i = 0;
    let mut next_send = Instant::now();
    let mut asked = false;
    let end = Instant::now() + Duration::from_secs(15);
    let mut last = None;
    while Instant::now() < end {
        let now = Instant::now();
        if now >= next_send {
            peer.send(MediaKind::Video, &vp8_payload(i, i % 50 == 0), true);
            peer.send(MediaKind::Audio, &opus_payload(i), false);
            i += 1;
            next_send += Duration::from_millis(20);
        }
        if i == 20 && !asked {
            asked = true;
            peer.request_keyframe(MediaKind::Video);
            handle.request_keyframe(MediaKind::Video);
        }
        peer.step(Duration::from_millis(5)).await;
        ep.poll();
        if i % 10 == 0 && asked {
            let s = handle.stats().await.unwrap();
            let done = s.video.pli_received >= 1
                && s.video.pli_sent >= 1
                && s.video.nack_received >= 1
                && s.video.rtt_ms.is_some();
            last = Some(s);
            if done {
                break;
            }
        }
    }
    let s = last.expect("stats were read");
    let v = &s.video;
    assert!(v.negotiated && s.audio.negotiated);
    assert_eq!(v.ssrc_in, Some(peer_tx_ssrc), "{v:?}");
    let peer_rx_ssrc = {
        let mut api = peer.rtc.direct_api();
        api.stream_rx_by_mid(video_mid, None).map(|r| *r.ssrc())
    };
    assert_eq!(v.ssrc_out, peer_rx_ssrc, "{v:?}");
    assert_ne!(v.ssrc_out, v.ssrc_in);
    assert!(v.packets_received > 0 && v.bytes_received > 0, "{v:?}");
    assert!(v.packets_sent > 0 && v.bytes_sent > 0, "{v:?}");
    assert_eq!(v.clock_rate_in, 90_000);
    assert!(s.audio.ssrc_in.is_some() && s.audio.ssrc_out.is_some());
    assert_ne!(s.audio.ssrc_in, v.ssrc_in);
    // The peer's PLI on what we send, our PLI on what it sends, its NACKs for the dropped ones.
    assert!(v.pli_received >= 1, "{v:?}");
    assert!(v.pli_sent >= 1, "{v:?}");
    assert!(v.nack_received >= 1, "{v:?}");
    assert!(
        v.rtt_ms.is_some_and(|r| (0.0..1000.0).contains(&r)),
        "{v:?}"
    );
    // Looped back by the test's graph: arrival at the endpoint to departure from it.
    assert!(v.e2e_latency_ns.is_some_and(|ns| ns > 0.0), "{v:?}");
}
