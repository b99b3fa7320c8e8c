//! Data channels (KMS `useDataChannels`) of our WebRTC endpoint against a plain str0m peer over
//! real UDP sockets on 127.0.0.1. Self-contained harness: the shared one serves media tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kurento_media_server::media::{DataMessage, ElementId, FromElement, GraphInbox};
use kurento_media_server::webrtc::{
    spawn_endpoint, EndpointConfig, IceCandidateInit, WebRtcEvent, WebRtcHandle,
};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::channel::ChannelId;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::RtpWrite;
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

fn init_log() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

fn config(use_data_channels: bool) -> EndpointConfig {
    EndpointConfig {
        network_interfaces: Some(vec!["lo".into()]),
        port_range: (47000, 47999),
        use_data_channels,
        ..Default::default()
    }
}

struct Peer {
    rtc: Rtc,
    sock: UdpSocket,
    addr: SocketAddr,
    connected: bool,
    pending: Option<SdpPendingOffer>,
    audio_mid: Option<Mid>,
    opened: Vec<(ChannelId, String)>,
    data: Vec<(ChannelId, bool, Vec<u8>)>,
    closed: Vec<ChannelId>,
    seq: u64,
}

impl Peer {
    async fn new() -> Peer {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        let mut rtc = Rtc::builder().set_rtp_mode(true).build(Instant::now());
        rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
        Peer {
            rtc,
            sock,
            addr,
            connected: false,
            pending: None,
            audio_mid: None,
            opened: Vec::new(),
            data: Vec::new(),
            closed: Vec::new(),
            seq: 1,
        }
    }

    /// Audio + video sendrecv and, with `channel`, a data channel of that label.
    fn offer(&mut self, channel: Option<&str>) -> String {
        let mut api = self.rtc.sdp_api();
        self.audio_mid =
            Some(api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None));
        api.add_media(MediaKind::Video, Direction::SendRecv, None, None, None);
        if let Some(label) = channel {
            api.add_channel(label.to_string());
        }
        let (offer, pending) = api.apply().unwrap();
        self.pending = Some(pending);
        offer.to_sdp_string()
    }

    fn accept_answer(&mut self, answer: &str) {
        let answer = SdpAnswer::from_sdp_string(answer).unwrap();
        let pending = self.pending.take().unwrap();
        self.rtc.sdp_api().accept_answer(pending, answer).unwrap();
    }

    fn answer(&mut self, offer: &str) -> String {
        let offer = SdpOffer::from_sdp_string(offer).unwrap();
        let answer = self.rtc.sdp_api().accept_offer(offer).unwrap();
        answer.to_sdp_string()
    }

    fn candidate(&self) -> IceCandidateInit {
        IceCandidateInit {
            candidate: Candidate::host(self.addr, "udp").unwrap().to_sdp_string(),
            sdp_mid: None,
            sdp_mline_index: Some(0),
        }
    }

    fn write(&mut self, cid: ChannelId, binary: bool, data: &[u8]) {
        let mut ch = self.rtc.channel(cid).expect("peer channel open");
        assert!(ch.write(binary, data).unwrap());
    }

    fn send_audio(&mut self) {
        let mid = self.audio_mid.unwrap();
        let pt = self
            .rtc
            .codec_config()
            .find(|p| p.spec().codec == Codec::Opus)
            .unwrap()
            .pt();
        self.seq += 1;
        let seq = self.seq;
        let mut api = self.rtc.direct_api();
        let tx = api
            .stream_tx_by_mid(mid, None)
            .expect("peer audio send stream");
        tx.write_rtp(RtpWrite::new(
            pt,
            seq.into(),
            seq as u32 * 960,
            Instant::now(),
            vec![0xab; 40],
        ));
    }

    fn drain(&mut self) -> Instant {
        loop {
            match self.rtc.poll_output().unwrap() {
                Output::Timeout(t) => return t,
                Output::Transmit(t) => {
                    let _ = self.sock.try_send_to(&t.contents, t.destination);
                }
                Output::Event(e) => match e {
                    Event::Connected => self.connected = true,
                    Event::ChannelOpen(cid, label) => self.opened.push((cid, label)),
                    Event::ChannelData(d) => self.data.push((d.id, d.binary, d.data)),
                    Event::ChannelClose(cid) => self.closed.push(cid),
                    _ => {}
                },
            }
        }
    }

    async fn step(&mut self) {
        let timeout = self.drain();
        let wait = timeout
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(5));
        let mut buf = vec![0u8; 2048];
        let input = match tokio::time::timeout(wait, self.sock.recv_from(&mut buf)).await {
            Ok(Ok((n, src))) => match buf[..n].try_into() {
                Ok(contents) => Input::Receive(
                    Instant::now(),
                    Receive {
                        proto: Protocol::Udp,
                        source: src,
                        destination: self.addr,
                        contents,
                    },
                ),
                Err(_) => Input::Timeout(Instant::now()),
            },
            _ => Input::Timeout(Instant::now()),
        };
        self.rtc.handle_input(input).unwrap();
        self.drain();
    }
}

/// Our endpoint with what it tells the graph and the signalling side.
struct Ep {
    handle: WebRtcHandle,
    ev_rx: mpsc::UnboundedReceiver<WebRtcEvent>,
    events: Vec<WebRtcEvent>,
    graph_rx: mpsc::Receiver<(ElementId, FromElement)>,
    data: Vec<DataMessage>,
    rtp: usize,
}

impl Ep {
    fn spawn(cfg: EndpointConfig) -> Ep {
        let (tx, graph_rx) = mpsc::channel(1024);
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let handle = spawn_endpoint(cfg, GraphInbox::new(ElementId::next(), tx), move |e| {
            let _ = ev_tx.send(e);
        })
        .unwrap();
        Ep {
            handle,
            ev_rx,
            events: Vec::new(),
            graph_rx,
            data: Vec::new(),
            rtp: 0,
        }
    }

    fn poll(&mut self) {
        while let Ok(e) = self.ev_rx.try_recv() {
            self.events.push(e);
        }
        while let Ok((_, m)) = self.graph_rx.try_recv() {
            match m {
                FromElement::Data(d) => self.data.push(d),
                FromElement::Rtp(_) => self.rtp += 1,
                _ => {}
            }
        }
    }

    fn opened(&self) -> Vec<(u16, String)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                WebRtcEvent::DataChannelOpened { id, label } => Some((*id, label.clone())),
                _ => None,
            })
            .collect()
    }
}

async fn drive(
    peer: &mut Peer,
    ep: &mut Ep,
    max: Duration,
    what: &str,
    done: impl Fn(&Peer, &Ep) -> bool,
) {
    let end = Instant::now() + max;
    loop {
        peer.step().await;
        ep.poll();
        if done(peer, ep) {
            return;
        }
        assert!(
            Instant::now() < end,
            "timed out waiting for {what}; endpoint events: {:?}",
            ep.events
        );
    }
}

/// The peer offers a channel "chat"; our side answers and trickles nothing (the answer has
/// host candidates).
async fn connect_peer_offering(ep: &mut Ep, peer: &mut Peer, channel: Option<&str>) -> String {
    let offer = peer.offer(channel);
    ep.handle.add_ice_candidate(peer.candidate()).await.unwrap();
    let answer = ep.handle.process_offer(offer).await.unwrap();
    peer.accept_answer(&answer);
    drive(peer, ep, Duration::from_secs(10), "connection", |p, _| {
        p.connected
    })
    .await;
    answer
}

#[tokio::test]
async fn peer_channel_messages_reach_the_graph_and_echo_back() {
    init_log();
    let mut ep = Ep::spawn(config(true));
    let mut peer = Peer::new().await;

    // Asked before any negotiation: queued until the offer brings SCTP.
    let early = {
        let h = ep.handle.clone();
        tokio::spawn(async move {
            h.create_data_channel("early".into(), true, -1, -1, String::new())
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;

    let answer = connect_peer_offering(&mut ep, &mut peer, Some("chat")).await;
    assert!(answer.contains("m=application 9"), "{answer}");
    assert!(answer.contains("webrtc-datachannel"), "{answer}");

    drive(
        &mut peer,
        &mut ep,
        Duration::from_secs(10),
        "both channels open",
        |p, e| {
            p.opened.iter().any(|(_, l)| l == "chat")
                && p.opened.iter().any(|(_, l)| l == "early")
                && e.opened().len() == 2
        },
    )
    .await;
    let early_id = early.await.unwrap().unwrap();
    let opened = ep.opened();
    assert!(
        opened.iter().any(|(id, l)| l == "early" && *id == early_id),
        "{opened:?}"
    );
    let chat_id = opened.iter().find(|(_, l)| l == "chat").unwrap().0;
    assert_ne!(chat_id, early_id);

    let chat = peer.opened.iter().find(|(_, l)| l == "chat").unwrap().0;
    peer.write(chat, false, "hello ☃".as_bytes());
    peer.write(chat, true, &[0, 1, 2, 255]);
    drive(
        &mut peer,
        &mut ep,
        Duration::from_secs(5),
        "two messages",
        |_, e| e.data.len() == 2,
    )
    .await;
    assert_eq!(&*ep.data[0].label, "chat");
    assert!(!ep.data[0].binary);
    assert_eq!(&*ep.data[0].data, "hello ☃".as_bytes());
    assert_eq!(&*ep.data[1].label, "chat");
    assert!(ep.data[1].binary);
    assert_eq!(&*ep.data[1].data, &[0, 1, 2, 255]);

    // KMS loopback: what came in goes back out on the channel of the same label.
    for m in ep.data.clone() {
        ep.handle.send_data(m);
    }
    drive(
        &mut peer,
        &mut ep,
        Duration::from_secs(5),
        "echo",
        |p, _| p.data.len() == 2,
    )
    .await;
    assert_eq!(peer.data[0], (chat, false, "hello ☃".as_bytes().to_vec()));
    assert_eq!(peer.data[1], (chat, true, vec![0, 1, 2, 255]));

    // A label nobody has falls back to the first open channel.
    ep.handle.send_data(DataMessage {
        label: "nope".into(),
        binary: false,
        data: Arc::from(&b"x"[..]),
    });
    drive(
        &mut peer,
        &mut ep,
        Duration::from_secs(5),
        "fallback",
        |p, _| p.data.len() == 3,
    )
    .await;
    assert_eq!(ep.handle.data_dropped().outgoing, 0);
    ep.handle.close();
}

#[tokio::test]
async fn server_created_channel_opens_and_closes_on_our_offer() {
    init_log();
    let mut ep = Ep::spawn(config(true));
    let mut peer = Peer::new().await;

    let offer = ep.handle.generate_offer(true, true).await.unwrap();
    assert!(offer.contains("m=application"), "{offer}");
    let answer = peer.answer(&offer);
    ep.handle.process_answer(answer).await.unwrap();
    ep.handle.add_ice_candidate(peer.candidate()).await.unwrap();
    drive(
        &mut peer,
        &mut ep,
        Duration::from_secs(10),
        "connection",
        |p, _| p.connected,
    )
    .await;

    let id = ep
        .handle
        .create_data_channel("server".into(), false, -1, 3, "proto".into())
        .await
        .unwrap();
    drive(
        &mut peer,
        &mut ep,
        Duration::from_secs(10),
        "server channel open",
        |p, e| !p.opened.is_empty() && !e.opened().is_empty(),
    )
    .await;
    // The channel that only put m=application into the offer is invisible to both sides.
    assert_eq!(peer.opened.len(), 1, "{:?}", peer.opened);
    assert_eq!(peer.opened[0].1, "server");
    assert_eq!(ep.opened(), vec![(id, "server".to_string())]);
    let cfg = peer
        .rtc
        .channel(peer.opened[0].0)
        .unwrap()
        .config()
        .cloned()
        .unwrap();
    assert!(!cfg.ordered);
    assert_eq!(cfg.protocol, "proto");

    ep.handle.close_data_channel(id).await.unwrap();
    drive(
        &mut peer,
        &mut ep,
        Duration::from_secs(10),
        "channel closed",
        |p, e| !p.closed.is_empty() && e.events.contains(&WebRtcEvent::DataChannelClosed { id }),
    )
    .await;
    assert!(ep.handle.close_data_channel(id).await.is_err());
    ep.handle.close();
}

#[tokio::test]
async fn without_use_data_channels_the_offered_channel_is_rejected() {
    init_log();
    let mut ep = Ep::spawn(config(false));
    let mut peer = Peer::new().await;

    let answer = connect_peer_offering(&mut ep, &mut peer, Some("chat")).await;
    let mlines: Vec<&str> = answer.lines().filter(|l| l.starts_with("m=")).collect();
    assert_eq!(mlines.len(), 3, "{answer}");
    assert!(
        mlines.iter().any(|l| l.starts_with("m=application 0 ")),
        "{answer}"
    );
    assert!(!answer.contains("a=sctp-port"), "{answer}");
    assert!(ep
        .handle
        .create_data_channel("x".into(), true, -1, -1, String::new())
        .await
        .is_err());

    // Media still flows while the peer's SCTP gets no association.
    let end = Instant::now() + Duration::from_secs(3);
    while Instant::now() < end {
        peer.send_audio();
        peer.step().await;
        ep.poll();
    }
    assert!(ep.rtp > 0, "no media reached the graph");
    assert!(ep.opened().is_empty(), "{:?}", ep.events);
    // A browser starts no SCTP for a rejected section. The str0m peer does anyway, and
    // str0m on our side answers any association, so a channel may open briefly at the
    // SCTP level; the endpoint closes it, reports nothing and forwards nothing.
    for (cid, _) in &peer.opened {
        assert!(
            peer.closed.contains(cid),
            "{:?} {:?}",
            peer.opened,
            peer.closed
        );
    }
    assert!(ep.data.is_empty());
    let offer = ep.handle.generate_offer(true, true).await.unwrap();
    assert!(!offer.contains("m=application"), "{offer}");
    ep.handle.close();
}

#[tokio::test]
async fn unconsumed_incoming_messages_are_dropped_not_buffered() {
    init_log();
    let mut ep = Ep::spawn(config(true));
    let mut peer = Peer::new().await;
    connect_peer_offering(&mut ep, &mut peer, Some("flood")).await;
    drive(
        &mut peer,
        &mut ep,
        Duration::from_secs(10),
        "channel open",
        |p, e| !p.opened.is_empty() && !e.opened().is_empty(),
    )
    .await;
    let cid = peer.opened[0].0;

    // 12 MB in 100 KB messages while nothing consumes the graph queue: what the endpoint keeps
    // alive stays within its in-flight budget (4 MiB), the rest is counted as dropped.
    let msg = vec![7u8; 100_000];
    let mut sent = 0;
    let end = Instant::now() + Duration::from_secs(20);
    while sent < 120 && Instant::now() < end {
        let mut ch = peer.rtc.channel(cid).unwrap();
        if ch.write(true, &msg).unwrap() {
            sent += 1;
        }
        peer.step().await;
    }
    assert_eq!(sent, 120, "peer could not send");
    let end = Instant::now() + Duration::from_secs(10);
    while ep.handle.data_dropped().incoming + (ep.graph_rx.len() as u64) < 120 {
        assert!(
            Instant::now() < end,
            "messages lost: {:?}",
            ep.handle.data_dropped()
        );
        peer.step().await;
    }
    let queued = ep.graph_rx.len();
    assert!(
        queued * msg.len() <= 4 * 1024 * 1024,
        "{queued} messages queued"
    );
    assert!(ep.handle.data_dropped().incoming > 0);
    ep.handle.close();
}
