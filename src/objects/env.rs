//! What the object model needs from the server: the media workers, adapter configuration, and
//! the channel on which media sides report to the control plane.

use crate::gst_bridge::UriEvent;
use crate::media::{ElementId, GraphEvent};
use crate::rtp::{RtpConfig, RtpEvent};
use crate::webrtc::{EndpointConfig, WebRtcEvent};
use serde_json::Value;
use tokio::sync::mpsc;

/// A report from the media side, for the object model to turn into state and Kurento events.
#[derive(Debug)]
pub enum ControlEvent {
    /// Signalling of a WebRTC endpoint (ICE, DTLS, connection state).
    WebRtc(ElementId, WebRtcEvent),
    /// Signalling of a plain RTP endpoint.
    Rtp(ElementId, RtpEvent),
    /// Flow state from a pipeline's graph.
    Graph(GraphEvent),
    /// A player or recorder (the GStreamer bridge).
    Uri(ElementId, UriEvent),
    /// A ZBarFilter saw a code: (type, value).
    Code(ElementId, String, String),
    /// A module filter (chroma, crowd, plate, pointer detector) saw something.
    Vision(ElementId, crate::vision::VisionEvent),
    /// An element's media side failed without stopping it (an overlay image that cannot be
    /// fetched): an Error event.
    ElementError(ElementId, crate::gst_bridge::ErrorType, String),
}

pub struct MediaEnv {
    /// The media workers: routers and endpoint tasks run (and their sockets register) here, so
    /// a burst of JSON-RPC work never delays packets. `main` gives it one thread per core.
    pub runtime: tokio::runtime::Handle,
    /// Template for new WebRTC endpoints (STUN, TURN, interfaces, ports...).
    pub webrtc: EndpointConfig,
    /// Template for new RTP endpoints (address, ports from BaseRtpEndpoint.conf.ini).
    pub rtp: RtpConfig,
    /// KMS property defaults that come from configuration rather than the kmd, by
    /// (class, property): e.g. WebRtcEndpoint stunServerAddress from WebRtcEndpoint.conf.ini.
    pub property_defaults: Vec<(&'static str, &'static str, Value)>,
    /// UriEndpoint.conf.ini `defaultPath`: the base of player and recorder URIs without a scheme.
    pub uri_default_path: String,
    /// Transcode for sinks that cannot take their source's codec (`resources.transcoding`).
    pub transcoding: bool,
    /// HttpEndpoint.conf.ini's server, bound when the first HttpPostEndpoint asks for a URL.
    pub http: std::sync::Arc<crate::http_endpoint::HttpEndpointServer>,
    /// Unbounded: what travels here is signalling and flow changes, a handful per endpoint and
    /// state change, never per packet.
    pub events: mpsc::UnboundedSender<ControlEvent>,
}

/// KMS's `defaultPath` when UriEndpoint.conf.ini does not set one.
pub const DEFAULT_URI_PATH: &str = "file:///var/lib/kurento/";

/// RTP endpoints take their address from the interfaces WebRTC gathers on (KMS's
/// `networkInterfaces`; the first usable one), and ports, external address and MTU from the same
/// configuration (BaseRtpEndpoint.conf.ini, WebRtcEndpoint.conf.ini).
pub fn rtp_config(webrtc: &EndpointConfig) -> RtpConfig {
    let bind = webrtc
        .network_interfaces
        .as_deref()
        .and_then(|i| crate::webrtc::host_addresses(Some(i)).ok())
        .and_then(|a| a.into_iter().find(|ip| ip.is_ipv4()))
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    RtpConfig {
        bind,
        port_range: webrtc.port_range,
        crypto: None,
        external_ipv4: webrtc.external_ipv4,
        mtu: webrtc.mtu,
    }
}

impl MediaEnv {
    pub fn property_default(&self, class: &str, prop: &str) -> Option<Value> {
        let m = kurento_protocol::model::model();
        self.property_defaults
            .iter()
            .find(|(c, p, _)| *p == prop && m.is_a(class, c))
            .map(|(_, _, v)| v.clone())
    }

    /// A sink that reports what a media side tells the control plane, as `wrap` tags it.
    pub fn reporter<E>(
        &self,
        wrap: impl Fn(E) -> ControlEvent + Send + 'static,
    ) -> impl Fn(E) + Send + 'static {
        let tx = self.events.clone();
        move |e| {
            let _ = tx.send(wrap(e));
        }
    }
}
