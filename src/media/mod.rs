//! The media core: packet routes between endpoints, without decoding.
//!
//! Glossary: an *endpoint* is a media peer (today a WebRTC peer) identified by an
//! [`EndpointKey`]; a [`Route`] says that packets of one kind received by a source endpoint are
//! sent by a sink endpoint. Each pipeline has one [`Router`] task that owns its routes, so no
//! lock is taken per packet; the control plane replaces the routes whenever the Kurento element
//! graph changes. This module knows no JSON and no Kurento class names.

pub mod bitrate;
pub mod keyframe;
pub mod router;

pub use crate::webrtc::MediaKind;
pub use bitrate::BitrateLimits;
pub use router::{PipelineMedia, Route};

use crate::webrtc::EndpointConfig;
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;

/// Identifies an endpoint inside the media core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointKey(pub u64);

static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

impl EndpointKey {
    pub fn next() -> Self {
        EndpointKey(NEXT_KEY.fetch_add(1, Ordering::Relaxed))
    }
}

/// A media event for the control plane, tagged with the endpoint it came from.
pub type MediaEvent = (EndpointKey, crate::webrtc::WebRtcEvent);

/// What the media side needs from configuration, plus the channel on which endpoints report to
/// the control plane.
pub struct MediaEnv {
    /// The media workers: routers and endpoint tasks run (and their sockets register) here, so
    /// a burst of JSON-RPC work never delays packets. `main` gives it one thread per core.
    pub runtime: tokio::runtime::Handle,
    /// Template for new WebRTC endpoints (STUN, TURN, interfaces, ports...).
    pub webrtc: EndpointConfig,
    /// KMS property defaults that come from configuration rather than the kmd, by
    /// (class, property): e.g. WebRtcEndpoint stunServerAddress from WebRtcEndpoint.conf.ini.
    pub property_defaults: Vec<(&'static str, &'static str, Value)>,
    pub events: mpsc::UnboundedSender<MediaEvent>,
}

impl MediaEnv {
    pub fn property_default(&self, class: &str, prop: &str) -> Option<Value> {
        let m = kurento_protocol::model::model();
        self.property_defaults
            .iter()
            .find(|(c, p, _)| *p == prop && m.is_a(class, c))
            .map(|(_, _, v)| v.clone())
    }
}
