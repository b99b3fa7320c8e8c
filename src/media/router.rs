//! A pipeline's router, without I/O: routes media from sources to sinks along the flattened
//! element graph, merges keyframe requests, relays the slowest sink's bandwidth estimate to its
//! source, and tells which elements have media flowing in and out.
//!
//! Sans-I/O in str0m's and quinn's style: feed it with [`Router::handle_input`] and
//! [`Router::handle_timeout`], drain [`Router::poll_output`], and wake it at
//! [`Router::poll_timeout`]. `pipeline.rs` is the thin task that does the I/O.

use super::bitrate::{self, BitrateControl, BitrateLimits};
use super::element::{ElementId, FromElement};
use super::keyframe::KeyframeThrottle;
use super::packet::{DataMessage, MediaKind, MediaType, RtpPacket};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Media of `media` produced by `source` is sent by `sink` (which may be `source` itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Route {
    pub source: ElementId,
    pub media: MediaType,
    pub sink: ElementId,
}

/// Keyframe requests to one source are merged: at most one per this interval.
pub const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(1000);
/// No media of a type from a source for this long means its flow stopped.
pub const FLOW_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Attach(ElementId),
    Detach(ElementId),
    SetRoutes(Vec<Route>),
    SetBitrateLimits(ElementId, BitrateLimits),
    From(ElementId, FromElement),
}

/// Which way media flows for a flow-state change, as Kurento's MediaFlowIn / MediaFlowOut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowDirection {
    /// Media arrives at the element from its peer (or is produced by it).
    In,
    /// The element sends media that a source routes to it.
    Out,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send this packet out of every listed sink, in order.
    Rtp {
        pkt: RtpPacket,
        sinks: Arc<[ElementId]>,
    },
    Data {
        msg: DataMessage,
        sinks: Arc<[ElementId]>,
    },
    RequestKeyframe {
        source: ElementId,
        kind: MediaKind,
    },
    LimitVideoBitrate {
        source: ElementId,
        bps: u64,
    },
    Flow {
        element: ElementId,
        media: MediaType,
        direction: FlowDirection,
        flowing: bool,
    },
    /// The element left the pipeline: close its media side.
    Close(ElementId),
}

/// A source pad: where its media goes and whether it flows.
#[derive(Debug, Default)]
struct SourcePad {
    sinks: Arc<[ElementId]>,
    last_media: Option<Instant>,
    flowing: bool,
}

pub struct Router {
    elements: HashSet<ElementId>,
    routes: Vec<Route>,
    /// (source, type) → its pad.
    sources: HashMap<(ElementId, MediaType), SourcePad>,
    /// Sinks currently reported as flowing out, by type.
    flowing_out: HashSet<(ElementId, MediaType)>,
    keyframes: KeyframeThrottle<(ElementId, MediaKind)>,
    bitrate: BitrateControl,
    next_refresh: Instant,
    out: VecDeque<Output>,
}

impl Router {
    pub fn new(now: Instant) -> Self {
        Router {
            elements: HashSet::new(),
            routes: Vec::new(),
            sources: HashMap::new(),
            flowing_out: HashSet::new(),
            keyframes: KeyframeThrottle::new(KEYFRAME_REQUEST_INTERVAL),
            bitrate: BitrateControl::default(),
            next_refresh: now + bitrate::REFRESH,
            out: VecDeque::new(),
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`Router::handle_timeout`] must run next.
    pub fn poll_timeout(&self) -> Instant {
        let mut t = self.next_refresh;
        if let Some(k) = self.keyframes.next_due() {
            t = t.min(k);
        }
        for pad in self.sources.values() {
            if let (true, Some(last)) = (pad.flowing, pad.last_media) {
                t = t.min(last + FLOW_TIMEOUT);
            }
        }
        t
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        for (src, kind) in self.keyframes.poll_due(now) {
            self.out
                .push_back(Output::RequestKeyframe { source: src, kind });
        }
        let stopped: Vec<(ElementId, MediaType)> = self
            .sources
            .iter()
            .filter(|(_, p)| {
                p.flowing && p.last_media.is_none_or(|l| now.duration_since(l) >= FLOW_TIMEOUT)
            })
            .map(|(k, _)| *k)
            .collect();
        for key in stopped {
            if let Some(p) = self.sources.get_mut(&key) {
                p.flowing = false;
            }
            self.flow(key.0, key.1, FlowDirection::In, false);
            self.sync_flow_out();
        }
        if now >= self.next_refresh {
            self.next_refresh = now + bitrate::REFRESH;
            self.update_bitrates(None, now);
        }
    }

    pub fn handle_input(&mut self, now: Instant, input: Input) {
        match input {
            Input::Attach(e) => {
                self.elements.insert(e);
            }
            Input::Detach(e) => {
                if !self.elements.remove(&e) {
                    return;
                }
                self.out.push_back(Output::Close(e));
                self.keyframes.forget(|(s, _)| *s == e);
                self.bitrate.forget(e);
                let routes: Vec<Route> = self
                    .routes
                    .iter()
                    .filter(|r| r.source != e && r.sink != e)
                    .copied()
                    .collect();
                self.sources.retain(|(s, _), _| *s != e);
                self.flowing_out.retain(|(s, _)| *s != e);
                self.set_routes(routes, now);
            }
            Input::SetRoutes(routes) => self.set_routes(routes, now),
            Input::SetBitrateLimits(e, l) => {
                self.bitrate.set_limits(e, l);
                self.update_bitrates(None, now);
            }
            Input::From(e, m) => self.from_element(now, e, m),
        }
    }

    fn flow(&mut self, element: ElementId, media: MediaType, direction: FlowDirection, on: bool) {
        self.out.push_back(Output::Flow {
            element,
            media,
            direction,
            flowing: on,
        });
    }

    /// A sink flows out while the source routed to it flows in.
    fn sync_flow_out(&mut self) {
        let mut want: HashSet<(ElementId, MediaType)> = HashSet::new();
        for ((_, media), pad) in &self.sources {
            if pad.flowing && *media != MediaType::Data {
                want.extend(pad.sinks.iter().map(|s| (*s, *media)));
            }
        }
        let mut stopped: Vec<_> = self.flowing_out.difference(&want).copied().collect();
        let mut started: Vec<_> = want.difference(&self.flowing_out).copied().collect();
        stopped.sort();
        started.sort();
        for (s, m) in stopped {
            self.flow(s, m, FlowDirection::Out, false);
        }
        for (s, m) in started {
            self.flow(s, m, FlowDirection::Out, true);
        }
        self.flowing_out = want;
    }

    fn set_routes(&mut self, mut routes: Vec<Route>, now: Instant) {
        routes.retain(|r| self.elements.contains(&r.source) && self.elements.contains(&r.sink));
        routes.sort();
        routes.dedup();
        let mut fanout: HashMap<(ElementId, MediaType), Vec<ElementId>> = HashMap::new();
        for r in &routes {
            fanout.entry((r.source, r.media)).or_default().push(r.sink);
        }
        // A sink that just joined a video source needs a keyframe to start decoding.
        let mut wants_keyframe = Vec::new();
        for ((src, media), sinks) in &fanout {
            let old = self.sources.get(&(*src, *media));
            if *media == MediaType::Video
                && sinks
                    .iter()
                    .any(|s| old.is_none_or(|o| !o.sinks.contains(s)))
            {
                wants_keyframe.push(*src);
            }
        }
        for pad in self.sources.values_mut() {
            pad.sinks = Arc::from(Vec::new());
        }
        for (key, sinks) in fanout {
            self.sources.entry(key).or_default().sinks = sinks.into();
        }
        self.routes = routes;
        self.sync_flow_out();
        wants_keyframe.sort();
        for src in wants_keyframe {
            self.request_keyframe(src, MediaKind::Video, now);
        }
        self.update_bitrates(None, now);
    }

    fn request_keyframe(&mut self, source: ElementId, kind: MediaKind, now: Instant) {
        if self.keyframes.handle_request((source, kind), now) {
            self.out.push_back(Output::RequestKeyframe { source, kind });
        }
    }

    /// Sources (of `kind`) whose media reaches `sink`.
    fn sources_of(&self, sink: ElementId, media: MediaType) -> Vec<ElementId> {
        let mut v: Vec<ElementId> = self
            .routes
            .iter()
            .filter(|r| r.sink == sink && r.media == media)
            .map(|r| r.source)
            .collect();
        v.dedup();
        v
    }

    /// Sends each video source (or only those feeding `sink`) the bitrate its sinks can take,
    /// when it changed or is due for a refresh.
    fn update_bitrates(&mut self, sink: Option<ElementId>, now: Instant) {
        let mut keys: Vec<&(ElementId, MediaType)> = self
            .sources
            .iter()
            .filter(|((_, m), p)| *m == MediaType::Video && !p.sinks.is_empty())
            .map(|(k, _)| k)
            .collect();
        keys.sort();
        for (src, _) in keys {
            let Some(pad) = self.sources.get(&(*src, MediaType::Video)) else {
                continue;
            };
            if sink.is_some_and(|k| !pad.sinks.contains(&k)) {
                continue;
            }
            if let Some(bps) = self.bitrate.due(*src, &pad.sinks, now) {
                self.out.push_back(Output::LimitVideoBitrate { source: *src, bps });
            }
        }
    }

    fn from_element(&mut self, now: Instant, e: ElementId, m: FromElement) {
        match m {
            FromElement::Rtp(pkt) => {
                let media = MediaType::from(pkt.kind);
                let pad = self.sources.entry((e, media)).or_default();
                pad.last_media = Some(now);
                let sinks = pad.sinks.clone();
                if !pad.flowing {
                    pad.flowing = true;
                    self.flow(e, media, FlowDirection::In, true);
                    self.sync_flow_out();
                }
                if !sinks.is_empty() {
                    self.out.push_back(Output::Rtp { pkt, sinks });
                }
            }
            FromElement::Data(msg) => {
                if let Some(pad) = self.sources.get(&(e, MediaType::Data)) {
                    if !pad.sinks.is_empty() {
                        let sinks = pad.sinks.clone();
                        self.out.push_back(Output::Data { msg, sinks });
                    }
                }
            }
            FromElement::BitrateEstimate { bps } => {
                self.bitrate.on_estimate(e, bps);
                self.update_bitrates(Some(e), now);
            }
            FromElement::KeyframeRequested { kind } => {
                for s in self.sources_of(e, kind.into()) {
                    self.request_keyframe(s, kind, now);
                }
            }
            FromElement::TransportUp => {
                // Packets routed to this sink before its transport came up were lost.
                for s in self.sources_of(e, MediaType::Video) {
                    self.request_keyframe(s, MediaKind::Video, now);
                }
            }
        }
    }
}
