//! STUN and TURN gathering against a real coturn on 127.0.0.1, and media through the relay.
//! coturn must be installed (`apt-get install coturn`); these tests fail loudly otherwise.

mod webrtc_common;

use std::net::SocketAddr;
use std::time::Duration;

use kurento_media_server::webrtc::{
    EndpointConfig, MediaKind, TurnServer, TurnTransport, WebRtcEvent,
};
use webrtc_common::*;

fn cfg(turn: Option<TurnServer>, stun: Option<SocketAddr>) -> EndpointConfig {
    EndpointConfig {
        network_interfaces: Some(vec!["lo".into()]),
        port_range: (43000, 43999),
        stun_server: stun,
        turn,
        ..Default::default()
    }
}

fn cand_addr(line: &str) -> SocketAddr {
    let p: Vec<&str> = line.split_whitespace().collect();
    SocketAddr::new(p[4].parse().unwrap(), p[5].parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stun_server_reflexive_candidate() {
    init_log();
    let coturn = start_coturn((49100, 49119)).await;
    let server: SocketAddr = ([127, 0, 0, 1], coturn.port).into();
    let mut ep = Loopback::spawn(cfg(None, Some(server)), false);
    let handle = ep.handle.clone();
    let mut peer = Peer::new().await;
    handle.process_offer(peer.create_offer()).await.unwrap();
    handle.gather_candidates().await.unwrap();
    run_until(
        &mut peer,
        &mut ep,
        Duration::from_secs(10),
        "gathering done",
        |_, ep| ep.events.contains(&WebRtcEvent::IceGatheringDone),
    )
    .await;
    let cands = ep.candidates();
    let srflx: Vec<_> = cands
        .iter()
        .filter(|c| c.candidate.contains("typ srflx"))
        .collect();
    assert_eq!(srflx.len(), 1, "{cands:?}");
    // On loopback the mapped address is our own IPv4 host socket.
    let v4 = *handle.local_addrs().iter().find(|a| a.is_ipv4()).unwrap();
    assert_eq!(cand_addr(&srflx[0].candidate), v4);
    assert!(srflx[0].candidate.contains("raddr"), "{:?}", srflx[0]);
    // The srflx came after the host candidates, and gathering finished after it.
    let pos_srflx = ep
        .events
        .iter()
        .position(
            |e| matches!(e, WebRtcEvent::IceCandidateFound(c) if c.candidate.contains("srflx")),
        )
        .unwrap();
    let pos_done = ep
        .events
        .iter()
        .position(|e| *e == WebRtcEvent::IceGatheringDone)
        .unwrap();
    assert!(pos_srflx < pos_done);
    handle.close();
}

async fn media_through_relay(transport: TurnTransport, relay_ports: (u16, u16)) {
    init_log();
    let coturn = start_coturn(relay_ports).await;
    let server: SocketAddr = ([127, 0, 0, 1], coturn.port).into();
    let turn = TurnServer {
        username: "test".into(),
        password: "test123".into(),
        addr: server,
        transport,
    };
    let mut ep = Loopback::spawn(cfg(Some(turn), None), true);
    let handle = ep.handle.clone();
    let mut peer = Peer::new().await;
    let peer_cand = peer.host_candidate();
    let offer = strip_candidates(&peer.create_offer());
    let answer = handle.process_offer(offer).await.unwrap();
    handle.add_ice_candidate(peer_cand).await.unwrap();
    handle.gather_candidates().await.unwrap();
    run_until(
        &mut peer,
        &mut ep,
        Duration::from_secs(15),
        "relay candidate + gathering done",
        |_, ep| ep.events.contains(&WebRtcEvent::IceGatheringDone),
    )
    .await;
    let cands = ep.candidates();
    let relay: Vec<_> = cands
        .iter()
        .filter(|c| c.candidate.contains("typ relay"))
        .collect();
    assert_eq!(
        relay.len(),
        1,
        "no relay candidate: {cands:?}\n{}",
        coturn.log()
    );
    let relay_addr = cand_addr(&relay[0].candidate);
    assert!(
        (relay_ports.0..=relay_ports.1).contains(&relay_addr.port()),
        "{relay_addr}"
    );

    // The peer learns only the relay candidate, and a simulated firewall drops anything
    // that does not come from the relay: whatever connects must go through coturn.
    peer.add_remote(relay[0]);
    peer.only_from = Some(relay_addr);
    peer.accept_answer(&strip_candidates(&answer));
    until_connected(&mut peer, &mut ep, "connected through the relay").await;

    const N: usize = 30;
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
        "RTP looped back through the relay",
        |p, _| {
            p.received_of(MediaKind::Video).len() >= N * 9 / 10
                && p.received_of(MediaKind::Audio).len() >= N * 9 / 10
        },
    )
    .await;

    // Our direct host→peer checks were really blocked by the simulated firewall.
    assert!(peer.dropped > 0);
    let stats = handle.stats().await.unwrap();
    let (local, _) = stats.selected_pair.expect("selected pair");
    assert!(
        local.contains("typ relay"),
        "selected local candidate {local}"
    );
    let log = coturn.log();
    assert!(log.contains("ALLOCATE processed, success"), "{log}");
    assert!(
        log.contains("CREATE_PERMISSION processed, success"),
        "{log}"
    );
    assert!(log.contains("CHANNEL_BIND processed, success"), "{log}");
    handle.close();
    run_until(
        &mut peer,
        &mut ep,
        Duration::from_secs(5),
        "closed",
        |_, ep| ep.events.contains(&WebRtcEvent::Closed),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turn_udp_relay_carries_media() {
    media_through_relay(TurnTransport::Udp, (49120, 49159)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turn_tcp_relay_carries_media() {
    media_through_relay(TurnTransport::Tcp, (49160, 49199)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turn_bad_credentials_still_finish_gathering() {
    init_log();
    let coturn = start_coturn((49200, 49219)).await;
    let turn = TurnServer {
        username: "test".into(),
        password: "wrong".into(),
        addr: ([127, 0, 0, 1], coturn.port).into(),
        transport: TurnTransport::Udp,
    };
    let mut ep = Loopback::spawn(cfg(Some(turn), None), false);
    let handle = ep.handle.clone();
    let mut peer = Peer::new().await;
    handle.process_offer(peer.create_offer()).await.unwrap();
    handle.gather_candidates().await.unwrap();
    run_until(
        &mut peer,
        &mut ep,
        Duration::from_secs(10),
        "gathering done without relay",
        |_, ep| ep.events.contains(&WebRtcEvent::IceGatheringDone),
    )
    .await;
    assert!(!ep
        .candidates()
        .iter()
        .any(|c| c.candidate.contains("relay")));
    assert!(!ep.candidates().is_empty());
    handle.close();
}
