//! `sharedUdpPort`: every WebRTC endpoint on one UDP port, told apart by ICE ufrag and then by
//! the peer's address.

mod webrtc_common;

use std::time::Duration;

use kurento_media_server::webrtc::{EndpointConfig, MediaKind, SharedUdp, WebRtcEvent};
use webrtc_common::*;

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_on_one_port_each_get_only_their_own_peer() {
    init_log();
    let lo = vec!["lo".to_string()];
    let port = free_udp_port();
    let shared = SharedUdp::bind(Some(&lo), port).unwrap();
    let cfg = EndpointConfig {
        network_interfaces: Some(lo),
        shared_udp: Some(shared),
        ..Default::default()
    };
    // All endpoints exist before any peer connects, so every check has several to choose from.
    let mut pairs = Vec::new();
    for _ in 0..4 {
        let ep = Loopback::spawn(cfg.clone(), true);
        let handle = ep.handle.clone();
        // One address per IP family of `lo`, all on the shared port.
        assert!(
            handle.local_addrs().iter().all(|a| a.port() == port),
            "the endpoint listens on the shared port only: {:?}",
            handle.local_addrs()
        );
        let mut peer = Peer::new().await;
        peer.host_candidate();
        // The endpoint never hears of the peer's address: the peer's first check, which names
        // the endpoint's ufrag, is all that routes it (a peer-reflexive candidate, as behind NAT).
        let offer = strip_candidates(&peer.create_offer());
        let answer = handle.process_offer(offer).await.unwrap();
        assert!(answer.contains(&format!(" {port} typ host")), "{answer}");
        peer.accept_answer(&answer);
        handle.gather_candidates().await.unwrap();
        pairs.push((peer, ep));
    }
    let end = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let up = |(p, ep): &(Peer, Loopback)| {
            p.connected
                && ep
                    .events
                    .contains(&WebRtcEvent::ConnectionStateChanged { connected: true })
        };
        if pairs.iter().all(up) {
            break;
        }
        assert!(
            std::time::Instant::now() < end,
            "not all connected over the shared port"
        );
        for (peer, ep) in pairs.iter_mut() {
            ep.poll();
            peer.step(Duration::from_millis(1)).await;
        }
    }
    // Each peer sends frames tagged with its own number; the loop back must return only those.
    for round in 0..30u8 {
        for (i, (peer, ep)) in pairs.iter_mut().enumerate() {
            let mut payload = vp8_payload(usize::from(round), round == 0);
            payload.push(i as u8);
            peer.send(MediaKind::Video, &payload, true);
            peer.step(Duration::from_millis(2)).await;
            ep.poll();
        }
    }
    for (i, (peer, ep)) in pairs.iter_mut().enumerate() {
        run_until(
            peer,
            ep,
            Duration::from_secs(5),
            "looped-back video",
            |p, _| p.received_of(MediaKind::Video).len() >= 25,
        )
        .await;
        let got = peer.received_of(MediaKind::Video);
        assert!(
            got.iter().all(|p| p.last() == Some(&(i as u8))),
            "peer {i} received another endpoint's media"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one2many_over_a_shared_port_loses_nothing() {
    init_log();
    let mut o = kurento_media_server::setup::default_options();
    o.port = Some(0);
    o.address = Some("127.0.0.1".parse().unwrap());
    o.webrtc.network_interfaces = Some(vec!["lo".into()]);
    o.shared_udp_port = Some(free_udp_port());
    let server = kurento_media_server::server::start(o).await.unwrap();
    let cfg = loadgen::Config {
        url: format!("ws://{}/kurento", server.ws_addr.unwrap()),
        viewers: 10,
        late_joiners: 1,
        duration: Duration::from_secs(4),
        ..Default::default()
    };
    let r = tokio::time::timeout(Duration::from_secs(60), loadgen::run(cfg))
        .await
        .expect("load generator bounded in time")
        .expect("load generator ran");
    println!("{}", r.to_table());
    assert!(r.errors.is_empty(), "errors: {:?}", r.errors);
    assert_eq!(r.viewers_connected, 10, "{}", r.to_table());
    assert_eq!(r.late_joiners_connected, 1, "{}", r.to_table());
    assert!(r.frames_expected >= 10 * 60, "{}", r.to_table());
    assert_eq!(r.packets_lost, 0, "{}", r.to_table());
    assert_eq!(r.frames_decodable, r.frames_expected, "{}", r.to_table());
}
