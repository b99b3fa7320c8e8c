//! Shared harness for the WebRTC adapter tests: a plain str0m peer (client role, RTP mode)
//! on its own real UDP socket on 127.0.0.1, driven step by step by the test.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kurento_media_server::media::{ElementId, FromElement, GraphInbox, RtpPacket};
use kurento_media_server::webrtc::stun::{self, Class, Message, MessageBuilder};

use kurento_media_server::webrtc::{
    spawn_endpoint, EndpointConfig, IceCandidateInit, MediaKind as Kind, WebRtcEvent, WebRtcHandle,
};
use str0m::bwe::BweKind;
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpWrite};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc::UnboundedReceiver;

pub fn init_log() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

pub struct Peer {
    pub rtc: Rtc,
    pub sock: UdpSocket,
    pub addr: SocketAddr,
    pub received: Vec<(Mid, Pt, Vec<u8>)>,
    /// Extended sequence number and RTP timestamp of each packet in `received`.
    pub received_seq: Vec<(Mid, u64, u32)>,
    /// Header extension values of each packet in `received`.
    pub received_ext: Vec<(Mid, ExtensionValues)>,
    /// Header extension values put on every packet `send` writes.
    pub ext_out: ExtensionValues,
    pub keyframe_requests: Vec<Mid>,
    /// REMB values (bps) the remote side sent us for the video we send.
    pub remb: Vec<u64>,
    pub connected: bool,
    /// Simulated firewall: when set, datagrams from any other source are dropped.
    pub only_from: Option<SocketAddr>,
    pub dropped: usize,
    /// Simulated loss: (payload type, n) drops every n-th incoming RTP packet of that payload
    /// type (read from the clear RTP header), before str0m sees it.
    pub drop_rtp: Option<(u8, usize)>,
    rtp_seen: usize,
    pub audio_mid: Option<Mid>,
    pub video_mid: Option<Mid>,
    pending: Option<SdpPendingOffer>,
    seq: u64,
    /// ICE-TCP (active side): transmits queued by `drain`, sent by `step`.
    tcp_out: Vec<(SocketAddr, Vec<u8>)>,
    tcp_conns: Vec<(SocketAddr, tokio::net::tcp::OwnedWriteHalf)>,
    tcp_in_tx: tokio::sync::mpsc::UnboundedSender<(SocketAddr, Vec<u8>)>,
    tcp_in_rx: tokio::sync::mpsc::UnboundedReceiver<(SocketAddr, Vec<u8>)>,
    /// Address the peer's active TCP candidate claims (RFC 6544 uses port 9).
    pub tcp_local: SocketAddr,
}

/// Removes `a=candidate` / `a=end-of-candidates` lines so candidates only travel by trickle.
pub fn strip_candidates(sdp: &str) -> String {
    sdp.split_inclusive('\n')
        .filter(|l| !l.starts_with("a=candidate") && !l.starts_with("a=end-of-candidates"))
        .collect()
}

impl Peer {
    pub async fn new() -> Peer {
        Self::with_config(|c| c).await
    }

    /// A peer whose RtcConfig (e.g. codecs and payload types) the test adjusts.
    pub async fn with_config(f: impl FnOnce(str0m::RtcConfig) -> str0m::RtcConfig) -> Peer {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        let rtc = f(Rtc::builder().set_rtp_mode(true)).build(Instant::now());
        let (tcp_in_tx, tcp_in_rx) = tokio::sync::mpsc::unbounded_channel();
        Peer {
            tcp_out: Vec::new(),
            tcp_conns: Vec::new(),
            tcp_in_tx,
            tcp_in_rx,
            tcp_local: "127.0.0.1:9".parse().unwrap(),
            rtc,
            sock,
            addr,
            received: Vec::new(),
            received_seq: Vec::new(),
            received_ext: Vec::new(),
            ext_out: ExtensionValues::default(),
            keyframe_requests: Vec::new(),
            remb: Vec::new(),
            connected: false,
            only_from: None,
            dropped: 0,
            drop_rtp: None,
            rtp_seen: 0,
            audio_mid: None,
            video_mid: None,
            pending: None,
            seq: 1000,
        }
    }

    /// The peer's host candidate, as it would trickle it.
    pub fn host_candidate(&mut self) -> IceCandidateInit {
        let c = self
            .rtc
            .add_local_candidate(Candidate::host(self.addr, "udp").unwrap())
            .unwrap()
            .to_sdp_string();
        IceCandidateInit {
            candidate: c,
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
        }
    }

    /// An active ICE-TCP candidate (the peer connects out, like Chromium's `tcptype active`).
    pub fn tcp_active_candidate(&mut self) -> IceCandidateInit {
        let c = Candidate::builder()
            .tcp()
            .host(self.tcp_local)
            .tcptype(str0m::net::TcpType::Active)
            .build()
            .unwrap();
        let c = self.rtc.add_local_candidate(c).unwrap().to_sdp_string();
        IceCandidateInit {
            candidate: c,
            sdp_mid: None,
            sdp_mline_index: Some(0),
        }
    }

    /// Offer with one audio and one video sendrecv m-line.
    pub fn create_offer(&mut self) -> String {
        let mut api = self.rtc.sdp_api();
        self.audio_mid =
            Some(api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None));
        self.video_mid =
            Some(api.add_media(MediaKind::Video, Direction::SendRecv, None, None, None));
        let (offer, pending) = api.apply().unwrap();
        self.pending = Some(pending);
        offer.to_sdp_string()
    }

    pub fn accept_answer(&mut self, answer: &str) {
        let answer = SdpAnswer::from_sdp_string(answer).unwrap();
        let pending = self.pending.take().unwrap();
        self.rtc.sdp_api().accept_answer(pending, answer).unwrap();
    }

    pub fn add_remote(&mut self, c: &IceCandidateInit) {
        let cand = Candidate::from_sdp_string(&c.candidate).unwrap();
        self.rtc.add_remote_candidate(cand);
    }

    pub fn pt_for(&self, codec: Codec) -> Pt {
        self.rtc
            .codec_config()
            .find(|p| p.spec().codec == codec)
            .unwrap()
            .pt()
    }

    /// Writes one RTP packet on the peer's send stream for `kind`.
    pub fn send(&mut self, kind: Kind, payload: &[u8], marker: bool) {
        let (mid, codec, ts) = match kind {
            Kind::Audio => (self.audio_mid.unwrap(), Codec::Opus, 960),
            Kind::Video => (self.video_mid.unwrap(), Codec::Vp8, 3000),
        };
        let pt = self.pt_for(codec);
        self.seq += 1;
        let seq = self.seq;
        let mut api = self.rtc.direct_api();
        let tx = api.stream_tx_by_mid(mid, None).expect("peer send stream");
        tx.write_rtp(
            RtpWrite::new(
                pt,
                seq.into(),
                (seq as u32) * ts,
                Instant::now(),
                payload.to_vec(),
            )
            .marker(marker)
            .ext_vals(self.ext_out.clone()),
        );
    }

    /// Tells the remote side (REMB) how much video the peer can receive.
    pub fn send_remb(&mut self, bps: u64) {
        self.rtc
            .direct_api()
            .stream_rx_by_mid(self.video_mid.unwrap(), None)
            .expect("peer receive stream (from our a=ssrc)")
            .request_remb(str0m::bwe::Bitrate::bps(bps));
    }

    pub fn request_keyframe(&mut self, kind: Kind) {
        let mid = match kind {
            Kind::Audio => self.audio_mid.unwrap(),
            Kind::Video => self.video_mid.unwrap(),
        };
        self.rtc
            .direct_api()
            .stream_rx_by_mid(mid, None)
            .expect("peer receive stream (from our a=ssrc)")
            .request_keyframe(KeyframeRequestKind::Pli);
    }

    fn drain(&mut self) -> Instant {
        loop {
            match self.rtc.poll_output().unwrap() {
                Output::Timeout(t) => return t,
                Output::Transmit(t) => {
                    if t.proto == Protocol::Tcp {
                        self.tcp_out.push((t.destination, t.contents.to_vec()));
                    } else {
                        let _ = self.sock.try_send_to(&t.contents, t.destination);
                    }
                }
                Output::Event(e) => match e {
                    Event::Connected => self.connected = true,
                    Event::RtpPacket(p) => {
                        let mid = self
                            .rtc
                            .direct_api()
                            .stream_rx(&p.header.ssrc)
                            .map(|s| s.mid())
                            .unwrap();
                        self.received_seq.push((mid, *p.seq_no, p.header.timestamp));
                        self.received_ext.push((mid, p.header.ext_vals.clone()));
                        self.received
                            .push((mid, p.header.payload_type, p.payload.to_vec()));
                    }
                    Event::KeyframeRequest(r) => self.keyframe_requests.push(r.mid),
                    Event::EgressBitrateEstimate(BweKind::Remb { estimate, .. }) => {
                        self.remb.push(estimate.as_u64())
                    }
                    _ => {}
                },
            }
        }
    }

    /// Drains, then waits up to `max_wait` for one datagram (or the peer's own timer).
    async fn flush_tcp(&mut self) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        for (dst, data) in std::mem::take(&mut self.tcp_out) {
            if !self.tcp_conns.iter().any(|(a, _)| *a == dst) {
                let Ok(stream) = tokio::net::TcpStream::connect(dst).await else {
                    continue;
                };
                let (mut rd, wr) = stream.into_split();
                let tx = self.tcp_in_tx.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut tmp = [0u8; 4096];
                    while let Ok(n) = rd.read(&mut tmp).await {
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&tmp[..n]);
                        while buf.len() >= 2 {
                            let len = u16::from_be_bytes([buf[0], buf[1]]) as usize;
                            if buf.len() < 2 + len {
                                break;
                            }
                            let _ = tx.send((dst, buf[2..2 + len].to_vec()));
                            buf.drain(..2 + len);
                        }
                    }
                });
                self.tcp_conns.push((dst, wr));
            }
            if let Some((_, wr)) = self.tcp_conns.iter_mut().find(|(a, _)| *a == dst) {
                let mut framed = (data.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(&data);
                let _ = wr.write_all(&framed).await;
            }
        }
    }

    pub async fn step(&mut self, max_wait: Duration) {
        let timeout = self.drain();
        self.flush_tcp().await;
        if let Ok((src, data)) = self.tcp_in_rx.try_recv() {
            if let Ok(contents) = data.as_slice().try_into() {
                self.rtc
                    .handle_input(Input::Receive(
                        Instant::now(),
                        Receive {
                            proto: Protocol::Tcp,
                            source: src,
                            destination: self.tcp_local,
                            contents,
                        },
                    ))
                    .unwrap();
            }
            self.drain();
            self.flush_tcp().await;
            return;
        }
        let now = Instant::now();
        let wait = timeout.saturating_duration_since(now).min(max_wait);
        let mut buf = vec![0u8; 2048];
        let input = match tokio::time::timeout(wait, self.sock.recv_from(&mut buf)).await {
            Ok(Ok((n, src))) => {
                let lossy = match (self.drop_rtp, &buf[..n]) {
                    (Some((pt, every)), [b0, b1, ..])
                        if (128..=191).contains(b0) && b1 & 0x7f == pt =>
                    {
                        self.rtp_seen += 1;
                        self.rtp_seen.is_multiple_of(every.max(1))
                    }
                    _ => false,
                };
                if self.only_from.is_some_and(|a| a != src) || lossy {
                    self.dropped += 1;
                    None
                } else {
                    Some((n, src))
                }
            }
            _ => None,
        };
        match input {
            Some((n, src)) => {
                if let Ok(contents) = buf[..n].try_into() {
                    self.rtc
                        .handle_input(Input::Receive(
                            Instant::now(),
                            Receive {
                                proto: Protocol::Udp,
                                source: src,
                                destination: self.addr,
                                contents,
                            },
                        ))
                        .unwrap();
                }
            }
            None => self
                .rtc
                .handle_input(Input::Timeout(Instant::now()))
                .unwrap(),
        }
        self.drain();
    }

    pub fn received_of(&self, kind: Kind) -> Vec<Vec<u8>> {
        let mid = match kind {
            Kind::Audio => self.audio_mid,
            Kind::Video => self.video_mid,
        };
        self.received
            .iter()
            .filter(|(m, _, _)| Some(*m) == mid)
            .map(|(_, _, p)| p.clone())
            .collect()
    }
}

/// Collects an endpoint's signalling events and what it sends into the graph; its RTP is looped
/// back into the same endpoint (the hello-world tutorial shape) and also recorded.
pub struct Loopback {
    pub handle: WebRtcHandle,
    pub rx: UnboundedReceiver<WebRtcEvent>,
    pub media_rx: tokio::sync::mpsc::Receiver<(ElementId, FromElement)>,
    pub events: Vec<WebRtcEvent>,
    pub media: Vec<FromElement>,
    pub loop_back: bool,
}

/// A graph queue for an endpoint under test, and its receiving end.
pub fn test_inbox() -> (
    GraphInbox,
    tokio::sync::mpsc::Receiver<(ElementId, FromElement)>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(8192);
    (GraphInbox::new(ElementId::next(), tx), rx)
}

/// `spawn_endpoint` with its signalling collected on an unbounded channel.
pub fn spawn_collected(
    cfg: EndpointConfig,
) -> (
    WebRtcHandle,
    UnboundedReceiver<WebRtcEvent>,
    tokio::sync::mpsc::Receiver<(ElementId, FromElement)>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (inbox, media_rx) = test_inbox();
    let handle = spawn_endpoint(cfg, inbox, move |e| {
        let _ = tx.send(e);
    })
    .unwrap_or_else(|e| panic!("cannot spawn an endpoint: {e}"));
    (handle, rx, media_rx)
}

impl Loopback {
    /// A fresh endpoint whose events this collects (and, with `loop_back`, sends its RTP back).
    pub fn spawn(cfg: EndpointConfig, loop_back: bool) -> Loopback {
        let (handle, rx, media_rx) = spawn_collected(cfg);
        Loopback {
            handle,
            rx,
            media_rx,
            events: Vec::new(),
            media: Vec::new(),
            loop_back,
        }
    }

    pub fn poll(&mut self) {
        while let Ok(e) = self.rx.try_recv() {
            self.events.push(e);
        }
        while let Ok((_, m)) = self.media_rx.try_recv() {
            if let FromElement::Rtp(p) = &m {
                if self.loop_back {
                    self.handle.send_rtp(p.clone());
                }
            }
            self.media.push(m);
        }
    }

    pub fn count(&self, f: impl Fn(&WebRtcEvent) -> bool) -> usize {
        self.events.iter().filter(|e| f(e)).count()
    }

    pub fn count_media(&self, f: impl Fn(&FromElement) -> bool) -> usize {
        self.media.iter().filter(|e| f(e)).count()
    }

    /// RTP packets received so far.
    pub fn rtp(&self) -> Vec<&RtpPacket> {
        self.media
            .iter()
            .filter_map(|m| match m {
                FromElement::Rtp(p) => Some(p),
                _ => None,
            })
            .collect()
    }

    pub fn candidates(&self) -> Vec<IceCandidateInit> {
        self.events
            .iter()
            .filter_map(|e| match e {
                WebRtcEvent::IceCandidateFound(c) => Some(c.clone()),
                _ => None,
            })
            .collect()
    }
}

/// Steps the peer and polls the endpoint until both sides report the connection (10 s at most).
pub async fn until_connected(peer: &mut Peer, ep: &mut Loopback, what: &str) {
    run_until(peer, ep, Duration::from_secs(10), what, |p, ep| {
        p.connected
            && ep
                .events
                .contains(&WebRtcEvent::ConnectionStateChanged { connected: true })
    })
    .await;
}

/// Steps the peer and polls the endpoint until `cond` holds; panics with `what` on timeout.
pub async fn run_until(
    peer: &mut Peer,
    ep: &mut Loopback,
    limit: Duration,
    what: &str,
    mut cond: impl FnMut(&Peer, &Loopback) -> bool,
) {
    let end = Instant::now() + limit;
    loop {
        ep.poll();
        if cond(peer, ep) {
            return;
        }
        assert!(
            Instant::now() < end,
            "timed out waiting for {what}; endpoint events: {:?}",
            ep.events
        );
        peer.step(Duration::from_millis(5)).await;
    }
}

pub fn vp8_payload(i: usize, key: bool) -> Vec<u8> {
    // RFC 7741 descriptor with S=1, PID=0, then a VP8 frame tag whose P bit marks key/inter.
    let mut v = vec![
        0x10,
        if key { 0x00 } else { 0x01 },
        0x00,
        0x00,
        0x9d,
        0x01,
        0x2a,
    ];
    v.extend_from_slice(&(i as u32).to_be_bytes());
    v.extend(std::iter::repeat_n(0xAB, 300));
    v
}

pub fn opus_payload(i: usize) -> Vec<u8> {
    let mut v = vec![0xfc, 0xff, 0xfe];
    v.extend_from_slice(&(i as u32).to_be_bytes());
    v.extend(std::iter::repeat_n(0x11, 60));
    v
}

pub struct Coturn {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Coturn {
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("turn.log")).unwrap_or_default()
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        // Only the process we started, by its own handle (pid).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    // A port free for both UDP and TCP at the time of asking.
    loop {
        let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = u.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Starts coturn as a child process (temp dir, free port) and waits until it answers STUN.
/// Fails loudly when coturn is not installed.
pub async fn start_coturn(relay_ports: (u16, u16)) -> Coturn {
    let bin = ["/usr/bin/turnserver", "/usr/sbin/turnserver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or_else(|| {
            panic!("coturn is not installed: run `apt-get install -y coturn` (these tests need a real TURN server)")
        });
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("turn.log")).unwrap();
    let child = Command::new(bin)
        .args(["-c", "/dev/null", "-n"])
        .arg("--listening-ip=127.0.0.1")
        .arg("--relay-ip=127.0.0.1")
        .arg(format!("--listening-port={port}"))
        .arg(format!("--min-port={}", relay_ports.0))
        .arg(format!("--max-port={}", relay_ports.1))
        .args(["--lt-cred-mech", "--user=test:test123", "--realm=kms.test"])
        .args(["--fingerprint", "--no-tls", "--no-dtls", "--no-cli"])
        .arg("--allow-loopback-peers")
        .arg(format!("--userdb={}", dir.path().join("turndb").display()))
        .arg(format!(
            "--pidfile={}",
            dir.path().join("turn.pid").display()
        ))
        .args(["--log-file=stdout", "--simple-log", "--verbose"])
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("starting turnserver");
    let coturn = Coturn { child, port, dir };

    // Ready when it answers a STUN binding request.
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let server: SocketAddr = ([127, 0, 0, 1], port).into();
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(
            Instant::now() < end,
            "coturn did not come up; log:\n{}",
            coturn.log()
        );
        let req = MessageBuilder::new(
            stun::method::BINDING,
            Class::Request,
            stun::new_transaction_id(),
        )
        .build(None, true);
        sock.send_to(&req, server).await.unwrap();
        let mut buf = [0u8; 1500];
        if let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_millis(200), sock.recv_from(&mut buf)).await
        {
            if Message::parse(&buf[..n]).is_some_and(|m| m.class == Class::Success) {
                // TCP listener too.
                if tokio::net::TcpStream::connect(server).await.is_ok() {
                    return coturn;
                }
            }
        }
    }
}

/// An endpoint attached to a pipeline router, with the str0m peer it negotiated with.
pub struct Leg {
    pub key: ElementId,
    pub handle: WebRtcHandle,
    pub peer: Peer,
}

impl Leg {
    pub async fn new(media: &kurento_media_server::media::PipelineMedia) -> Leg {
        let key = ElementId::next();
        let cfg = EndpointConfig {
            network_interfaces: Some(vec!["lo".into()]),
            port_range: (0, 0),
            ..Default::default()
        };
        let handle = spawn_endpoint(cfg, media.inbox(key), |_| {}).unwrap();
        media.attach(key, std::sync::Arc::new(handle.clone()));
        let mut peer = Peer::new().await;
        peer.host_candidate();
        let answer = handle.process_offer(peer.create_offer()).await.unwrap();
        peer.accept_answer(&answer);
        handle.gather_candidates().await.unwrap();
        Leg { key, handle, peer }
    }
}

/// Steps every leg's peer until `cond` holds on them; panics with `what` after `limit`.
pub async fn run_legs(
    legs: &mut [&mut Leg],
    limit: Duration,
    what: &str,
    cond: impl Fn(&[&mut Leg]) -> bool,
) {
    let end = Instant::now() + limit;
    while !cond(legs) {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        for l in legs.iter_mut() {
            l.peer.step(Duration::from_millis(2)).await;
        }
    }
}
