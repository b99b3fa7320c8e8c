//! WebRTC adapter: the only module that talks to str0m.
//!
//! Each WebRtcEndpoint is one tokio task (the actor in `actor.rs`) owning a str0m `Rtc` in
//! RTP mode, its UDP sockets, optional TURN allocation and timers. Everything crossing this
//! module's boundary is our own types, so the media core never sees str0m.

mod actor;
mod codec;
mod datachannel;
mod net;
pub(crate) mod rewrite;
mod shared_udp;
pub mod stun;
pub mod turn;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

pub use net::host_addresses;
pub use shared_udp::SharedUdp;

pub use crate::media::{CodecId, MediaExtensions, MediaKind, RtpPacket};
use crate::media::{DataMessage, ElementPort, GraphInbox};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceCandidateInit {
    /// `candidate:...` (an `a=` prefix is tolerated); empty = end-of-candidates.
    pub candidate: String,
    pub sdp_mid: Option<String>,
    pub sdp_mline_index: Option<u16>,
}

/// KMS IceComponentState names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IceComponentState {
    Disconnected,
    Gathering,
    Connecting,
    Connected,
    Ready,
    Failed,
}

/// KMS 7 DtlsConnectionState names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtlsState {
    New,
    Connecting,
    Connected,
    Closed,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnTransport {
    Udp,
    Tcp,
}

#[derive(Clone, PartialEq, Eq)]
pub struct TurnServer {
    pub username: String,
    pub password: String,
    pub addr: SocketAddr,
    pub transport: TurnTransport,
}

/// The password never reaches a log, whoever formats the configuration.
impl fmt::Debug for TurnServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TurnServer")
            .field("username", &self.username)
            .field("password", &"***")
            .field("addr", &self.addr)
            .field("transport", &self.transport)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Interface names ("lo", "eth0"); None = all non-loopback interfaces.
    pub network_interfaces: Option<Vec<String>>,
    pub external_ipv4: Option<IpAddr>,
    pub external_ipv6: Option<IpAddr>,
    pub stun_server: Option<SocketAddr>,
    pub turn: Option<TurnServer>,
    /// Also gather passive ICE-TCP host candidates (RFC 6544, RFC 4571 framing), as KMS `iceTcp`.
    pub ice_tcp: bool,
    /// Inclusive UDP port range; (0, 0) = OS-assigned.
    pub port_range: (u16, u16),
    pub recvonly: bool,
    pub sendonly: bool,
    /// Target size of outgoing datagrams (BaseRtpEndpoint `mtu`), clamped to what str0m allows.
    pub mtu: usize,
    /// `b=AS` for audio in SDPs we produce (KMS `maxAudioRecvBandwidth`, kbps, 0 = unlimited).
    pub max_audio_recv_bandwidth_kbps: u32,
    /// `b=AS` for video in SDPs we produce (KMS `maxVideoRecvBandwidth`, kbps, 0 = unlimited).
    pub max_video_recv_bandwidth_kbps: u32,
    /// One UDP port for all endpoints (`sharedUdpPort`) instead of sockets of their own.
    pub shared_udp: Option<Arc<SharedUdp>>,
    /// KMS `useDataChannels`: accept and offer an SCTP association for data channels. Off, an
    /// offered `m=application` section is answered rejected (port 0), as KMS does.
    pub use_data_channels: bool,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            network_interfaces: None,
            external_ipv4: None,
            external_ipv6: None,
            stun_server: None,
            turn: None,
            ice_tcp: false,
            port_range: (1024, 65535),
            recvonly: false,
            sendonly: false,
            mtu: 1200,
            max_audio_recv_bandwidth_kbps: 0,
            max_video_recv_bandwidth_kbps: 0,
            shared_udp: None,
            use_data_channels: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebRtcEvent {
    IceCandidateFound(IceCandidateInit),
    IceGatheringDone,
    IceComponentStateChanged {
        stream_id: u32,
        component_id: u32,
        state: IceComponentState,
    },
    /// Candidate strings (`candidate:...`) of the pair now carrying media.
    NewCandidatePairSelected {
        local: String,
        remote: String,
    },
    ConnectionStateChanged {
        connected: bool,
    },
    DtlsStateChanged(DtlsState),
    /// Media of this kind arrives for sending, but the negotiated session has no codec in common
    /// with it: the packets are dropped. Raised once per kind and codec, with the codecs the
    /// session does send for this kind (best first), so the graph can transcode to one.
    CodecNotNegotiated {
        kind: MediaKind,
        codec: String,
        accepts: Vec<CodecId>,
    },
    /// A data channel opened by either side is ready; `id` is its SCTP stream id (KMS
    /// `channelId`).
    DataChannelOpened {
        id: u16,
        label: String,
    },
    DataChannelClosed {
        id: u16,
    },
    /// The endpoint task ended (close(), remote DTLS close, or fatal error).
    Closed,
}

/// Per-kind RTP figures: the same shape the RTP adapter reports.
pub use crate::media::RtpStreamStats as MediaCounters;

#[derive(Debug, Clone, PartialEq)]
pub struct WebRtcStats {
    pub audio: MediaCounters,
    pub video: MediaCounters,
    /// (local, remote) candidate strings of the pair carrying media.
    pub selected_pair: Option<(String, String)>,
    pub ice_state: Option<IceComponentState>,
    pub dtls_state: DtlsState,
    pub local_candidates: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebRtcError {
    /// The endpoint task has ended.
    Closed,
    Sdp(String),
    InvalidCandidate(String),
    InvalidState(String),
    Io(String),
}

impl fmt::Display for WebRtcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebRtcError::Closed => write!(f, "WebRTC endpoint closed"),
            WebRtcError::Sdp(s) => write!(f, "SDP error: {s}"),
            WebRtcError::InvalidCandidate(s) => write!(f, "invalid ICE candidate: {s}"),
            WebRtcError::InvalidState(s) => write!(f, "invalid state: {s}"),
            WebRtcError::Io(s) => write!(f, "I/O error: {s}"),
        }
    }
}

impl std::error::Error for WebRtcError {}

type Reply<T> = oneshot::Sender<Result<T, WebRtcError>>;

enum Command {
    ProcessOffer(String, Reply<String>),
    GenerateOffer(bool, bool, Reply<String>),
    ProcessAnswer(String, Reply<String>),
    GatherCandidates(Reply<()>),
    AddIceCandidate(IceCandidateInit, Reply<()>),
    SetTurn(Option<TurnServer>, Reply<()>),
    SetStun(Option<SocketAddr>, Reply<()>),
    SetMaxRecvBandwidth(MediaKind, u32),
    LimitVideoBitrate(u64),
    LocalSdp(oneshot::Sender<Option<String>>),
    RemoteSdp(oneshot::Sender<Option<String>>),
    RequestKeyframe(MediaKind),
    Stats(Reply<WebRtcStats>),
    CreateDataChannel(str0m::channel::ChannelConfig, Reply<u16>),
    CloseDataChannel(u16, Reply<()>),
    Close,
}

/// Cheap-to-clone handle; every method may be called from any task.
#[derive(Clone)]
pub struct WebRtcHandle {
    cmd: mpsc::UnboundedSender<Command>,
    media: mpsc::Sender<RtpPacket>,
    data: mpsc::Sender<DataMessage>,
    data_drops: Arc<datachannel::DataDropCounters>,
    local_addrs: Arc<Vec<SocketAddr>>,
    dropped: Arc<std::sync::atomic::AtomicU64>,
}

impl fmt::Debug for WebRtcHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebRtcHandle")
            .field("local_addrs", &self.local_addrs)
            .finish()
    }
}

/// Queue depth for outgoing media; when the endpoint task falls this far behind, packets are
/// dropped rather than buffered without bound.
const MEDIA_QUEUE: usize = 2048;

/// Queue depth for outgoing data-channel messages (same policy as [`MEDIA_QUEUE`]).
const DATA_QUEUE: usize = 256;

/// Data-channel messages this endpoint dropped, per direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DataDrops {
    /// To the peer: send queue full, no open channel, SCTP send buffer full, or too large.
    pub outgoing: u64,
    /// From the peer: more than the in-flight budget still unconsumed in the graph.
    pub incoming: u64,
}

/// Spawns the endpoint task on the current tokio runtime (must be called from within one). Binds the host sockets right away so
/// port exhaustion is reported to the caller (KMS fails `create` in that case too).
///
/// Media and media feedback go to `graph` (the pipeline's router); signalling (ICE, DTLS, the
/// connection state) goes to `events`, which runs on the endpoint's task and must not block.
pub fn spawn_endpoint(
    cfg: EndpointConfig,
    graph: GraphInbox,
    events: impl Fn(WebRtcEvent) + Send + 'static,
) -> Result<WebRtcHandle, WebRtcError> {
    let mut sockets = Vec::new();
    let host_addrs: Vec<SocketAddr> = if let Some(shared) = &cfg.shared_udp {
        shared.local_addrs()
    } else {
        let ips = net::host_addresses(cfg.network_interfaces.as_deref())?;
        for ip in ips {
            match net::bind_udp_in_range(ip, cfg.port_range.0, cfg.port_range.1) {
                Ok(s) => sockets.push(s),
                // One bad address (e.g. a v6 address not yet usable) must not sink the endpoint.
                Err(e) => tracing::warn!("skipping host address {ip}: {e}"),
            }
        }
        if sockets.is_empty() {
            return Err(WebRtcError::Io("could not bind any host UDP socket".into()));
        }
        sockets.iter().filter_map(|s| s.local_addr().ok()).collect()
    };
    let mut listeners = Vec::new();
    if cfg.ice_tcp {
        for a in &host_addrs {
            match net::bind_tcp_in_range(a.ip(), a.port(), cfg.port_range.0, cfg.port_range.1) {
                Ok(l) => listeners.push(l),
                Err(e) => tracing::warn!("no ICE-TCP candidate on {}: {e}", a.ip()),
            }
        }
    }
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (media_tx, media_rx) = mpsc::channel(MEDIA_QUEUE);
    let (data_tx, data_rx) = mpsc::channel(DATA_QUEUE);
    let data_drops = Arc::new(datachannel::DataDropCounters::default());
    actor::spawn(
        cfg,
        sockets,
        listeners,
        actor::Inputs {
            cmd: cmd_rx,
            media: media_rx,
            data: data_rx,
        },
        graph,
        Box::new(events),
        data_drops.clone(),
    )?;
    Ok(WebRtcHandle {
        cmd: cmd_tx,
        media: media_tx,
        data: data_tx,
        data_drops,
        local_addrs: Arc::new(host_addrs),
        dropped: Arc::default(),
    })
}

impl WebRtcHandle {
    async fn call<T>(&self, f: impl FnOnce(Reply<T>) -> Command) -> Result<T, WebRtcError> {
        let (tx, rx) = oneshot::channel();
        self.cmd.send(f(tx)).map_err(|_| WebRtcError::Closed)?;
        rx.await.map_err(|_| WebRtcError::Closed)?
    }

    /// Host socket addresses this endpoint listens on (before external-IP rewriting).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    pub async fn process_offer(&self, sdp: String) -> Result<String, WebRtcError> {
        self.call(|r| Command::ProcessOffer(sdp, r)).await
    }

    pub async fn generate_offer(&self, audio: bool, video: bool) -> Result<String, WebRtcError> {
        self.call(|r| Command::GenerateOffer(audio, video, r)).await
    }

    /// Returns the local SDP (the offer previously generated).
    pub async fn process_answer(&self, sdp: String) -> Result<String, WebRtcError> {
        self.call(|r| Command::ProcessAnswer(sdp, r)).await
    }

    pub async fn gather_candidates(&self) -> Result<(), WebRtcError> {
        self.call(Command::GatherCandidates).await
    }

    pub async fn add_ice_candidate(&self, c: IceCandidateInit) -> Result<(), WebRtcError> {
        self.call(|r| Command::AddIceCandidate(c, r)).await
    }

    /// Replaces the TURN server; takes effect at the next gather_candidates().
    pub async fn set_turn(&self, turn: Option<TurnServer>) -> Result<(), WebRtcError> {
        self.call(|r| Command::SetTurn(turn, r)).await
    }

    /// Replaces the STUN server; takes effect at the next gather_candidates().
    pub async fn set_stun(&self, stun: Option<SocketAddr>) -> Result<(), WebRtcError> {
        self.call(|r| Command::SetStun(stun, r)).await
    }

    /// KMS `setMaxAudioRecvBandwidth` / `setMaxVideoRecvBandwidth` (kbps, 0 = unlimited):
    /// applies to SDPs generated afterwards.
    pub fn set_max_recv_bandwidth(&self, kind: MediaKind, kbps: u32) {
        let _ = self.cmd.send(Command::SetMaxRecvBandwidth(kind, kbps));
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

    /// Fire-and-forget; dropped when the endpoint cannot send that kind/codec or is overloaded.
    /// Asks the remote peer (REMB) to send us at most this much video.
    pub fn limit_video_bitrate(&self, bps: u64) {
        let _ = self.cmd.send(Command::LimitVideoBitrate(bps));
    }

    /// Queue policy: bounded ([`MEDIA_QUEUE`]); a packet that finds it full is dropped and
    /// counted, so a stalled endpoint never holds the router or grows memory.
    pub fn send_rtp(&self, pkt: RtpPacket) {
        if self.media.try_send(pkt).is_err() {
            self.dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Sends a PLI to the remote sender of `kind`.
    pub fn request_keyframe(&self, kind: MediaKind) {
        let _ = self.cmd.send(Command::RequestKeyframe(kind));
    }

    pub async fn stats(&self) -> Result<WebRtcStats, WebRtcError> {
        self.call(Command::Stats).await
    }

    pub fn close(&self) {
        let _ = self.cmd.send(Command::Close);
    }

    /// KMS `createDataChannel`; `-1` leaves `max_packet_life_time` / `max_retransmits` unset
    /// (both set is an error). Returns the SCTP stream id once SCTP has assigned it: the call
    /// may come before negotiation or connection and then waits for them (up to 30 s).
    /// `DataChannelOpened` follows when the peer has acknowledged the channel.
    pub async fn create_data_channel(
        &self,
        label: String,
        ordered: bool,
        max_packet_life_time: i32,
        max_retransmits: i32,
        protocol: String,
    ) -> Result<u16, WebRtcError> {
        let cfg = datachannel::channel_config(
            label,
            ordered,
            max_packet_life_time,
            max_retransmits,
            protocol,
        )?;
        self.call(|r| Command::CreateDataChannel(cfg, r)).await
    }

    /// KMS `closeDataChannel(channelId)`; `DataChannelClosed` follows.
    pub async fn close_data_channel(&self, id: u16) -> Result<(), WebRtcError> {
        self.call(|r| Command::CloseDataChannel(id, r)).await
    }

    /// Sends on the open channel with the message's label, else on the first open channel.
    /// Queue policy: bounded ([`DATA_QUEUE`]); a message that finds it full, or finds no open
    /// channel, is dropped and counted ([`WebRtcHandle::data_dropped`]).
    pub fn send_data(&self, msg: DataMessage) {
        if self.data.try_send(msg).is_err() {
            self.data_drops.count_out();
        }
    }

    pub fn data_dropped(&self) -> DataDrops {
        use std::sync::atomic::Ordering::Relaxed;
        DataDrops {
            outgoing: self.data_drops.outgoing.load(Relaxed),
            incoming: self.data_drops.incoming.load(Relaxed),
        }
    }

    /// Media packets dropped because this endpoint's send queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// True once the endpoint task has ended.
    pub fn is_closed(&self) -> bool {
        self.cmd.is_closed()
    }
}

impl ElementPort for WebRtcHandle {
    fn send_rtp(&self, pkt: RtpPacket) {
        WebRtcHandle::send_rtp(self, pkt);
    }
    fn send_data(&self, msg: DataMessage) {
        WebRtcHandle::send_data(self, msg);
    }
    fn request_keyframe(&self, kind: MediaKind) {
        WebRtcHandle::request_keyframe(self, kind);
    }
    fn limit_video_bitrate(&self, bps: u64) {
        WebRtcHandle::limit_video_bitrate(self, bps);
    }
    fn close(&self) {
        WebRtcHandle::close(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_password_is_not_in_debug_output() {
        let t = TurnServer {
            username: "user".into(),
            password: "hunter2secret".into(),
            addr: "127.0.0.1:3478".parse().unwrap(),
            transport: TurnTransport::Udp,
        };
        let shown = format!(
            "{t:?} {:?}",
            EndpointConfig {
                turn: Some(t.clone()),
                ..Default::default()
            }
        );
        assert!(!shown.contains("hunter2secret"), "{shown}");
        assert!(shown.contains("user"));
    }
}
