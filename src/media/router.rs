//! One router task per pipeline: receives every event of the pipeline's endpoints, forwards RTP
//! along the current routes, turns a sink's keyframe request into one to its source, and passes
//! everything else to the control plane.

use super::bitrate::{self, BitrateControl, BitrateLimits};
use super::keyframe::KeyframeThrottle;
use super::{EndpointKey, MediaEvent, MediaKind};
use crate::webrtc::{WebRtcEvent, WebRtcHandle};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::{debug, Instrument};

/// Packets of `kind` received by `source` are sent by `sink` (which may be `source` itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route {
    pub source: EndpointKey,
    pub kind: MediaKind,
    pub sink: EndpointKey,
}

enum Input {
    Attach(EndpointKey, WebRtcHandle),
    Detach(EndpointKey),
    Event(EndpointKey, WebRtcEvent),
    SetRoutes(Vec<Route>),
    SetBitrateLimits(EndpointKey, BitrateLimits),
}

/// The control plane's handle on a pipeline's router.
#[derive(Clone)]
pub struct PipelineMedia {
    tx: mpsc::UnboundedSender<Input>,
}

/// Keyframe requests to one source are merged: at most one per this interval.
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(1000);

impl PipelineMedia {
    /// Spawns the router on the current tokio runtime.
    pub fn spawn(name: String, control: mpsc::UnboundedSender<MediaEvent>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let span = tracing::info_span!("pipeline", id = %name);
        tokio::spawn(run(rx, control).instrument(span));
        PipelineMedia { tx }
    }

    /// Registers an endpoint; its events must then be fed with [`PipelineMedia::event_sender`].
    pub fn attach(&self, key: EndpointKey, handle: WebRtcHandle) {
        let _ = self.tx.send(Input::Attach(key, handle));
    }

    pub fn detach(&self, key: EndpointKey) {
        let _ = self.tx.send(Input::Detach(key));
    }

    pub fn set_routes(&self, routes: Vec<Route>) {
        let _ = self.tx.send(Input::SetRoutes(routes));
    }

    /// An endpoint's bandwidth properties changed (see [`bitrate`]).
    pub fn set_bitrate_limits(&self, key: EndpointKey, limits: BitrateLimits) {
        let _ = self.tx.send(Input::SetBitrateLimits(key, limits));
    }

    /// A sender for one endpoint's events; spawns the small task that tags them with its key.
    pub fn event_sender(&self, key: EndpointKey) -> mpsc::UnboundedSender<WebRtcEvent> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let router = self.tx.clone();
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                if router.send(Input::Event(key, ev)).is_err() {
                    break;
                }
            }
        });
        tx
    }
}

struct Router {
    endpoints: HashMap<EndpointKey, WebRtcHandle>,
    /// (source, kind) → sinks.
    fanout: HashMap<(EndpointKey, MediaKind), Vec<EndpointKey>>,
    keyframes: KeyframeThrottle<(EndpointKey, MediaKind)>,
    bitrate: BitrateControl,
    control: mpsc::UnboundedSender<MediaEvent>,
}

async fn run(mut rx: mpsc::UnboundedReceiver<Input>, control: mpsc::UnboundedSender<MediaEvent>) {
    let mut r = Router {
        endpoints: HashMap::new(),
        fanout: HashMap::new(),
        keyframes: KeyframeThrottle::new(KEYFRAME_REQUEST_INTERVAL),
        bitrate: BitrateControl::default(),
        control,
    };
    let mut tick = tokio::time::interval(KEYFRAME_REQUEST_INTERVAL / 10);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut refresh = tokio::time::interval(bitrate::REFRESH);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let input = tokio::select! {
            i = rx.recv() => match i {
                Some(i) => i,
                None => break,
            },
            _ = tick.tick(), if r.keyframes.has_deferred() => {
                r.flush_deferred_keyframe_requests();
                continue;
            }
            _ = refresh.tick() => {
                r.update_bitrates(None);
                continue;
            }
        };
        match input {
            Input::Attach(k, h) => {
                r.endpoints.insert(k, h);
            }
            Input::Detach(k) => {
                if let Some(h) = r.endpoints.remove(&k) {
                    h.close();
                }
                r.fanout.retain(|(s, _), _| *s != k);
                r.keyframes.forget(|(s, _)| *s == k);
                r.bitrate.forget(k);
                for sinks in r.fanout.values_mut() {
                    sinks.retain(|s| *s != k);
                }
                r.update_bitrates(None);
            }
            Input::SetRoutes(routes) => {
                r.set_routes(routes);
                r.update_bitrates(None);
            }
            Input::SetBitrateLimits(k, l) => {
                r.bitrate.set_limits(k, l);
                r.update_bitrates(None);
            }
            Input::Event(k, ev) => r.handle_event(k, ev),
        }
    }
    for h in r.endpoints.values() {
        h.close();
    }
    debug!("pipeline router stopped");
}

impl Router {
    fn set_routes(&mut self, routes: Vec<Route>) {
        debug!(routes = routes.len(), "routes replaced");
        let mut fanout: HashMap<(EndpointKey, MediaKind), Vec<EndpointKey>> = HashMap::new();
        for rt in &routes {
            fanout
                .entry((rt.source, rt.kind))
                .or_default()
                .push(rt.sink);
        }
        // A sink that just joined a video source needs a keyframe to start decoding.
        let mut wants_keyframe = Vec::new();
        for ((src, kind), sinks) in &fanout {
            let old = self.fanout.get(&(*src, *kind));
            if *kind == MediaKind::Video && sinks.iter().any(|s| old.is_none_or(|o| !o.contains(s)))
            {
                wants_keyframe.push(*src);
            }
        }
        self.fanout = fanout;
        for src in wants_keyframe {
            self.request_keyframe(src, MediaKind::Video);
        }
    }

    /// Asks a source for a keyframe, merged and throttled (see [`KeyframeThrottle`]).
    fn request_keyframe(&mut self, src: EndpointKey, kind: MediaKind) {
        if self.keyframes.handle_request((src, kind), Instant::now()) {
            self.send_keyframe_request(src, kind);
        }
    }

    fn send_keyframe_request(&self, src: EndpointKey, kind: MediaKind) {
        if let Some(h) = self.endpoints.get(&src) {
            h.request_keyframe(kind);
        }
    }

    /// Sends each video source (or only those feeding `sink`) the bitrate its sinks can take,
    /// when it changed or is due for a refresh.
    fn update_bitrates(&mut self, sink: Option<EndpointKey>) {
        let now = Instant::now();
        for ((src, kind), sinks) in &self.fanout {
            if *kind != MediaKind::Video || sink.is_some_and(|k| !sinks.contains(&k)) {
                continue;
            }
            if let Some(bps) = self.bitrate.due(*src, sinks, now) {
                if let Some(h) = self.endpoints.get(src) {
                    h.limit_video_bitrate(bps);
                }
            }
        }
    }

    fn flush_deferred_keyframe_requests(&mut self) {
        for (src, kind) in self.keyframes.poll_due(Instant::now()) {
            self.send_keyframe_request(src, kind);
        }
    }

    fn handle_event(&mut self, k: EndpointKey, ev: WebRtcEvent) {
        match ev {
            WebRtcEvent::Rtp(pkt) => {
                if let Some(sinks) = self.fanout.get(&(k, pkt.kind)) {
                    if let Some((last, rest)) = sinks.split_last() {
                        for s in rest {
                            if let Some(h) = self.endpoints.get(s) {
                                h.send_rtp(pkt.clone());
                            }
                        }
                        if let Some(h) = self.endpoints.get(last) {
                            h.send_rtp(pkt);
                        }
                    }
                }
            }
            WebRtcEvent::BitrateEstimate { bps } => {
                self.bitrate.on_estimate(k, bps);
                self.update_bitrates(Some(k));
            }
            WebRtcEvent::KeyframeRequested { kind } => {
                let sources: Vec<EndpointKey> = self
                    .fanout
                    .iter()
                    .filter(|((_, kd), sinks)| *kd == kind && sinks.contains(&k))
                    .map(|((s, _), _)| *s)
                    .collect();
                for s in sources {
                    self.request_keyframe(s, kind);
                }
            }
            other => {
                // A sink whose transport just came up has received nothing decodable yet: packets
                // routed to it before were dropped, so its sources must send a keyframe now.
                if matches!(
                    other,
                    WebRtcEvent::ConnectionStateChanged { connected: true }
                ) {
                    let sources: Vec<(EndpointKey, MediaKind)> = self
                        .fanout
                        .iter()
                        .filter(|((_, kind), sinks)| {
                            *kind == MediaKind::Video && sinks.contains(&k)
                        })
                        .map(|(src, _)| *src)
                        .collect();
                    for (s, kind) in sources {
                        self.request_keyframe(s, kind);
                    }
                }
                let _ = self.control.send((k, other));
            }
        }
    }
}
