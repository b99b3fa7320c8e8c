//! RTP adapter: the media side of KMS's RtpEndpoint (plain RTP/AVP(F), SDES-keyed SRTP).
//!
//! Each endpoint is one tokio task owning a sans-I/O [`session::Session`] and one RTP and one
//! RTCP socket per media kind (even RTP port, RTCP on the next odd port, as KMS allocates them).
//! Like the WebRTC adapter, it speaks only the media core's vocabulary: packets from the peer go
//! to the pipeline's [`GraphInbox`], the graph reaches it through [`ElementPort`].

pub mod rtcp;
pub mod sdp;
pub mod session;
pub mod srtp;
pub mod wire;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

pub use srtp::SrtpSuite;

use crate::media::{ElementPort, GraphInbox, MediaKind, RtpPacket};
use sdp::LocalParams;
use session::{Component, Output, Session};

/// SDES keying for the endpoint (RtpEndpoint constructor `crypto`).
#[derive(Clone, PartialEq, Eq)]
pub struct SrtpCrypto {
    pub suite: SrtpSuite,
    /// Master key || master salt (`crypto.key` / `keyBase64`); None = a random one per endpoint.
    /// Its length must be the suite's (30 bytes for AES-128, 46 for AES-256).
    pub key: Option<Vec<u8>>,
}

/// Key material never reaches a log.
impl fmt::Debug for SrtpCrypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpCrypto")
            .field("suite", &self.suite)
            .field("key", &self.key.as_ref().map(|_| "***"))
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct RtpConfig {
    /// Address the sockets bind to; unspecified = all, advertising the first non-loopback IPv4.
    pub bind: IpAddr,
    /// Inclusive port range (BaseRtpEndpoint `minPort`/`maxPort`); (0, 0) = OS-assigned.
    pub port_range: (u16, u16),
    pub crypto: Option<SrtpCrypto>,
    /// Advertised in SDP instead of the bound address (KMS `externalIPv4`).
    pub external_ipv4: Option<IpAddr>,
    /// BaseRtpEndpoint `mtu`. Packets are forwarded as they come (no repacketization), so this
    /// only bounds what we accept to send: larger packets are sent anyway but logged once.
    pub mtu: usize,
}

impl Default for RtpConfig {
    fn default() -> Self {
        RtpConfig {
            bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port_range: (0, 0),
            crypto: None,
            external_ipv4: None,
            mtu: 1200,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtpEvent {
    /// The first RTP or RTCP packet from the peer arrived (KMS MediaState CONNECTED).
    ConnectionStateChanged { connected: bool },
    /// Media of this kind arrives for sending, but the negotiated session has no such codec:
    /// the packets are dropped (never transcoded). Raised once per kind and codec.
    /// With the codecs the session sends for this kind (best first), to transcode to.
    CodecNotNegotiated {
        kind: MediaKind,
        codec: String,
        accepts: Vec<crate::media::CodecId>,
    },
    /// The endpoint task ended (close() or every handle dropped).
    Closed,
}

pub use crate::media::RtpStreamStats as RtpKindStats;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RtpStats {
    pub audio: RtpKindStats,
    pub video: RtpKindStats,
    pub connected: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtpError {
    /// The endpoint task has ended.
    Closed,
    Sdp(String),
    InvalidState(String),
    Io(String),
    /// The configuration cannot work (e.g. an SDES key of the wrong length).
    Config(String),
}

impl fmt::Display for RtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RtpError::Closed => write!(f, "RTP endpoint closed"),
            RtpError::Sdp(s) => write!(f, "SDP error: {s}"),
            RtpError::InvalidState(s) => write!(f, "invalid state: {s}"),
            RtpError::Io(s) => write!(f, "I/O error: {s}"),
            RtpError::Config(s) => write!(f, "invalid configuration: {s}"),
        }
    }
}

impl std::error::Error for RtpError {}

type Reply<T> = oneshot::Sender<Result<T, RtpError>>;

enum Command {
    GenerateOffer(bool, bool, Reply<String>),
    ProcessOffer(String, Reply<String>),
    ProcessAnswer(String, Reply<String>),
    LocalSdp(oneshot::Sender<Option<String>>),
    RemoteSdp(oneshot::Sender<Option<String>>),
    Stats(Reply<RtpStats>),
    RequestKeyframe(MediaKind),
    LimitVideoBitrate(u64),
    Close,
}

/// Queue depth for outgoing media; a stalled endpoint drops rather than buffers.
const MEDIA_QUEUE: usize = 2048;

/// Cheap-to-clone handle; every method may be called from any task.
#[derive(Clone)]
pub struct RtpHandle {
    cmd: mpsc::UnboundedSender<Command>,
    media: mpsc::Sender<RtpPacket>,
    /// (RTP, RTCP) socket addresses for audio and video.
    local: [(SocketAddr, SocketAddr); 2],
    dropped: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl fmt::Debug for RtpHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RtpHandle")
            .field("local", &self.local)
            .finish()
    }
}

/// Binds an RTP socket on an even port and its RTCP socket on the next one.
fn bind_pair(ip: IpAddr, (min, max): (u16, u16)) -> Result<(UdpSocket, UdpSocket), RtpError> {
    let try_pair = |port: u16| -> Option<(std::net::UdpSocket, std::net::UdpSocket)> {
        let rtp = std::net::UdpSocket::bind(SocketAddr::new(ip, port)).ok()?;
        let p = rtp.local_addr().ok()?.port();
        if p % 2 != 0 || p == u16::MAX {
            return None;
        }
        let rtcp = std::net::UdpSocket::bind(SocketAddr::new(ip, p + 1)).ok()?;
        Some((rtp, rtcp))
    };
    let found = if min == 0 && max == 0 {
        (0..200).find_map(|_| try_pair(0))
    } else {
        // u32: an even start above 65534 must not overflow.
        let lo = u32::from(min.max(2)).div_ceil(2) * 2;
        let hi = u32::from(max);
        // Even ports p with p + 1 still in the range.
        let pairs = if hi > lo { (hi - lo).div_ceil(2) } else { 0 };
        let start = rand::random::<u32>() % pairs.max(1);
        (0..pairs).find_map(|i| {
            let port = lo + 2 * ((start + i) % pairs);
            u16::try_from(port).ok().and_then(try_pair)
        })
    };
    let (rtp, rtcp) = found.ok_or_else(|| {
        RtpError::Io(format!("no free RTP/RTCP port pair on {ip} in {min}-{max}"))
    })?;
    let wrap = |s: std::net::UdpSocket| -> Result<UdpSocket, RtpError> {
        s.set_nonblocking(true)
            .map_err(|e| RtpError::Io(e.to_string()))?;
        UdpSocket::from_std(s).map_err(|e| RtpError::Io(e.to_string()))
    };
    Ok((wrap(rtp)?, wrap(rtcp)?))
}

fn advertised(cfg: &RtpConfig) -> IpAddr {
    if let Some(ip) = cfg.external_ipv4 {
        return ip;
    }
    if !cfg.bind.is_unspecified() {
        return cfg.bind;
    }
    if_addrs::get_if_addrs()
        .ok()
        .and_then(|v| {
            v.into_iter()
                .map(|i| i.ip())
                .find(|ip| ip.is_ipv4() && !ip.is_loopback())
        })
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// Spawns the endpoint task on the current tokio runtime (must be called from within one).
/// Binds the sockets right away, so port exhaustion fails the creation as in KMS.
///
/// Media and media feedback go to `graph`; signalling goes to `events`, which runs on the
/// endpoint's task and must not block.
pub fn spawn_rtp_endpoint(
    cfg: RtpConfig,
    graph: GraphInbox,
    events: impl Fn(RtpEvent) + Send + 'static,
) -> Result<RtpHandle, RtpError> {
    if let Some(SrtpCrypto {
        suite,
        key: Some(k),
    }) = &cfg.crypto
    {
        if k.len() != suite.master_len() {
            return Err(RtpError::Config(format!(
                "{} needs a {}-byte master key and salt, got {}",
                suite.sdp_name(),
                suite.master_len(),
                k.len()
            )));
        }
    }
    let audio = bind_pair(cfg.bind, cfg.port_range)?;
    let video = bind_pair(cfg.bind, cfg.port_range)?;
    let addr = |s: &UdpSocket| s.local_addr().map_err(|e| RtpError::Io(e.to_string()));
    let local = [
        (addr(&audio.0)?, addr(&audio.1)?),
        (addr(&video.0)?, addr(&video.1)?),
    ];
    let params = LocalParams {
        addr: advertised(&cfg),
        ports: [local[0].0.port(), local[1].0.port()],
        crypto: None,
        session_id: u64::from(rand::random::<u32>()),
        version: 0,
    };
    let session = Session::new(params, cfg.crypto.clone(), Instant::now());
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (media_tx, media_rx) = mpsc::channel(MEDIA_QUEUE);
    let task = Task {
        session,
        sockets: [audio.0, audio.1, video.0, video.1],
        graph,
        events: Box::new(events),
        mtu: cfg.mtu,
        mtu_warned: false,
    };
    tokio::spawn(task.run(cmd_rx, media_rx));
    Ok(RtpHandle {
        cmd: cmd_tx,
        media: media_tx,
        local,
        dropped: Default::default(),
    })
}

impl RtpHandle {
    async fn call<T>(&self, f: impl FnOnce(Reply<T>) -> Command) -> Result<T, RtpError> {
        let (tx, rx) = oneshot::channel();
        self.cmd.send(f(tx)).map_err(|_| RtpError::Closed)?;
        rx.await.map_err(|_| RtpError::Closed)?
    }

    /// (RTP, RTCP) socket addresses of `kind` (before external-IP rewriting).
    pub fn local_addrs(&self, kind: MediaKind) -> (SocketAddr, SocketAddr) {
        match kind {
            MediaKind::Audio => self.local[0],
            MediaKind::Video => self.local[1],
        }
    }

    pub async fn generate_offer(&self, audio: bool, video: bool) -> Result<String, RtpError> {
        self.call(|r| Command::GenerateOffer(audio, video, r)).await
    }

    pub async fn process_offer(&self, sdp: String) -> Result<String, RtpError> {
        self.call(|r| Command::ProcessOffer(sdp, r)).await
    }

    /// Returns the local SDP (the offer generated before).
    pub async fn process_answer(&self, sdp: String) -> Result<String, RtpError> {
        self.call(|r| Command::ProcessAnswer(sdp, r)).await
    }

    pub async fn local_sdp(&self) -> Option<String> {
        let (tx, rx) = oneshot::channel();
        self.cmd.send(Command::LocalSdp(tx)).ok()?;
        rx.await.ok().flatten()
    }

    pub async fn remote_sdp(&self) -> Option<String> {
        let (tx, rx) = oneshot::channel();
        self.cmd.send(Command::RemoteSdp(tx)).ok()?;
        rx.await.ok().flatten()
    }

    pub async fn stats(&self) -> Result<RtpStats, RtpError> {
        self.call(Command::Stats).await
    }

    /// Queue policy: bounded ([`MEDIA_QUEUE`]); a packet that finds it full is dropped and
    /// counted.
    pub fn send_rtp(&self, pkt: RtpPacket) {
        if self.media.try_send(pkt).is_err() {
            self.dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    pub fn request_keyframe(&self, kind: MediaKind) {
        let _ = self.cmd.send(Command::RequestKeyframe(kind));
    }

    pub fn limit_video_bitrate(&self, bps: u64) {
        let _ = self.cmd.send(Command::LimitVideoBitrate(bps));
    }

    pub fn close(&self) {
        let _ = self.cmd.send(Command::Close);
    }

    /// Media packets dropped because the send queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn is_closed(&self) -> bool {
        self.cmd.is_closed()
    }
}

impl ElementPort for RtpHandle {
    fn send_rtp(&self, pkt: RtpPacket) {
        RtpHandle::send_rtp(self, pkt);
    }
    fn request_keyframe(&self, kind: MediaKind) {
        RtpHandle::request_keyframe(self, kind);
    }
    fn limit_video_bitrate(&self, bps: u64) {
        RtpHandle::limit_video_bitrate(self, bps);
    }
    fn close(&self) {
        RtpHandle::close(self);
    }
}

const COMPONENTS: [Component; 4] = [
    Component {
        kind: MediaKind::Audio,
        rtcp: false,
    },
    Component {
        kind: MediaKind::Audio,
        rtcp: true,
    },
    Component {
        kind: MediaKind::Video,
        rtcp: false,
    },
    Component {
        kind: MediaKind::Video,
        rtcp: true,
    },
];

fn socket_index(c: Component) -> usize {
    let k = match c.kind {
        MediaKind::Audio => 0,
        MediaKind::Video => 2,
    };
    k + usize::from(c.rtcp)
}

struct Task {
    session: Session,
    /// Audio RTP, audio RTCP, video RTP, video RTCP.
    sockets: [UdpSocket; 4],
    graph: GraphInbox,
    events: Box<dyn Fn(RtpEvent) + Send>,
    mtu: usize,
    mtu_warned: bool,
}

impl Task {
    fn flush(&mut self) {
        while let Some(o) = self.session.poll_output() {
            match o {
                Output::Transmit { from, to, data } => {
                    if data.len() > self.mtu && !self.mtu_warned {
                        self.mtu_warned = true;
                        tracing::debug!(
                            len = data.len(),
                            mtu = self.mtu,
                            "RTP: packet above the MTU forwarded as is"
                        );
                    }
                    // UDP: a full socket buffer or an unreachable peer loses this datagram only.
                    if let Err(e) = self.sockets[socket_index(from)].try_send_to(&data, to) {
                        tracing::trace!(%to, "RTP send failed: {e}");
                    }
                }
                Output::Graph(m) => self.graph.send(m),
                Output::Event(e) => (self.events)(e),
            }
        }
    }

    async fn run(
        mut self,
        mut cmd: mpsc::UnboundedReceiver<Command>,
        mut media: mpsc::Receiver<RtpPacket>,
    ) {
        // Larger than any MTU, so no datagram is cut short.
        let mut bufs = vec![[0u8; 8192]; 4];
        loop {
            let timeout = self.session.poll_timeout();
            let sleep = async {
                match timeout {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            };
            let [b0, b1, b2, b3] = &mut bufs[..] else {
                return;
            };
            let [s0, s1, s2, s3] = &self.sockets;
            let got: Option<(usize, std::io::Result<(usize, SocketAddr)>)>;
            tokio::select! {
                c = cmd.recv() => {
                    let Some(c) = c else { break };
                    if !self.command(c) {
                        break;
                    }
                    got = None;
                }
                p = media.recv() => {
                    let Some(p) = p else { break };
                    let now = Instant::now();
                    self.session.send_rtp(now, &p);
                    // Drain what is already queued before going back to the sockets.
                    while let Ok(p) = media.try_recv() {
                        self.session.send_rtp(now, &p);
                    }
                    got = None;
                }
                r = s0.recv_from(b0) => got = Some((0, r)),
                r = s1.recv_from(b1) => got = Some((1, r)),
                r = s2.recv_from(b2) => got = Some((2, r)),
                r = s3.recv_from(b3) => got = Some((3, r)),
                _ = sleep => {
                    self.session.handle_timeout(Instant::now());
                    got = None;
                }
            }
            if let Some((i, r)) = got {
                match r {
                    Ok((n, src)) => {
                        let data = &bufs[i][..n];
                        self.session
                            .handle_input(Instant::now(), COMPONENTS[i], src, data);
                    }
                    // ICMP port unreachable from an earlier send surfaces here; not fatal.
                    Err(e) => tracing::trace!("RTP recv: {e}"),
                }
            }
            self.flush();
        }
        self.session.close();
        self.flush();
        (self.events)(RtpEvent::Closed);
    }

    /// False when the endpoint must stop.
    fn command(&mut self, c: Command) -> bool {
        let now = Instant::now();
        match c {
            Command::GenerateOffer(a, v, r) => {
                let _ = r.send(self.session.generate_offer(a, v));
            }
            Command::ProcessOffer(sdp, r) => {
                let _ = r.send(self.session.process_offer(&sdp, now));
            }
            Command::ProcessAnswer(sdp, r) => {
                let _ = r.send(self.session.process_answer(&sdp, now));
            }
            Command::LocalSdp(r) => {
                let _ = r.send(self.session.local_sdp());
            }
            Command::RemoteSdp(r) => {
                let _ = r.send(self.session.remote_sdp());
            }
            Command::Stats(r) => {
                let _ = r.send(Ok(self.session.stats()));
            }
            Command::RequestKeyframe(k) => self.session.request_keyframe(k),
            Command::LimitVideoBitrate(b) => self.session.limit_video_bitrate(b),
            Command::Close => return false,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{CodecId, ElementId, FromElement, MediaExtensions};
    use std::sync::Arc;
    use std::time::Duration;

    fn inbox() -> (GraphInbox, mpsc::Receiver<(ElementId, FromElement)>) {
        let (tx, rx) = mpsc::channel(1024);
        (GraphInbox::new(ElementId::next(), tx), rx)
    }

    fn lo() -> RtpConfig {
        RtpConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn ports_are_even_rtp_odd_rtcp_within_the_range() {
        let (g, _rx) = inbox();
        let cfg = RtpConfig {
            port_range: (41001, 41100),
            ..lo()
        };
        let h = spawn_rtp_endpoint(cfg, g, |_| {}).unwrap();
        for k in [MediaKind::Audio, MediaKind::Video] {
            let (rtp, rtcp) = h.local_addrs(k);
            assert_eq!(rtp.port() % 2, 0);
            assert_eq!(rtcp.port(), rtp.port() + 1);
            assert!((41002..=41100).contains(&rtp.port()), "{rtp}");
        }
        let offer = h.generate_offer(true, true).await.unwrap();
        assert!(offer.contains(&format!(
            "m=audio {} ",
            h.local_addrs(MediaKind::Audio).0.port()
        )));
        assert!(offer.contains("c=IN IP4 127.0.0.1"));
        h.close();
    }

    #[tokio::test]
    async fn port_ranges_at_the_edges() {
        let (g, _rx) = inbox();
        for (range, ok) in [
            ((65534, 65535), true),
            ((65535, 65535), false),
            ((5000, 5000), false),
        ] {
            let cfg = RtpConfig {
                port_range: range,
                ..lo()
            };
            // The only pair may be taken by someone else; then the error is the right answer.
            let r = spawn_rtp_endpoint(cfg, g.clone(), |_| {});
            if !ok {
                assert!(matches!(r, Err(RtpError::Io(_))), "{range:?}");
            }
        }
    }

    #[tokio::test]
    async fn a_key_of_the_wrong_length_is_refused_and_external_ip_is_advertised() {
        let (g, _rx) = inbox();
        let cfg = RtpConfig {
            crypto: Some(SrtpCrypto {
                suite: SrtpSuite::Aes256CmHmacSha1_80,
                key: Some(vec![0; 30]),
            }),
            ..lo()
        };
        assert!(matches!(
            spawn_rtp_endpoint(cfg, g.clone(), |_| {}),
            Err(RtpError::Config(_))
        ));
        let cfg = RtpConfig {
            external_ipv4: Some("203.0.113.1".parse().unwrap()),
            ..lo()
        };
        let h = spawn_rtp_endpoint(cfg, g, |_| {}).unwrap();
        let offer = h.generate_offer(false, true).await.unwrap();
        assert!(offer.contains("c=IN IP4 203.0.113.1"), "{offer}");
    }

    /// Two endpoints over loopback: the task loop, sockets and SRTP together.
    #[tokio::test]
    async fn two_endpoints_exchange_media_and_keyframe_requests() {
        for crypto in [None, Some(SrtpSuite::Aes256CmHmacSha1_32)] {
            let cfg = || RtpConfig {
                crypto: crypto.map(|suite| SrtpCrypto { suite, key: None }),
                ..lo()
            };
            let (ga, mut ra) = inbox();
            let (gb, mut rb) = inbox();
            let (etx, mut erx) = mpsc::unbounded_channel();
            let a = spawn_rtp_endpoint(cfg(), ga, |_| {}).unwrap();
            let b = spawn_rtp_endpoint(cfg(), gb, move |e| {
                let _ = etx.send(e);
            })
            .unwrap();
            let offer = a.generate_offer(true, true).await.unwrap();
            let answer = b.process_offer(offer.clone()).await.unwrap();
            assert_eq!(a.process_answer(answer.clone()).await.unwrap(), offer);
            assert_eq!(b.remote_sdp().await, Some(offer));
            assert_eq!(b.local_sdp().await, Some(answer));
            let pkt = RtpPacket {
                kind: MediaKind::Audio,
                codec: CodecId::new("opus", 48000, Some(2), "minptime=10"),
                payload_type: 109,
                ssrc: 1,
                seq: 1,
                timestamp: 960,
                marker: false,
                payload: Arc::from(&b"opus frame"[..]),
                is_keyframe_hint: false,
                ext: MediaExtensions::default(),
                arrival: Instant::now(),
            };
            a.send_rtp(pkt);
            let got = tokio::time::timeout(Duration::from_secs(5), async {
                loop {
                    match rb.recv().await {
                        Some((_, FromElement::Rtp(p))) => return Some(p),
                        Some(_) => {}
                        None => return None,
                    }
                }
            })
            .await
            .unwrap()
            .unwrap();
            assert_eq!(&*got.payload, b"opus frame");
            assert_eq!((got.payload_type, &*got.codec.name), (111, "opus"));
            assert_eq!(
                erx.recv().await,
                Some(RtpEvent::ConnectionStateChanged { connected: true })
            );
            b.request_keyframe(MediaKind::Audio);
            let req = tokio::time::timeout(Duration::from_secs(5), async {
                loop {
                    if let Some((_, FromElement::KeyframeRequested { kind })) = ra.recv().await {
                        return kind;
                    }
                }
            })
            .await
            .unwrap();
            assert_eq!(req, MediaKind::Audio);
            let st = a.stats().await.unwrap();
            assert_eq!(st.audio.packets_sent, 1);
            assert_eq!(st.audio.pli_received, 1);
            a.close();
            assert_eq!(
                tokio::time::timeout(Duration::from_secs(5), erx.recv()).await,
                Ok(Some(RtpEvent::ConnectionStateChanged { connected: false })),
                "A's BYE"
            );
            b.close();
            assert_eq!(erx.recv().await, Some(RtpEvent::Closed));
            assert!(a.stats().await.is_err() || a.is_closed());
        }
    }
}
