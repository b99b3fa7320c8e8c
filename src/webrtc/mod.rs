//! TEMPORARY stand-in with the adapter's agreed API; replaced by the str0m adapter.
#![allow(dead_code, unused_variables)]

use std::net::{IpAddr, SocketAddr};
use tokio::sync::mpsc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MediaKind {
    Audio,
    Video,
}

#[derive(Debug, Clone)]
pub enum TurnTransport {
    Udp,
    Tcp,
}

#[derive(Debug, Clone)]
pub struct TurnServer {
    pub username: String,
    pub password: String,
    pub addr: SocketAddr,
    pub transport: TurnTransport,
}

#[derive(Debug, Clone, Default)]
pub struct EndpointConfig {
    pub network_interfaces: Option<Vec<String>>,
    pub external_ipv4: Option<IpAddr>,
    pub external_ipv6: Option<IpAddr>,
    pub stun_server: Option<SocketAddr>,
    pub turn: Option<TurnServer>,
    pub ice_tcp: bool,
    pub port_range: (u16, u16),
    pub recvonly: bool,
    pub sendonly: bool,
    pub mtu: usize,
}

#[derive(Debug, Clone)]
pub struct IceCandidateInit {
    pub candidate: String,
    pub sdp_mid: Option<String>,
    pub sdp_mline_index: Option<u16>,
}

#[derive(Debug, Clone)]
pub struct RtpPacket {
    pub kind: MediaKind,
    pub payload: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
pub enum IceComponentState {
    Disconnected,
    Gathering,
    Connecting,
    Connected,
    Ready,
    Failed,
}
impl IceComponentState {
    pub fn as_kurento(self) -> &'static str {
        "CONNECTED"
    }
}
#[derive(Debug, Clone, Copy)]
pub enum DtlsState {
    New,
    Connected,
}
impl DtlsState {
    pub fn as_kurento(self) -> &'static str {
        "NEW"
    }
}
#[derive(Debug, Clone, Default)]
pub struct WebRtcStats;

#[derive(Debug, Clone)]
pub enum WebRtcEvent {
    IceCandidateFound(IceCandidateInit),
    IceGatheringDone,
    IceComponentStateChanged {
        stream_id: u32,
        component_id: u32,
        state: IceComponentState,
    },
    NewCandidatePairSelected {
        local: String,
        remote: String,
    },
    ConnectionStateChanged {
        connected: bool,
    },
    DtlsStateChanged(DtlsState),
    MediaStarted {
        kind: MediaKind,
    },
    MediaStopped {
        kind: MediaKind,
    },
    Rtp(RtpPacket),
    KeyframeRequested {
        kind: MediaKind,
    },
    Closed,
}

#[derive(Debug)]
pub struct WebRtcError(pub String);

impl std::fmt::Display for WebRtcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone)]
pub struct WebRtcHandle;

pub fn spawn_endpoint(
    cfg: EndpointConfig,
    events: mpsc::UnboundedSender<WebRtcEvent>,
) -> Result<WebRtcHandle, WebRtcError> {
    Err(WebRtcError(
        "WebRTC media is not available in this build".into(),
    ))
}

impl WebRtcHandle {
    pub async fn process_offer(&self, sdp: String) -> Result<String, WebRtcError> {
        Err(WebRtcError("n/a".into()))
    }
    pub async fn generate_offer(&self, audio: bool, video: bool) -> Result<String, WebRtcError> {
        Err(WebRtcError("n/a".into()))
    }
    pub async fn process_answer(&self, sdp: String) -> Result<String, WebRtcError> {
        Err(WebRtcError("n/a".into()))
    }
    pub async fn gather_candidates(&self) -> Result<(), WebRtcError> {
        Ok(())
    }
    pub async fn add_ice_candidate(&self, c: IceCandidateInit) -> Result<(), WebRtcError> {
        Ok(())
    }
    pub async fn local_sdp(&self) -> Option<String> {
        None
    }
    pub async fn remote_sdp(&self) -> Option<String> {
        None
    }
    pub fn send_rtp(&self, pkt: RtpPacket) {}
    pub fn request_keyframe(&self, kind: MediaKind) {}
    pub fn close(&self) {}
    pub fn set_stun(&self, s: Option<SocketAddr>) {}
    pub fn set_turn(&self, t: Option<TurnServer>) {}
    pub async fn stats(&self) -> Result<WebRtcStats, WebRtcError> {
        Ok(WebRtcStats)
    }
}
