//! Elements as the graph sees them: an id, the messages an element's media side sends into its
//! pipeline's graph, and what the graph asks of it in return ([`ElementPort`]).

use super::packet::{DataMessage, MediaKind, MediaType, RtpPacket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Identifies an element (a node of the graph) inside the media core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ElementId(pub u64);

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl ElementId {
    pub fn next() -> Self {
        ElementId(NEXT_ID.fetch_add(1, Ordering::Relaxed))
    }
}

impl std::fmt::Display for ElementId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "e{}", self.0)
    }
}

/// A pad: the input or output of one media type of an element. KMS also names pads by a media
/// description; every pad here is KMS's "default" one, so the type is enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PadId {
    pub element: ElementId,
    pub media: MediaType,
}

impl PadId {
    pub fn new(element: ElementId, media: MediaType) -> Self {
        PadId { element, media }
    }
}

/// What an element's media side tells its pipeline's graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromElement {
    /// Media the element produced (received from its peer, or made).
    Rtp(RtpPacket),
    Data(DataMessage),
    /// The element's peer asked for a keyframe of the video (or audio) it receives from us.
    KeyframeRequested {
        kind: MediaKind,
    },
    /// The element's peer estimates it can receive this much video from us (REMB).
    BitrateEstimate {
        bps: u64,
    },
    /// The element's transport came up: anything routed to it before was lost, so it needs a
    /// keyframe now.
    TransportUp,
}

/// What the graph asks of an element's media side. Every method is fire-and-forget and cheap:
/// adapters queue the work for their own task.
pub trait ElementPort: Send + Sync + 'static {
    fn send_rtp(&self, pkt: RtpPacket);
    fn send_data(&self, _msg: DataMessage) {}
    /// Ask the element's remote sender for a keyframe.
    fn request_keyframe(&self, kind: MediaKind);
    /// Ask the element's remote sender to send at most this much video.
    fn limit_video_bitrate(&self, _bps: u64) {}
    fn close(&self);
}

/// Capacity of a pipeline's media queue (all of its elements share it).
pub const GRAPH_QUEUE: usize = 8192;

/// An element's way into its pipeline's graph.
///
/// Queue policy: the queue is bounded ([`GRAPH_QUEUE`]) and never blocks the element. When it is
/// full the message is dropped and counted (`dropped`): everything on it is media or media
/// feedback that the network repeats (a receiver asks for a keyframe again, REMB is periodic).
/// Control (attach, routes, limits) never travels here.
#[derive(Clone)]
pub struct GraphInbox {
    id: ElementId,
    tx: mpsc::Sender<(ElementId, FromElement)>,
    dropped: Arc<AtomicU64>,
}

impl GraphInbox {
    pub fn new(id: ElementId, tx: mpsc::Sender<(ElementId, FromElement)>) -> Self {
        GraphInbox {
            id,
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn id(&self) -> ElementId {
        self.id
    }

    pub fn send(&self, m: FromElement) {
        if self.tx.try_send((self.id, m)).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed);
            if n.is_power_of_two() {
                tracing::warn!(element = %self.id, dropped = n + 1, "graph queue full: media dropped");
            }
        }
    }

    /// Messages this element could not queue.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}
