//! The per-endpoint task: owns the str0m `Rtc`, host sockets, STUN probes and the TURN client.
//!
//! str0m's contract is "one mutation, then drain `poll_output` to a timeout". Every method
//! below that touches the `Rtc` calls `pump()` right after its mutation.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::bwe::{Bitrate, BweKind};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, KeyframeRequestKind, Mid, Pt};
use str0m::net::{Protocol, Receive, Transmit};
use str0m::rtp::{ExtensionValues, RtpWrite, VideoOrientation};
use str0m::{Candidate, Event, IceConnectionState, IceCreds, Input, Output, Rtc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::codec;
use super::datachannel::{self, Channels, DataDropCounters, OpenChannel};
use super::net;
use super::rewrite::OutStream;
use super::shared_udp::SharedUdp;
use super::stun::{self, Class, Message, MessageBuilder, TransactionId};
use super::turn::{TcpFramer, TurnClient, TurnEvent, TurnInput};
use super::{
    Command, DtlsState, EndpointConfig, IceCandidateInit, IceComponentState, MediaCounters,
    MediaExtensions, MediaKind, RtpPacket, TurnTransport, WebRtcError, WebRtcEvent, WebRtcStats,
};
use crate::media::{DataMessage, FromElement, GraphInbox, LatencyAvg};

const NET_QUEUE: usize = 1024;

/// How stale getStats' RTCP-derived figures may be (packet and byte counts are always live).
const STATS_INTERVAL: Duration = Duration::from_secs(1);
pub(super) const MAX_DATAGRAM: usize = 2048;
const STUN_RTO: Duration = Duration::from_millis(500);
const STUN_TRIES: u32 = 5;
/// Upper bound on how long the loop sleeps, so a str0m "never" timeout cannot overflow.
const MAX_SLEEP: Duration = Duration::from_secs(1);
/// Retransmission cache per send stream: NACKs for packets older than this are not answered.
const RTX_CACHE_PACKETS: usize = 2048;
const RTX_CACHE_AGE: Duration = Duration::from_secs(3);
/// str0m stops answering NACKs while retransmissions exceed this share of what a stream sends.
/// Its default (0.15) is reached at 5 % loss with jitter, since every reordered packet is NACKed
/// too; then whole bursts of NACKs go unanswered and viewers lose frames. A flood is still cut.
const RTX_RATIO_CAP: f32 = 0.5;

pub(super) enum NetIn {
    Udp {
        sock: usize,
        src: SocketAddr,
        data: Vec<u8>,
        at: Instant,
    },
    TurnTcpUp {
        local: SocketAddr,
        writer: mpsc::UnboundedSender<Vec<u8>>,
    },
    TurnTcp {
        frame: Vec<u8>,
        at: Instant,
    },
    TurnTcpDown(String),
    IceTcpConn {
        id: u64,
        local: SocketAddr,
        remote: SocketAddr,
        writer: mpsc::UnboundedSender<Vec<u8>>,
    },
    IceTcpData {
        id: u64,
        frame: Vec<u8>,
        at: Instant,
    },
    IceTcpClosed {
        id: u64,
    },
}

struct IceTcpConn {
    local: SocketAddr,
    remote: SocketAddr,
    writer: mpsc::UnboundedSender<Vec<u8>>,
}

/// Most simultaneous ICE-TCP connections one endpoint accepts; more are refused so a peer
/// (or anyone) cannot exhaust file descriptors through one endpoint.
const MAX_ICE_TCP_CONNS: usize = 16;

struct HostSocket {
    sock: Arc<UdpSocket>,
    addr: SocketAddr,
}

struct StunProbe {
    sock: usize,
    server: SocketAddr,
    tid: TransactionId,
    msg: Vec<u8>,
    deadline: Instant,
    tries: u32,
    done: bool,
}

enum TurnLink {
    Udp(usize),
    TcpConnecting,
    Tcp(mpsc::UnboundedSender<Vec<u8>>),
}

struct TurnState {
    client: TurnClient,
    link: TurnLink,
    /// Local address the allocation was made from (the relayed candidate's base on our side).
    local: Option<SocketAddr>,
    failed: bool,
}

struct LocalCand {
    addr: SocketAddr,
    base: SocketAddr,
    tcp: bool,
    line: String,
}

/// One kind's figures as the actor keeps them between getStats calls.
#[derive(Default)]
struct KindCounters {
    stats: MediaCounters,
    latency: LatencyAvg,
    /// Extended sequence numbers (first, highest) of what we receive, for the cumulative loss
    /// RFC 3550 defines; str0m's stats events carry only the fraction.
    seq_range: Option<(u64, u64)>,
}

#[derive(Default)]
struct Counters {
    audio: KindCounters,
    video: KindCounters,
}

impl Counters {
    fn get(&mut self, k: MediaKind) -> &mut KindCounters {
        match k {
            MediaKind::Audio => &mut self.audio,
            MediaKind::Video => &mut self.video,
        }
    }
}

/// What the handle feeds the actor.
pub(super) struct Inputs {
    pub cmd: mpsc::UnboundedReceiver<Command>,
    pub media: mpsc::Receiver<RtpPacket>,
    pub data: mpsc::Receiver<DataMessage>,
}

struct Actor {
    rtc: Rtc,
    channels: Channels,
    cfg: EndpointConfig,
    events: Box<dyn Fn(WebRtcEvent) + Send>,
    graph: GraphInbox,
    sockets: Vec<HostSocket>,
    /// The shared UDP port and this endpoint's ufrag on it (see `shared_udp.rs`).
    shared: Option<(Arc<SharedUdp>, String)>,
    /// Destinations announced to the shared port's readers.
    announced: HashSet<(usize, SocketAddr)>,
    net_tx: mpsc::Sender<NetIn>,
    tasks: Vec<JoinHandle<()>>,
    rtc_timeout: Instant,
    finished: bool,

    local_sdp: Option<String>,
    remote_sdp: Option<String>,
    pending_offer: Option<SdpPendingOffer>,
    mids: Vec<(Mid, MediaKind)>,
    pending_remote: Vec<Candidate>,
    remote_lines: HashMap<SocketAddr, String>,

    local_cands: Vec<LocalCand>,
    emitted: usize,
    gather_started: bool,
    gather_done_emitted: bool,
    probes: Vec<StunProbe>,
    turn: Option<TurnState>,
    tcp_conns: HashMap<u64, IceTcpConn>,

    in_codecs: HashMap<u8, Option<(super::CodecId, Codec)>>,
    out_targets: HashMap<(MediaKind, super::CodecId), Option<(Mid, Pt)>>,
    out_streams: HashMap<MediaKind, OutStream>,
    /// Send streams whose retransmission cache has been configured.
    rtx_configured: HashSet<Mid>,
    counters: Counters,
    last_drop_warn: Option<Instant>,
    /// (kind, codec) mismatches already reported with CodecNotNegotiated.
    reported_mismatch: std::collections::HashSet<(MediaKind, String)>,

    ice_state: Option<IceComponentState>,
    dtls_state: DtlsState,
    connected: bool,
    selected: Option<(SocketAddr, SocketAddr)>,
    selected_lines: Option<(String, String)>,
}

pub(super) fn spawn(
    cfg: EndpointConfig,
    std_sockets: Vec<std::net::UdpSocket>,
    listeners: Vec<std::net::TcpListener>,
    inputs: Inputs,
    graph: GraphInbox,
    events: Box<dyn Fn(WebRtcEvent) + Send>,
    data_drops: Arc<DataDropCounters>,
) -> Result<(), WebRtcError> {
    let (net_tx, net_rx) = mpsc::channel(NET_QUEUE);
    let mut sockets = Vec::new();
    let mut tasks = Vec::new();
    for s in std_sockets {
        s.set_nonblocking(true)
            .map_err(|e| WebRtcError::Io(e.to_string()))?;
        let sock = Arc::new(UdpSocket::from_std(s).map_err(|e| WebRtcError::Io(e.to_string()))?);
        let addr = sock
            .local_addr()
            .map_err(|e| WebRtcError::Io(e.to_string()))?;
        tasks.push(tokio::spawn(udp_reader(
            sockets.len(),
            sock.clone(),
            net_tx.clone(),
        )));
        sockets.push(HostSocket { sock, addr });
    }

    let mut shared = None;
    let mut creds = None;
    if let Some(s) = cfg.shared_udp.clone() {
        for (sock, addr) in s.sockets() {
            sockets.push(HostSocket {
                sock: sock.clone(),
                addr: *addr,
            });
        }
        let c = IceCreds::new();
        s.register(&c.ufrag, &net_tx);
        shared = Some((s, c.ufrag.clone()));
        creds = Some(c);
    }

    let mtu = cfg.mtu.clamp(
        str0m::DATAGRAM_MTU_TARGET_MIN,
        str0m::DATAGRAM_MTU_TARGET_MAX,
    );
    let now = Instant::now();
    // Full ICE (not ICE-lite): str0m's lite mode refuses srflx/relay local candidates, and
    // KMS (libnice) is a full agent too.
    let rtc = Rtc::builder()
        .set_rtp_mode(true)
        // getStats reads str0m's per-stream figures (RTCP-derived loss, jitter, RTT, feedback
        // counts) from these periodic events.
        .set_stats_interval(Some(STATS_INTERVAL))
        .set_ice_lite(false)
        .clear_codecs()
        .enable_opus(true, false)
        .enable_vp8(true)
        .enable_vp9(true)
        .enable_h264(true)
        .enable_pcmu(true, false)
        .enable_pcma(true, false)
        .set_mtu(mtu..=mtu.max(str0m::DATAGRAM_MTU_WARN));
    // On the shared port the ufrag is how datagrams find this endpoint, so it is fixed up front.
    let rtc = match creds {
        Some(c) => rtc.set_local_ice_credentials(c),
        None => rtc,
    }
    .build(now);

    let mut actor = Actor {
        rtc,
        channels: Channels::new(data_drops),
        cfg,
        events,
        graph,
        sockets,
        shared,
        announced: HashSet::new(),
        net_tx,
        tasks,
        rtc_timeout: now,
        finished: false,
        local_sdp: None,
        remote_sdp: None,
        pending_offer: None,
        mids: Vec::new(),
        pending_remote: Vec::new(),
        remote_lines: HashMap::new(),
        local_cands: Vec::new(),
        emitted: 0,
        gather_started: false,
        gather_done_emitted: false,
        probes: Vec::new(),
        turn: None,
        tcp_conns: HashMap::new(),
        in_codecs: HashMap::new(),
        out_targets: HashMap::new(),
        out_streams: HashMap::new(),
        rtx_configured: HashSet::new(),
        counters: Counters::default(),
        last_drop_warn: None,
        reported_mismatch: std::collections::HashSet::new(),
        ice_state: None,
        dtls_state: DtlsState::New,
        connected: false,
        selected: None,
        selected_lines: None,
    };
    // Host candidates go in right away so every SDP we produce already carries them (useful
    // for non-trickle peers); gather_candidates() trickles them as KMS does.
    let addrs: Vec<SocketAddr> = actor.sockets.iter().map(|s| s.addr).collect();
    for a in addrs {
        match Candidate::host(a, "udp") {
            Ok(c) => actor.add_local_candidate(c, a),
            Err(e) => tracing::warn!("host candidate {a}: {e}"),
        }
    }
    for l in listeners {
        l.set_nonblocking(true)
            .map_err(|e| WebRtcError::Io(e.to_string()))?;
        let l = tokio::net::TcpListener::from_std(l).map_err(|e| WebRtcError::Io(e.to_string()))?;
        let addr = l.local_addr().map_err(|e| WebRtcError::Io(e.to_string()))?;
        let cand = Candidate::builder()
            .tcp()
            .host(addr)
            .tcptype(str0m::net::TcpType::Passive)
            .build();
        match cand {
            Ok(c) => actor.add_local_candidate(c, addr),
            Err(e) => tracing::warn!("ICE-TCP candidate {addr}: {e}"),
        }
        let tx = actor.net_tx.clone();
        actor.tasks.push(tokio::spawn(ice_tcp_accept(l, addr, tx)));
    }
    tokio::spawn(actor.run(inputs, net_rx));
    Ok(())
}

async fn ice_tcp_accept(l: tokio::net::TcpListener, local: SocketAddr, tx: mpsc::Sender<NetIn>) {
    static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    loop {
        let (stream, remote) = match l.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!("ICE-TCP accept: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (mut rd, mut wr) = stream.into_split();
        let (wtx, mut wrx) = mpsc::unbounded_channel::<Vec<u8>>();
        if tx
            .send(NetIn::IceTcpConn {
                id,
                local,
                remote,
                writer: wtx,
            })
            .await
            .is_err()
        {
            return;
        }
        // The writer ends when the actor drops its sender (connection refused or endpoint gone).
        tokio::spawn(async move {
            while let Some(b) = wrx.recv().await {
                if wr.write_all(&b).await.is_err() {
                    return;
                }
            }
        });
        let tx = tx.clone();
        tokio::spawn(async move {
            // RFC 4571: each packet is preceded by a 16-bit length.
            let mut buf: Vec<u8> = Vec::with_capacity(4096);
            let mut tmp = vec![0u8; 4096];
            loop {
                let n = match rd.read(&mut tmp).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&tmp[..n]);
                while buf.len() >= 2 {
                    let len = u16::from_be_bytes([buf[0], buf[1]]) as usize;
                    if buf.len() < 2 + len {
                        break;
                    }
                    let frame = buf[2..2 + len].to_vec();
                    buf.drain(..2 + len);
                    let m = NetIn::IceTcpData {
                        id,
                        frame,
                        at: Instant::now(),
                    };
                    if tx.send(m).await.is_err() {
                        return;
                    }
                }
            }
            let _ = tx.send(NetIn::IceTcpClosed { id }).await;
        });
    }
}

async fn udp_reader(idx: usize, sock: Arc<UdpSocket>, tx: mpsc::Sender<NetIn>) {
    loop {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        match sock.recv_from(&mut buf).await {
            Ok((n, src)) => {
                buf.truncate(n);
                let msg = NetIn::Udp {
                    sock: idx,
                    src,
                    data: buf,
                    at: Instant::now(),
                };
                if tx.send(msg).await.is_err() {
                    return;
                }
            }
            // ICMP port-unreachable surfaces as ECONNREFUSED on Linux UDP sockets; the socket
            // is still fine.
            Err(e) => {
                tracing::trace!("udp recv error: {e}");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
}

async fn turn_tcp(server: SocketAddr, tx: mpsc::Sender<NetIn>) {
    let stream = match tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::TcpStream::connect(server),
    )
    .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            let _ = tx.send(NetIn::TurnTcpDown(e.to_string())).await;
            return;
        }
        Err(_) => {
            let _ = tx.send(NetIn::TurnTcpDown("connect timeout".into())).await;
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let Ok(local) = stream.local_addr() else {
        let _ = tx.send(NetIn::TurnTcpDown("no local addr".into())).await;
        return;
    };
    let (mut rd, mut wr) = stream.into_split();
    let (wtx, mut wrx) = mpsc::unbounded_channel::<Vec<u8>>();
    let writer = tokio::spawn(async move {
        while let Some(b) = wrx.recv().await {
            if wr.write_all(&b).await.is_err() {
                return;
            }
        }
    });
    if tx
        .send(NetIn::TurnTcpUp { local, writer: wtx })
        .await
        .is_err()
    {
        writer.abort();
        return;
    }
    let mut framer = TcpFramer::default();
    let mut buf = vec![0u8; 4096];
    let why = loop {
        match rd.read(&mut buf).await {
            Ok(0) => break "closed by server".to_string(),
            Ok(n) => {
                framer.push(&buf[..n]);
                loop {
                    match framer.next_frame() {
                        Ok(Some(frame)) => {
                            let m = NetIn::TurnTcp {
                                frame,
                                at: Instant::now(),
                            };
                            if tx.send(m).await.is_err() {
                                writer.abort();
                                return;
                            }
                        }
                        Ok(None) => break,
                        Err(_) => {
                            writer.abort();
                            let _ = tx.send(NetIn::TurnTcpDown("unframeable data".into())).await;
                            return;
                        }
                    }
                }
            }
            Err(e) => break e.to_string(),
        }
    };
    writer.abort();
    let _ = tx.send(NetIn::TurnTcpDown(why)).await;
}

/// KMS recvonly/sendonly endpoints answer with the restricted direction. str0m answers with
/// the mirror of the offer, so restrict the offer's directions before handing it over.
fn restrict_offer(sdp: &str, recvonly: bool, sendonly: bool) -> String {
    if !recvonly && !sendonly {
        return sdp.to_string();
    }
    let map = |d: &str| -> &'static str {
        // The offer's direction is from the offerer's point of view.
        match (d, recvonly) {
            ("sendrecv", true) | ("sendonly", true) => "sendonly",
            ("sendrecv", false) | ("recvonly", false) => "recvonly",
            _ => "inactive",
        }
    };
    sdp.split_inclusive('\n')
        .map(|line| {
            let body = line.trim_end_matches(['\r', '\n']);
            let d = body.strip_prefix("a=").unwrap_or("");
            if matches!(d, "sendrecv" | "sendonly" | "recvonly" | "inactive") {
                format!("a={}{}", map(d), &line[body.len()..])
            } else {
                line.to_string()
            }
        })
        .collect()
}

fn candidate_lines(sdp: &str) -> impl Iterator<Item = &str> {
    sdp.lines()
        .filter_map(|l| l.trim_end().strip_prefix("a="))
        .filter(|l| l.starts_with("candidate:"))
}

fn candidate_addr(line: &str) -> Option<SocketAddr> {
    let p: Vec<&str> = line.split_whitespace().collect();
    if p.len() < 6 {
        return None;
    }
    Some(SocketAddr::new(p[4].parse().ok()?, p[5].parse().ok()?))
}

impl Actor {
    async fn run(mut self, inputs: Inputs, mut net_rx: mpsc::Receiver<NetIn>) {
        let Inputs {
            cmd: mut cmd_rx,
            media: mut media_rx,
            data: mut data_rx,
        } = inputs;
        self.pump();
        while !self.finished {
            let now = Instant::now();
            let mut deadline = self.rtc_timeout.min(now + MAX_SLEEP);
            if let Some(t) = self.aux_timeout() {
                deadline = deadline.min(t);
            }
            tokio::select! {
                biased;
                cmd = cmd_rx.recv() => match cmd {
                    None | Some(Command::Close) => break,
                    Some(c) => self.handle_cmd(c),
                },
                Some(n) = net_rx.recv() => self.handle_net(n),
                Some(p) = media_rx.recv() => self.send_rtp(p),
                Some(m) = data_rx.recv() => self.send_data(m),
                _ = tokio::time::sleep_until(deadline.into()) => self.handle_timeout(Instant::now()),
            }
        }
        self.shutdown();
    }

    fn emit(&self, e: WebRtcEvent) {
        (self.events)(e);
    }

    /// Drains str0m after a mutation (see the module comment).
    fn pump(&mut self) {
        loop {
            if !self.rtc.is_alive() {
                self.finished = true;
                self.rtc_timeout = Instant::now() + MAX_SLEEP;
                return;
            }
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    self.rtc_timeout = t;
                    if !self.channels.awaiting_id.is_empty() {
                        self.resolve_channel_ids();
                    }
                    return;
                }
                Ok(Output::Transmit(t)) => self.transmit(t),
                Ok(Output::Event(e)) => self.on_event(e),
                Err(e) => {
                    tracing::warn!("str0m failed, closing endpoint: {e}");
                    if self.dtls_state != DtlsState::Connected {
                        self.set_dtls(DtlsState::Failed);
                    }
                    self.rtc.disconnect();
                }
            }
        }
    }

    fn aux_timeout(&self) -> Option<Instant> {
        let mut t = self
            .probes
            .iter()
            .filter(|p| !p.done)
            .map(|p| p.deadline)
            .min();
        if let Some(turn) = &self.turn {
            if let Some(x) = turn.client.poll_timeout() {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        }
        if let Some(x) = self.channels.next_deadline() {
            t = Some(t.map_or(x, |t| t.min(x)));
        }
        t
    }

    fn handle_timeout(&mut self, now: Instant) {
        if let Err(e) = self.rtc.handle_input(Input::Timeout(now)) {
            tracing::debug!("timeout input: {e}");
        }
        self.pump();
        let mut retransmit = Vec::new();
        for p in self
            .probes
            .iter_mut()
            .filter(|p| !p.done && p.deadline <= now)
        {
            if p.tries >= STUN_TRIES {
                tracing::info!("STUN server {} did not answer", p.server);
                p.done = true;
            } else {
                p.tries += 1;
                p.deadline = now + STUN_RTO * p.tries;
                retransmit.push((p.sock, p.server, p.msg.clone()));
            }
        }
        for (sock, server, msg) in retransmit {
            self.send_udp(sock, server, &msg);
        }
        if let Some(turn) = &mut self.turn {
            turn.client.handle_timeout(now);
        }
        self.service_turn(now);
        self.check_gather_done();
        self.expire_channel_requests(now);
    }

    fn handle_cmd(&mut self, c: Command) {
        match c {
            Command::ProcessOffer(sdp, r) => {
                let res = self.process_offer(sdp);
                let _ = r.send(res);
            }
            Command::GenerateOffer(a, v, r) => {
                let res = self.generate_offer(a, v);
                let _ = r.send(res);
            }
            Command::ProcessAnswer(sdp, r) => {
                let res = self.process_answer(sdp);
                let _ = r.send(res);
            }
            Command::GatherCandidates(r) => {
                self.gather();
                let _ = r.send(Ok(()));
            }
            Command::AddIceCandidate(c, r) => {
                let res = self.add_ice_candidate(c);
                let _ = r.send(res);
            }
            Command::SetTurn(t, r) => {
                self.cfg.turn = t;
                let _ = r.send(Ok(()));
            }
            Command::SetStun(s, r) => {
                self.cfg.stun_server = s;
                let _ = r.send(Ok(()));
            }
            Command::SetMaxRecvBandwidth(kind, kbps) => match kind {
                MediaKind::Audio => self.cfg.max_audio_recv_bandwidth_kbps = kbps,
                MediaKind::Video => self.cfg.max_video_recv_bandwidth_kbps = kbps,
            },
            Command::LocalSdp(r) => {
                let _ = r.send(self.local_sdp.clone());
            }
            Command::RemoteSdp(r) => {
                let _ = r.send(self.remote_sdp.clone());
            }
            Command::RequestKeyframe(kind) => self.request_keyframe(kind),
            Command::LimitVideoBitrate(bps) => self.limit_video_bitrate(bps),
            Command::Stats(r) => {
                let _ = r.send(Ok(self.stats()));
            }
            Command::CreateDataChannel(cfg, r) => self.create_data_channel(cfg, r),
            Command::CloseDataChannel(id, r) => {
                let res = self.close_data_channel(id);
                let _ = r.send(res);
            }
            // Handled in run().
            Command::Close => {}
        }
    }

    // ---------------------------------------------------------------- SDP

    /// Our SDP as the application sees it: external addresses and bandwidth limits applied.
    fn finish_local_sdp(&self, sdp: &str) -> String {
        let s = net::rewrite_sdp(sdp, self.cfg.external_ipv4, self.cfg.external_ipv6);
        let s = net::single_media_stream(&s);
        net::add_bandwidth(
            &s,
            self.cfg.max_audio_recv_bandwidth_kbps,
            self.cfg.max_video_recv_bandwidth_kbps,
        )
    }

    fn process_offer(&mut self, sdp: String) -> Result<String, WebRtcError> {
        let restricted = restrict_offer(&sdp, self.cfg.recvonly, self.cfg.sendonly);
        let (restricted, removed) =
            datachannel::strip_unanswerable(&restricted, self.cfg.use_data_channels);
        if !removed.is_empty() && !restricted.lines().any(|l| l.starts_with("m=")) {
            // str0m refuses an offer without media; KMS answers it with every m-line rejected.
            let text = datachannel::all_rejected_answer(&removed, rand::random::<u64>() >> 2);
            self.pending_offer = None;
            self.local_sdp = Some(text.clone());
            self.remote_sdp = Some(sdp);
            return Ok(text);
        }
        let offer =
            SdpOffer::from_sdp_string(&restricted).map_err(|e| WebRtcError::Sdp(e.to_string()))?;
        let res = self.rtc.sdp_api().accept_offer(offer);
        self.pump();
        let answer = res.map_err(|e| WebRtcError::Sdp(e.to_string()))?;
        let answer = datachannel::insert_rejected(&answer.to_sdp_string(), &removed);
        let text = self.finish_local_sdp(&answer);
        if self.cfg.use_data_channels {
            self.channels.negotiated |= datachannel::has_live_application(&sdp);
            self.start_queued_channels();
        }
        self.pending_offer = None;
        self.local_sdp = Some(text.clone());
        self.remote_sdp = Some(sdp);
        self.after_negotiation();
        Ok(text)
    }

    fn generate_offer(&mut self, audio: bool, video: bool) -> Result<String, WebRtcError> {
        if !audio && !video {
            return Err(WebRtcError::InvalidState(
                "offer needs audio or video".into(),
            ));
        }
        let dir = if self.cfg.recvonly {
            Direction::RecvOnly
        } else if self.cfg.sendonly {
            Direction::SendOnly
        } else {
            Direction::SendRecv
        };
        let mut api = self.rtc.sdp_api();
        if audio {
            api.add_media(str0m::media::MediaKind::Audio, dir, None, None, None);
        }
        if video {
            api.add_media(str0m::media::MediaKind::Video, dir, None, None, None);
        }
        let mut offered = Vec::new();
        if self.cfg.use_data_channels {
            for (cfg, r) in self.channels.queued.drain(..) {
                offered.push((api.add_channel_with_config(cfg), r));
            }
            if offered.is_empty()
                && !self.channels.negotiated
                && self.channels.placeholder.is_none()
            {
                self.channels.placeholder =
                    Some(api.add_channel_with_config(datachannel::placeholder_config()));
            }
        }
        let applied = api.apply();
        let deadline = Instant::now() + datachannel::CREATE_TIMEOUT;
        self.channels
            .awaiting_id
            .extend(offered.into_iter().map(|(cid, r)| (cid, r, deadline)));
        self.pump();
        let (offer, pending) =
            applied.ok_or_else(|| WebRtcError::InvalidState("nothing to offer".into()))?;
        let text = self.finish_local_sdp(&offer.to_sdp_string());
        self.pending_offer = Some(pending);
        self.local_sdp = Some(text.clone());
        self.flush_candidates();
        Ok(text)
    }

    fn process_answer(&mut self, sdp: String) -> Result<String, WebRtcError> {
        let pending = self
            .pending_offer
            .take()
            .ok_or_else(|| WebRtcError::InvalidState("no offer pending".into()))?;
        let answer =
            SdpAnswer::from_sdp_string(&sdp).map_err(|e| WebRtcError::Sdp(e.to_string()))?;
        let res = self.rtc.sdp_api().accept_answer(pending, answer);
        self.pump();
        res.map_err(|e| WebRtcError::Sdp(e.to_string()))?;
        if self.cfg.use_data_channels {
            self.channels.negotiated |= datachannel::has_live_application(&sdp);
            self.start_queued_channels();
        }
        self.remote_sdp = Some(sdp);
        self.after_negotiation();
        self.local_sdp
            .clone()
            .ok_or_else(|| WebRtcError::InvalidState("no local description".into()))
    }

    fn after_negotiation(&mut self) {
        self.in_codecs.clear();
        self.out_targets.clear();
        self.mids.clear();
        if let Some(local) = self.local_sdp.clone() {
            for l in local.lines() {
                if let Some(m) = l.trim_end().strip_prefix("a=mid:") {
                    let mid: Mid = m.into();
                    if let Some(media) = self.rtc.media(mid) {
                        self.mids.push((mid, codec::kind_of(media.kind())));
                    }
                }
            }
        }
        // Once per send stream, when negotiation creates it, not on the per-packet path.
        for (mid, _) in &self.mids {
            if self.rtx_configured.contains(mid) {
                continue;
            }
            if let Some(tx) = self.rtc.direct_api().stream_tx_by_mid(*mid, None) {
                tx.set_rtx_cache(RTX_CACHE_PACKETS, RTX_CACHE_AGE, Some(RTX_RATIO_CAP));
                self.rtx_configured.insert(*mid);
            }
        }
        let now = Instant::now();
        if let Some(remote) = self.remote_sdp.clone() {
            for line in candidate_lines(&remote) {
                if let Some(a) = candidate_addr(line) {
                    self.remote_lines.insert(a, line.to_string());
                    if let Some(t) = &mut self.turn {
                        t.client.add_peer(now, a);
                    }
                }
            }
        }
        for c in std::mem::take(&mut self.pending_remote) {
            self.apply_remote_candidate(c);
        }
        self.service_turn(now);
        self.flush_candidates();
    }

    // ---------------------------------------------------------------- candidates

    fn add_ice_candidate(&mut self, c: IceCandidateInit) -> Result<(), WebRtcError> {
        let s = c.candidate.trim();
        let s = s.strip_prefix("a=").unwrap_or(s);
        if s.is_empty() {
            return Ok(());
        }
        let cand = match Candidate::from_sdp_string(s) {
            Ok(c) => c,
            // mDNS (.local) candidates cannot be resolved here; KMS ignores them as well.
            Err(_) if s.contains(".local ") => {
                tracing::debug!("ignoring mDNS candidate {s}");
                return Ok(());
            }
            Err(e) => return Err(WebRtcError::InvalidCandidate(e.to_string())),
        };
        self.remote_lines.insert(cand.addr(), s.to_string());
        if self.remote_sdp.is_none() {
            self.pending_remote.push(cand);
        } else {
            self.apply_remote_candidate(cand);
        }
        Ok(())
    }

    fn apply_remote_candidate(&mut self, c: Candidate) {
        let now = Instant::now();
        if let Some(t) = &mut self.turn {
            t.client.add_peer(now, c.addr());
        }
        self.rtc.add_remote_candidate(c);
        self.pump();
        self.service_turn(now);
    }

    fn add_local_candidate(&mut self, c: Candidate, base: SocketAddr) {
        let fallback = c.to_sdp_string();
        let addr = c.addr();
        let tcp = c.proto() != Protocol::Udp;
        let line = match self.rtc.add_local_candidate(c) {
            Some(added) => added.to_sdp_string(),
            // str0m drops a candidate equal to one it has (e.g. a srflx address equal to the
            // host address when there is no NAT). It is still reported, as the gathering
            // result is what the application asked for; peers de-duplicate it.
            None => {
                tracing::debug!("local candidate redundant for ICE: {fallback}");
                fallback
            }
        };
        self.pump();
        let line = net::rewrite_candidate(&line, self.cfg.external_ipv4, self.cfg.external_ipv6);
        if !self.local_cands.iter().any(|l| l.line == line) {
            self.local_cands.push(LocalCand {
                addr,
                base,
                tcp,
                line,
            });
        }
        self.flush_candidates();
    }

    fn gather(&mut self) {
        if self.gather_started {
            return;
        }
        self.gather_started = true;
        self.set_ice_state(IceComponentState::Gathering);
        let now = Instant::now();
        if self.shared.is_some() {
            if self.cfg.stun_server.is_some() || self.cfg.turn.is_some() {
                tracing::debug!("shared UDP port: host candidates only (no STUN probe, no TURN)");
            }
            self.flush_candidates();
            self.check_gather_done();
            return;
        }
        if let Some(server) = self.cfg.stun_server {
            for (i, s) in self.sockets.iter().enumerate() {
                if s.addr.is_ipv4() != server.is_ipv4() {
                    continue;
                }
                let tid = stun::new_transaction_id();
                let msg = MessageBuilder::new(stun::method::BINDING, Class::Request, tid)
                    .build(None, true);
                self.probes.push(StunProbe {
                    sock: i,
                    server,
                    tid,
                    msg,
                    deadline: now + STUN_RTO,
                    tries: 1,
                    done: false,
                });
            }
            let sends: Vec<(usize, SocketAddr, Vec<u8>)> = self
                .probes
                .iter()
                .map(|p| (p.sock, p.server, p.msg.clone()))
                .collect();
            for (s, a, m) in sends {
                self.send_udp(s, a, &m);
            }
        }
        if let Some(t) = self.cfg.turn.clone() {
            let client = TurnClient::new(
                t.addr,
                t.username.clone(),
                t.password.clone(),
                t.transport == TurnTransport::Tcp,
            );
            match t.transport {
                TurnTransport::Udp => {
                    // Prefer the socket on the server's own IP (loopback tests), then any
                    // socket of the same family.
                    let idx = self
                        .sockets
                        .iter()
                        .position(|s| s.addr.ip() == t.addr.ip())
                        .or_else(|| {
                            self.sockets
                                .iter()
                                .position(|s| s.addr.is_ipv4() == t.addr.is_ipv4())
                        });
                    match idx {
                        Some(i) => {
                            let mut st = TurnState {
                                client,
                                link: TurnLink::Udp(i),
                                local: Some(self.sockets[i].addr),
                                failed: false,
                            };
                            st.client.start(now);
                            self.turn = Some(st);
                        }
                        None => tracing::warn!("no local socket can reach TURN {}", t.addr),
                    }
                }
                TurnTransport::Tcp => {
                    self.turn = Some(TurnState {
                        client,
                        link: TurnLink::TcpConnecting,
                        local: None,
                        failed: false,
                    });
                    self.tasks
                        .push(tokio::spawn(turn_tcp(t.addr, self.net_tx.clone())));
                }
            }
            // Peers already known get permissions as soon as the allocation exists.
            let peers: Vec<SocketAddr> = self.remote_lines.keys().copied().collect();
            if let Some(st) = &mut self.turn {
                for p in peers {
                    st.client.add_peer(now, p);
                }
            }
            self.service_turn(now);
        }
        self.flush_candidates();
        self.check_gather_done();
    }

    fn check_gather_done(&mut self) {
        if !self.gather_started || self.gather_done_emitted {
            return;
        }
        let probes_done = self.probes.iter().all(|p| p.done);
        let turn_done = self
            .turn
            .as_ref()
            .is_none_or(|t| t.failed || t.client.is_done_gathering());
        if probes_done && turn_done {
            self.flush_candidates();
            if self.local_sdp.is_some() && self.emitted == self.local_cands.len() {
                self.gather_done_emitted = true;
                self.emit(WebRtcEvent::IceGatheringDone);
            }
        }
    }

    /// Emits gathered candidates once gathering was requested and an SDP exists (the
    /// candidates need a mid the browser knows).
    fn flush_candidates(&mut self) {
        if !self.gather_started {
            return;
        }
        let Some(local) = &self.local_sdp else {
            return;
        };
        // A rejected data channel section may come first; candidates belong to a live one.
        let (mid, index) = datachannel::candidate_mid(local);
        while self.emitted < self.local_cands.len() {
            let line = self.local_cands[self.emitted].line.clone();
            self.emitted += 1;
            self.emit(WebRtcEvent::IceCandidateFound(IceCandidateInit {
                candidate: line,
                sdp_mid: mid.clone(),
                sdp_mline_index: Some(index),
            }));
        }
        if !self.gather_done_emitted {
            // Re-check here: gathering may have finished before the SDP existed.
            let probes_done = self.probes.iter().all(|p| p.done);
            let turn_done = self
                .turn
                .as_ref()
                .is_none_or(|t| t.failed || t.client.is_done_gathering());
            if probes_done && turn_done {
                self.gather_done_emitted = true;
                self.emit(WebRtcEvent::IceGatheringDone);
            }
        }
    }

    // ---------------------------------------------------------------- network

    fn send_udp(&self, sock: usize, dst: SocketAddr, data: &[u8]) {
        if let Some(s) = self.sockets.get(sock) {
            if let Err(e) = s.sock.try_send_to(data, dst) {
                tracing::trace!("send to {dst} failed: {e}");
            }
        }
    }

    fn transmit(&mut self, t: Transmit) {
        let data: &[u8] = &t.contents;
        if t.proto == Protocol::Tcp {
            // Passive only: we answer on connections the peer opened, never connect out.
            let Some(conn) = self
                .tcp_conns
                .values()
                .find(|c| c.local == t.source && c.remote == t.destination)
            else {
                return;
            };
            let len = data.len().min(u16::MAX as usize);
            let mut framed = Vec::with_capacity(2 + len);
            framed.extend_from_slice(&(len as u16).to_be_bytes());
            framed.extend_from_slice(&data[..len]);
            let _ = conn.writer.send(framed);
        } else if t.proto != Protocol::Udp {
            return;
        } else if let Some(i) = self.sockets.iter().position(|s| s.addr == t.source) {
            if let Some((shared, _)) = &self.shared {
                if self.announced.insert((i, t.destination)) {
                    shared.learn(i, t.destination, &self.net_tx);
                }
            }
            self.send_udp(i, t.destination, data);
        } else if self
            .turn
            .as_ref()
            .is_some_and(|s| s.client.relay_addr() == Some(t.source))
        {
            let now = Instant::now();
            let wrapped = self.turn.as_mut().and_then(|s| {
                s.client.add_peer(now, t.destination);
                s.client.wrap(t.destination, data)
            });
            self.service_turn(now);
            if let Some(w) = wrapped {
                self.send_to_turn(&w);
            }
        } else {
            tracing::debug!("no socket for transmit source {}", t.source);
            return;
        }
        // STUN is ICE checking; the first non-STUN datagram (DTLS/SRTP) reveals the pair
        // str0m nominated for media.
        if data.first().is_some_and(|b| *b > 3) && self.selected != Some((t.source, t.destination))
        {
            self.selected = Some((t.source, t.destination));
            let local = self
                .local_cands
                .iter()
                .find(|c| {
                    c.addr == t.source && c.base == t.source && c.tcp == (t.proto == Protocol::Tcp)
                })
                .or_else(|| self.local_cands.iter().find(|c| c.base == t.source))
                .map(|c| c.line.clone())
                .unwrap_or_else(|| {
                    format!(
                        "candidate:0 1 udp 0 {} {} typ host",
                        t.source.ip(),
                        t.source.port()
                    )
                });
            let remote = self
                .remote_lines
                .get(&t.destination)
                .cloned()
                .unwrap_or_else(|| {
                    format!(
                        "candidate:0 1 udp 0 {} {} typ prflx",
                        t.destination.ip(),
                        t.destination.port()
                    )
                });
            self.selected_lines = Some((local.clone(), remote.clone()));
            self.emit(WebRtcEvent::NewCandidatePairSelected { local, remote });
        }
    }

    fn send_to_turn(&self, data: &[u8]) {
        let Some(st) = &self.turn else { return };
        match &st.link {
            TurnLink::Udp(i) => self.send_udp(*i, st.client.server(), data),
            TurnLink::Tcp(writer) => {
                let _ = writer.send(data.to_vec());
            }
            TurnLink::TcpConnecting => {}
        }
    }

    /// Flushes TURN output and reacts to TURN events.
    fn service_turn(&mut self, now: Instant) {
        let mut out = Vec::new();
        let mut evs = Vec::new();
        if let Some(st) = &mut self.turn {
            if matches!(st.link, TurnLink::TcpConnecting) {
                return;
            }
            while let Some(m) = st.client.poll_transmit() {
                out.push(m);
            }
            while let Some(e) = st.client.poll_event() {
                evs.push(e);
            }
        }
        for m in out {
            self.send_to_turn(&m);
        }
        for e in evs {
            match e {
                TurnEvent::Allocated { relay, mapped } => {
                    tracing::info!("TURN allocation: relay {relay} (mapped {mapped:?})");
                    let local = self.turn.as_ref().and_then(|s| s.local);
                    if let Some(local) = local {
                        match Candidate::relayed(relay, local, "udp") {
                            Ok(c) => self.add_local_candidate(c, relay),
                            Err(e) => tracing::warn!("relay candidate {relay}: {e}"),
                        }
                    }
                    // The allocation was created after some peers were learned.
                    let peers: Vec<SocketAddr> = self.remote_lines.keys().copied().collect();
                    if let Some(st) = &mut self.turn {
                        for p in peers {
                            st.client.add_peer(now, p);
                        }
                    }
                    self.service_turn(now);
                }
                TurnEvent::Failed(why) => {
                    tracing::warn!("TURN failed: {why}");
                    if let Some(st) = &mut self.turn {
                        st.failed = true;
                    }
                }
            }
        }
        self.check_gather_done();
    }

    fn handle_net(&mut self, n: NetIn) {
        match n {
            NetIn::Udp {
                sock,
                src,
                data,
                at,
            } => self.handle_udp(sock, src, &data, at),
            NetIn::TurnTcpUp { local, writer } => {
                if let Some(st) = &mut self.turn {
                    st.link = TurnLink::Tcp(writer);
                    st.local = Some(local);
                    st.client.start(Instant::now());
                }
                self.service_turn(Instant::now());
            }
            NetIn::TurnTcp { frame, at } => {
                let relay = self.turn.as_ref().and_then(|s| s.client.relay_addr());
                let res = match &mut self.turn {
                    Some(st) => match st.client.handle_input(at, &frame) {
                        TurnInput::Data(peer, d) => Some((peer, d)),
                        _ => None,
                    },
                    None => None,
                };
                if let (Some((peer, d)), Some(relay)) = (res, relay) {
                    self.feed(at, Protocol::Udp, peer, relay, d);
                }
                self.service_turn(at);
            }
            NetIn::IceTcpConn {
                id,
                local,
                remote,
                writer,
            } => {
                if self.tcp_conns.len() < MAX_ICE_TCP_CONNS {
                    self.tcp_conns.insert(
                        id,
                        IceTcpConn {
                            local,
                            remote,
                            writer,
                        },
                    );
                } else {
                    tracing::warn!("refusing ICE-TCP connection from {remote}: too many");
                }
            }
            NetIn::IceTcpData { id, frame, at } => {
                if let Some(c) = self.tcp_conns.get(&id) {
                    let (remote, local) = (c.remote, c.local);
                    self.feed(at, Protocol::Tcp, remote, local, &frame);
                }
            }
            NetIn::IceTcpClosed { id } => {
                self.tcp_conns.remove(&id);
            }
            NetIn::TurnTcpDown(why) => {
                tracing::warn!("TURN TCP connection down: {why}");
                if let Some(st) = &mut self.turn {
                    st.failed = true;
                }
                self.check_gather_done();
            }
        }
    }

    fn handle_udp(&mut self, sock: usize, src: SocketAddr, data: &[u8], at: Instant) {
        // TURN server traffic arrives on the allocation's base socket.
        let turn_udp = self.turn.as_ref().is_some_and(|st| {
            matches!(st.link, TurnLink::Udp(i) if i == sock) && st.client.server() == src
        });
        if turn_udp {
            let relay = self.turn.as_ref().and_then(|s| s.client.relay_addr());
            let res = match &mut self.turn {
                Some(st) => st.client.handle_input(at, data),
                None => TurnInput::NotTurn,
            };
            match res {
                TurnInput::Data(peer, d) => {
                    if let Some(relay) = relay {
                        self.feed(at, Protocol::Udp, peer, relay, d);
                    }
                    self.service_turn(at);
                    return;
                }
                TurnInput::Handled => {
                    self.service_turn(at);
                    return;
                }
                TurnInput::NotTurn => {}
            }
        }
        if stun::is_stun(data) {
            if let Some(m) = Message::parse(data) {
                if m.method == stun::method::BINDING
                    && matches!(m.class, Class::Success | Class::Error)
                {
                    if let Some(i) = self
                        .probes
                        .iter()
                        .position(|p| !p.done && p.sock == sock && p.tid == m.tid)
                    {
                        self.probes[i].done = true;
                        let base = self.sockets[sock].addr;
                        match m.mapped_addr() {
                            Some(mapped) if m.class == Class::Success => {
                                match Candidate::server_reflexive(mapped, base, "udp") {
                                    Ok(c) => self.add_local_candidate(c, base),
                                    Err(e) => tracing::warn!("srflx {mapped}: {e}"),
                                }
                            }
                            _ => tracing::info!("STUN binding failed: {:?}", m.error_code()),
                        }
                        self.check_gather_done();
                        return;
                    }
                }
            }
        }
        let dst = self.sockets[sock].addr;
        self.feed(at, Protocol::Udp, src, dst, data);
    }

    fn feed(
        &mut self,
        at: Instant,
        proto: Protocol,
        source: SocketAddr,
        destination: SocketAddr,
        data: &[u8],
    ) {
        let Ok(contents) = data.try_into() else {
            tracing::trace!("dropping unrecognised datagram from {source}");
            return;
        };
        let input = Input::Receive(
            at,
            Receive {
                proto,
                source,
                destination,
                contents,
            },
        );
        if let Err(e) = self.rtc.handle_input(input) {
            tracing::debug!("input from {source} rejected: {e}");
        }
        self.pump();
    }

    // ---------------------------------------------------------------- events & media

    fn set_ice_state(&mut self, s: IceComponentState) {
        if self.ice_state == Some(s) {
            return;
        }
        self.ice_state = Some(s);
        if s == IceComponentState::Failed {
            crate::metrics::webrtc_failed(crate::metrics::Stage::Ice);
        }
        self.emit(WebRtcEvent::IceComponentStateChanged {
            stream_id: 1,
            component_id: 1,
            state: s,
        });
    }

    fn set_dtls(&mut self, s: DtlsState) {
        if self.dtls_state == s {
            return;
        }
        self.dtls_state = s;
        if s == DtlsState::Failed {
            crate::metrics::webrtc_failed(crate::metrics::Stage::Dtls);
        }
        self.emit(WebRtcEvent::DtlsStateChanged(s));
    }

    fn on_event(&mut self, e: Event) {
        match e {
            Event::IceConnectionStateChange(s) => {
                let st = match s {
                    IceConnectionState::New => return,
                    IceConnectionState::Checking => IceComponentState::Connecting,
                    IceConnectionState::Connected => IceComponentState::Connected,
                    IceConnectionState::Completed => IceComponentState::Ready,
                    IceConnectionState::Disconnected => IceComponentState::Disconnected,
                };
                // KMS (libnice) always reports CONNECTED before READY; str0m may jump
                // straight from checking to completed.
                if st == IceComponentState::Ready
                    && self.ice_state != Some(IceComponentState::Connected)
                {
                    self.set_ice_state(IceComponentState::Connected);
                }
                self.set_ice_state(st);
                if matches!(st, IceComponentState::Connected | IceComponentState::Ready)
                    && self.dtls_state == DtlsState::New
                {
                    self.set_dtls(DtlsState::Connecting);
                }
                if st == IceComponentState::Disconnected && self.connected {
                    self.connected = false;
                    self.emit(WebRtcEvent::ConnectionStateChanged { connected: false });
                }
            }
            Event::Connected => {
                self.set_dtls(DtlsState::Connected);
                if !self.connected {
                    self.connected = true;
                    self.emit(WebRtcEvent::ConnectionStateChanged { connected: true });
                    self.graph.send(FromElement::TransportUp);
                }
            }
            Event::RtpPacket(p) => self.on_rtp(p),
            Event::ChannelOpen(cid, label) => self.on_channel_open(cid, label),
            Event::ChannelData(d) => self.on_channel_data(d),
            Event::ChannelClose(cid) => self.on_channel_close(cid),
            Event::KeyframeRequest(r) => {
                if let Some((_, k)) = self.mids.iter().find(|(m, _)| *m == r.mid) {
                    self.graph.send(FromElement::KeyframeRequested { kind: *k });
                }
            }
            Event::EgressBitrateEstimate(BweKind::Remb { estimate, .. }) => {
                self.counters.video.stats.remb_received = Some(estimate.as_u64());
                self.graph.send(FromElement::BitrateEstimate {
                    bps: estimate.as_u64(),
                });
            }
            Event::MediaIngressStats(st) => self.on_ingress_stats(&st),
            Event::MediaEgressStats(st) => self.on_egress_stats(&st),
            Event::Closed => {
                self.set_dtls(DtlsState::Closed);
                if self.connected {
                    self.connected = false;
                    self.emit(WebRtcEvent::ConnectionStateChanged { connected: false });
                }
            }
            _ => {}
        }
    }

    fn incoming_codec(&mut self, pt: u8) -> Option<(super::CodecId, Codec)> {
        if let Some(c) = self.in_codecs.get(&pt) {
            return c.clone();
        }
        let found = self
            .rtc
            .codec_config()
            .params()
            .iter()
            .find(|p| *p.pt() == pt)
            .map(|p| (codec::codec_id(p), p.spec().codec));
        self.in_codecs.insert(pt, found.clone());
        found
    }

    fn on_rtp(&mut self, p: str0m::rtp::RtpPacket) {
        let pt = *p.header.payload_type;
        let Some((codec_id, c)) = self.incoming_codec(pt) else {
            tracing::trace!("RTP with unknown payload type {pt}");
            return;
        };
        let kind = if c.is_video() {
            MediaKind::Video
        } else {
            MediaKind::Audio
        };
        let cnt = self.counters.get(kind);
        cnt.stats.packets_received += 1;
        cnt.stats.bytes_received += p.payload.len() as u64;
        crate::metrics::received(kind, p.payload.len());
        cnt.stats.ssrc_in = Some(*p.header.ssrc);
        cnt.stats.clock_rate_in = codec_id.clock_rate;
        let seq = *p.seq_no;
        cnt.seq_range = Some(match cnt.seq_range {
            None => (seq, seq),
            Some((first, max)) => (first.min(seq), max.max(seq)),
        });
        let pkt = RtpPacket {
            kind,
            is_keyframe_hint: kind == MediaKind::Video && codec::is_keyframe(c, &p.payload),
            ext: MediaExtensions {
                audio_level: p.header.ext_vals.audio_level,
                voice_activity: p.header.ext_vals.voice_activity,
                video_orientation: p.header.ext_vals.video_orientation.map(|o| o as u8),
            },
            codec: codec_id,
            payload_type: pt,
            ssrc: *p.header.ssrc,
            seq: p.header.sequence_number,
            timestamp: p.header.timestamp,
            marker: p.header.marker,
            payload: p.payload,
            arrival: Instant::now(),
        };
        self.graph.send(FromElement::Rtp(pkt));
    }

    fn out_target(&mut self, kind: MediaKind, c: &super::CodecId) -> Option<(Mid, Pt)> {
        let key = (kind, c.clone());
        if let Some(t) = self.out_targets.get(&key) {
            return *t;
        }
        let mut best: Option<(u32, Mid, Pt)> = None;
        for (mid, k) in &self.mids {
            if *k != kind {
                continue;
            }
            let Some(media) = self.rtc.media(*mid) else {
                continue;
            };
            if !media.direction().is_sending() {
                continue;
            }
            let remote = media.remote_pts();
            for p in self.rtc.codec_config().params() {
                if !remote.contains(&p.pt()) {
                    continue;
                }
                if let Some(score) = codec::match_score(c, p) {
                    if best.is_none_or(|(s, _, _)| score > s) {
                        best = Some((score, *mid, p.pt()));
                    }
                }
            }
        }
        let t = best.map(|(_, m, p)| (m, p));
        self.out_targets.insert(key, t);
        t
    }

    /// The codecs we may send for `kind` (both sides have them), in our preference order.
    fn sendable_codecs(&self, kind: MediaKind) -> Vec<super::CodecId> {
        let mut out: Vec<super::CodecId> = Vec::new();
        for (mid, k) in &self.mids {
            if *k != kind {
                continue;
            }
            let Some(media) = self.rtc.media(*mid) else {
                continue;
            };
            let remote = media.remote_pts();
            for p in self.rtc.codec_config().params() {
                let real = !matches!(
                    p.spec().codec,
                    str0m::format::Codec::Rtx
                        | str0m::format::Codec::Red
                        | str0m::format::Codec::Null
                        | str0m::format::Codec::Unknown
                );
                let id = codec::codec_id(p);
                if real && remote.contains(&p.pt()) && !out.contains(&id) {
                    out.push(id);
                }
            }
        }
        out
    }

    fn send_rtp(&mut self, pkt: RtpPacket) {
        let Some((mid, pt)) = self.out_target(pkt.kind, &pkt.codec) else {
            // Before negotiation every packet lands here; only a negotiated session that sends
            // this kind with other codecs is a real mismatch worth telling the application.
            let sending_kind = self.mids.iter().any(|(m, k)| {
                *k == pkt.kind
                    && self
                        .rtc
                        .media(*m)
                        .is_some_and(|md| md.direction().is_sending())
            });
            if self.remote_sdp.is_some()
                && sending_kind
                && self
                    .reported_mismatch
                    .insert((pkt.kind, pkt.codec.name.to_string()))
            {
                let accepts = self.sendable_codecs(pkt.kind);
                self.emit(WebRtcEvent::CodecNotNegotiated {
                    kind: pkt.kind,
                    codec: pkt.codec.name.to_string(),
                    accepts,
                });
            }
            let now = Instant::now();
            if self
                .last_drop_warn
                .is_none_or(|t| now.duration_since(t) > Duration::from_secs(10))
            {
                self.last_drop_warn = Some(now);
                // The control plane decides what the application hears (a transcoder or an
                // Error event): here it is only a trace.
                tracing::debug!(
                    "dropping {:?} RTP: codec {} not negotiated for sending",
                    pkt.kind,
                    pkt.codec.name
                );
            }
            return;
        };
        let (seq, ts) = self.out_streams.entry(pkt.kind).or_default().rewrite(
            pkt.ssrc,
            pkt.seq,
            pkt.timestamp,
            pkt.codec.clock_rate,
            Instant::now(),
        );
        let len = pkt.payload.len() as u64;
        let arrival = pkt.arrival;
        let mut api = self.rtc.direct_api();
        let Some(tx) = api.stream_tx_by_mid(mid, None) else {
            return;
        };
        let now = Instant::now();
        tx.write_rtp(
            RtpWrite::new(pt, seq.into(), ts, now, pkt.payload)
                .marker(pkt.marker)
                .ext_vals(ExtensionValues {
                    audio_level: pkt.ext.audio_level,
                    voice_activity: pkt.ext.voice_activity,
                    video_orientation: pkt.ext.video_orientation.map(VideoOrientation::from),
                    ..Default::default()
                })
                .nackable(pkt.kind == MediaKind::Video),
        );
        let cnt = self.counters.get(pkt.kind);
        cnt.stats.packets_sent += 1;
        cnt.stats.bytes_sent += len;
        cnt.latency.record(arrival, now);
        crate::metrics::sent(pkt.kind, len as usize, arrival, now);
        self.pump();
    }

    // ---------------------------------------------------------------- data channels

    fn create_data_channel(&mut self, cfg: str0m::channel::ChannelConfig, r: super::Reply<u16>) {
        if !self.cfg.use_data_channels {
            let _ = r.send(Err(WebRtcError::InvalidState(
                "data channels are not enabled (useDataChannels)".into(),
            )));
            return;
        }
        if self.remote_sdp.is_none() {
            // The next offer or answer decides whether SCTP exists at all.
            self.channels.queued.push((cfg, r));
            return;
        }
        if !self.channels.negotiated {
            let _ = r.send(Err(WebRtcError::InvalidState(
                "data channels were not negotiated".into(),
            )));
            return;
        }
        let cid = self.rtc.direct_api().create_data_channel(cfg);
        let deadline = Instant::now() + datachannel::CREATE_TIMEOUT;
        self.channels.awaiting_id.push((cid, r, deadline));
        self.pump();
        self.resolve_channel_ids();
    }

    /// Hands channels requested before negotiation to str0m, or fails them when the peer did
    /// not accept data channels.
    fn start_queued_channels(&mut self) {
        if self.channels.queued.is_empty() {
            return;
        }
        if !self.channels.negotiated {
            self.channels
                .fail_queued("data channels were not negotiated");
            return;
        }
        let deadline = Instant::now() + datachannel::CREATE_TIMEOUT;
        for (cfg, r) in std::mem::take(&mut self.channels.queued) {
            let cid = self.rtc.direct_api().create_data_channel(cfg);
            self.channels.awaiting_id.push((cid, r, deadline));
        }
        self.pump();
        self.resolve_channel_ids();
    }

    /// Answers create requests whose stream id str0m has assigned (it does so once SCTP is
    /// initialised, as the id's parity follows the DTLS role).
    fn resolve_channel_ids(&mut self) {
        let api = self.rtc.direct_api();
        let mut i = 0;
        while i < self.channels.awaiting_id.len() {
            let cid = self.channels.awaiting_id[i].0;
            match api.sctp_stream_id_by_channel_id(cid) {
                Some(stream) => {
                    let (_, r, _) = self.channels.awaiting_id.swap_remove(i);
                    let _ = r.send(Ok(stream));
                }
                None => i += 1,
            }
        }
    }

    fn expire_channel_requests(&mut self, now: Instant) {
        if self.channels.next_deadline().is_none_or(|t| t > now) {
            return;
        }
        let (expired, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.channels.awaiting_id)
            .into_iter()
            .partition(|(_, _, t)| *t <= now);
        self.channels.awaiting_id = kept;
        for (cid, r, _) in expired {
            tracing::info!("data channel {cid:?} not opened in time: SCTP is not up");
            // The caller got an error, so a late open must not surface as a channel of theirs.
            self.channels.abandoned.push(cid);
            let _ = r.send(Err(WebRtcError::InvalidState(
                "SCTP association not established".into(),
            )));
        }
    }

    fn close_data_channel(&mut self, id: u16) -> Result<(), WebRtcError> {
        let cid = self
            .channels
            .open
            .iter()
            .find(|c| c.stream == id)
            .map(|c| c.cid)
            .ok_or_else(|| WebRtcError::InvalidState(format!("no open data channel {id}")))?;
        self.rtc.direct_api().close_data_channel(cid);
        self.pump();
        Ok(())
    }

    fn on_channel_open(&mut self, cid: str0m::channel::ChannelId, label: String) {
        let stream = self.rtc.direct_api().sctp_stream_id_by_channel_id(cid);
        let Some(stream) = stream else {
            tracing::debug!("data channel {cid:?} opened without a stream id");
            return;
        };
        if self.channels.placeholder == Some(cid) || stream == datachannel::PLACEHOLDER_STREAM {
            return;
        }
        if self.channels.by_cid(cid).is_some() {
            return;
        }
        if let Some(i) = self.channels.abandoned.iter().position(|c| *c == cid) {
            self.channels.abandoned.swap_remove(i);
            self.rtc.direct_api().close_data_channel(cid);
            return;
        }
        if !self.channels.negotiated {
            // str0m answers any SCTP association a peer starts over DTLS, negotiated or not;
            // a channel the SDP never allowed is closed unreported.
            tracing::info!("closing data channel {stream} '{label}': data channels not negotiated");
            self.rtc.direct_api().close_data_channel(cid);
            return;
        }
        tracing::debug!("data channel {stream} '{label}' open");
        self.channels.open.push(OpenChannel {
            cid,
            stream,
            label: label.as_str().into(),
        });
        self.emit(WebRtcEvent::DataChannelOpened { id: stream, label });
    }

    fn on_channel_data(&mut self, d: str0m::channel::ChannelData) {
        let Some(label) = self.channels.by_cid(d.id).map(|c| c.label.clone()) else {
            tracing::trace!("data on channel {:?} that is not open to us", d.id);
            return;
        };
        let data: Arc<[u8]> = d.data.into();
        if !self.channels.admit(&data) {
            let n = self.channels.drops.count_in();
            if n.is_power_of_two() {
                tracing::warn!(
                    dropped = n,
                    "data channel messages unconsumed: dropping incoming"
                );
            }
            return;
        }
        self.graph.send(FromElement::Data(DataMessage {
            label,
            binary: d.binary,
            data,
        }));
    }

    fn on_channel_close(&mut self, cid: str0m::channel::ChannelId) {
        if let Some(i) = self
            .channels
            .awaiting_id
            .iter()
            .position(|(c, _, _)| *c == cid)
        {
            let (_, r, _) = self.channels.awaiting_id.swap_remove(i);
            let _ = r.send(Err(WebRtcError::InvalidState(
                "data channel closed before it opened".into(),
            )));
        }
        self.channels.abandoned.retain(|c| *c != cid);
        if self.channels.placeholder == Some(cid) {
            self.channels.placeholder = None;
            return;
        }
        let Some(i) = self.channels.open.iter().position(|c| c.cid == cid) else {
            return;
        };
        let c = self.channels.open.remove(i);
        tracing::debug!("data channel {} '{}' closed", c.stream, c.label);
        self.emit(WebRtcEvent::DataChannelClosed { id: c.stream });
    }

    fn send_data(&mut self, m: DataMessage) {
        let written = match self.channels.target(&m.label) {
            Some(cid) => match self.rtc.channel(cid) {
                // false: str0m's send buffer (128 KiB over all channels) is full.
                Some(mut ch) => ch.write(m.binary, &m.data).unwrap_or_else(|e| {
                    tracing::debug!("data channel write: {e}");
                    false
                }),
                None => false,
            },
            None => false,
        };
        if written {
            self.pump();
        } else {
            let n = self.channels.drops.count_out();
            if n.is_power_of_two() {
                tracing::warn!(
                    dropped = n,
                    "data channel message dropped: no open channel or buffer full"
                );
            }
        }
    }

    /// The negotiated mids of one kind.
    fn mids_of(&self, kind: MediaKind) -> Vec<Mid> {
        self.mids
            .iter()
            .filter(|(_, k)| *k == kind)
            .map(|(m, _)| *m)
            .collect()
    }

    fn limit_video_bitrate(&mut self, bps: u64) {
        for mid in self.mids_of(MediaKind::Video) {
            if let Some(rx) = self.rtc.direct_api().stream_rx_by_mid(mid, None) {
                rx.request_remb(Bitrate::bps(bps));
                self.counters.video.stats.remb_sent = Some(bps);
            }
        }
        self.pump();
    }

    fn request_keyframe(&mut self, kind: MediaKind) {
        let mut requested = false;
        for mid in self.mids_of(kind) {
            let mut api = self.rtc.direct_api();
            if let Some(rx) = api.stream_rx_by_mid(mid, None) {
                rx.request_keyframe(KeyframeRequestKind::Pli);
                requested = true;
            }
            self.pump();
        }
        if !requested {
            tracing::debug!("keyframe request for {kind:?}: no incoming stream yet");
        }
    }

    fn kind_of(&self, mid: Mid) -> Option<MediaKind> {
        self.mids.iter().find(|(m, _)| *m == mid).map(|(_, k)| *k)
    }

    fn on_ingress_stats(&mut self, st: &str0m::stats::MediaIngressStats) {
        // Simulcast layers would report per rid; we forward one layer per kind.
        let Some(kind) = self.kind_of(st.mid) else {
            return;
        };
        let s = &mut self.counters.get(kind).stats;
        s.nack_sent = st.nacks;
        s.pli_sent = st.plis;
        s.fir_sent = st.firs;
        s.jitter = st.jitter;
        if let Some(l) = st.loss {
            s.fraction_lost = f64::from(l);
        }
    }

    fn on_egress_stats(&mut self, st: &str0m::stats::MediaEgressStats) {
        let Some(kind) = self.kind_of(st.mid) else {
            return;
        };
        let s = &mut self.counters.get(kind).stats;
        s.nack_received = st.nacks;
        s.pli_received = st.plis;
        s.fir_received = st.firs;
        if let Some(r) = st.rtt {
            s.rtt_ms = Some(r.as_secs_f64() * 1000.0);
        }
        if let Some(l) = st.loss {
            s.remote_fraction_lost = f64::from(l);
        }
        if let Some(r) = &st.remote {
            s.remote_jitter = r.jitter;
            s.remote_packets_lost = i64::try_from(r.packets_lost).unwrap_or(i64::MAX);
        }
    }

    fn kind_stats(&mut self, kind: MediaKind) -> MediaCounters {
        let mut ssrc_out = None;
        for mid in self.mids_of(kind) {
            if let Some(tx) = self.rtc.direct_api().stream_tx_by_mid(mid, None) {
                ssrc_out = Some(*tx.ssrc());
                break;
            }
        }
        let negotiated = self.mids.iter().any(|(_, k)| *k == kind);
        let c = self.counters.get(kind);
        let packets_lost = c.seq_range.map_or(0, |(first, max)| {
            let expected = max.saturating_sub(first).saturating_add(1);
            i64::try_from(expected)
                .unwrap_or(i64::MAX)
                .saturating_sub(i64::try_from(c.stats.packets_received).unwrap_or(i64::MAX))
        });
        MediaCounters {
            negotiated,
            ssrc_out,
            packets_lost,
            e2e_latency_ns: c.latency.avg_ns(),
            ..c.stats.clone()
        }
    }

    fn stats(&mut self) -> WebRtcStats {
        WebRtcStats {
            audio: self.kind_stats(MediaKind::Audio),
            video: self.kind_stats(MediaKind::Video),
            selected_pair: self.selected_lines.clone(),
            ice_state: self.ice_state,
            dtls_state: self.dtls_state,
            local_candidates: self.local_cands.iter().map(|c| c.line.clone()).collect(),
        }
    }

    fn shutdown(&mut self) {
        if self.rtc.is_alive() {
            if let Err(e) = self.rtc.close() {
                tracing::debug!("close: {e}");
            }
            // Bounded: the closing drain only flushes BYE and close_notify.
            for _ in 0..64 {
                if !self.rtc.is_alive() {
                    break;
                }
                match self.rtc.poll_output() {
                    Ok(Output::Transmit(t)) => self.transmit(t),
                    Ok(Output::Event(_)) => {}
                    Ok(Output::Timeout(_)) | Err(_) => break,
                }
            }
            self.rtc.disconnect();
        }
        let now = Instant::now();
        if let Some(st) = &mut self.turn {
            st.client.close(now);
        }
        let mut out = Vec::new();
        if let Some(st) = &mut self.turn {
            while let Some(m) = st.client.poll_transmit() {
                out.push(m);
            }
        }
        for m in out {
            self.send_to_turn(&m);
        }
        for t in &self.tasks {
            t.abort();
        }
        if let Some((shared, ufrag)) = &self.shared {
            shared.unregister(ufrag);
        }
        if self.connected {
            self.emit(WebRtcEvent::ConnectionStateChanged { connected: false });
        }
        self.emit(WebRtcEvent::Closed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offer_directions_are_restricted() {
        let o = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendrecv\r\nm=video 9 x 96\r\na=recvonly\r\n";
        let r = restrict_offer(o, true, false);
        assert!(r.contains("a=sendonly\r\n"));
        assert!(r.contains("a=inactive\r\n"));
        let s = restrict_offer(o, false, true);
        assert_eq!(s.matches("a=recvonly\r\n").count(), 2);
        assert_eq!(restrict_offer(o, false, false), o);
    }
}
