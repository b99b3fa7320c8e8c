//! A pipeline's router, without I/O: routes media from sources to sinks along the flattened
//! element graph, merges keyframe requests, relays the slowest sink's bandwidth estimate to its
//! source, and tells which elements have media flowing in and out.
//!
//! Sans-I/O in str0m's and quinn's style: feed it with [`Router::handle_input`] and
//! [`Router::handle_timeout`], drain [`Router::poll_output`], and wake it at
//! [`Router::poll_timeout`]. `pipeline.rs` is the thin task that does the I/O.

use super::bitrate::{self, BitrateControl, BitrateLimits};
use super::element::{ElementId, FromElement, PadId};
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
    /// The element started or stopped producing media of this type (received from its peer, or
    /// made): the media core's only flow fact; Kurento's MediaFlowIn/Out follow from it and the
    /// element graph.
    Producing {
        element: ElementId,
        media: MediaType,
        producing: bool,
        /// The codec it started producing (None when it stops).
        codec: Option<Arc<str>>,
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
    /// Source pads that have routes or have produced media.
    sources: HashMap<PadId, SourcePad>,
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
        let stopped: Vec<PadId> = self
            .sources
            .iter()
            .filter(|(_, p)| {
                p.flowing
                    && p.last_media
                        .is_none_or(|l| now.duration_since(l) >= FLOW_TIMEOUT)
            })
            .map(|(k, _)| *k)
            .collect();
        for key in stopped {
            if let Some(p) = self.sources.get_mut(&key) {
                p.flowing = false;
            }
            self.producing(key, None);
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
                self.sources.retain(|p, _| p.element != e);
                self.set_routes(routes, now);
            }
            Input::SetRoutes(routes) => self.set_routes(routes, now),
            Input::SetBitrateLimits(e, l) => {
                self.bitrate.set_limits(e, l);
                self.update_bitrates(None, now);
            }
            Input::From(e, m) => self.on_element(now, e, m),
        }
    }

    fn producing(&mut self, pad: PadId, codec: Option<Arc<str>>) {
        self.out.push_back(Output::Producing {
            element: pad.element,
            media: pad.media,
            producing: codec.is_some(),
            codec,
        });
    }

    fn set_routes(&mut self, mut routes: Vec<Route>, now: Instant) {
        routes.retain(|r| self.elements.contains(&r.source) && self.elements.contains(&r.sink));
        routes.sort();
        routes.dedup();
        let mut fanout: HashMap<PadId, Vec<ElementId>> = HashMap::new();
        for r in &routes {
            fanout
                .entry(PadId::new(r.source, r.media))
                .or_default()
                .push(r.sink);
        }
        // A sink that just joined a video source needs a keyframe to start decoding.
        let mut wants_keyframe = Vec::new();
        for (src, sinks) in &fanout {
            let old = self.sources.get(src);
            if src.media == MediaType::Video
                && sinks
                    .iter()
                    .any(|s| old.is_none_or(|o| !o.sinks.contains(s)))
            {
                wants_keyframe.push(src.element);
            }
        }
        for pad in self.sources.values_mut() {
            pad.sinks = Arc::from(Vec::new());
        }
        for (key, sinks) in fanout {
            self.sources.entry(key).or_default().sinks = sinks.into();
        }
        self.routes = routes;
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
        let mut pads: Vec<(&PadId, &SourcePad)> = self
            .sources
            .iter()
            .filter(|(k, p)| k.media == MediaType::Video && !p.sinks.is_empty())
            .collect();
        pads.sort_by_key(|(k, _)| **k);
        for (src, pad) in pads {
            if sink.is_some_and(|k| !pad.sinks.contains(&k)) {
                continue;
            }
            if let Some(bps) = self.bitrate.due(src.element, &pad.sinks, now) {
                self.out.push_back(Output::LimitVideoBitrate {
                    source: src.element,
                    bps,
                });
            }
        }
    }

    fn on_element(&mut self, now: Instant, e: ElementId, m: FromElement) {
        match m {
            FromElement::Rtp(pkt) => {
                let media = MediaType::from(pkt.kind);
                let pad = self.sources.entry(PadId::new(e, media)).or_default();
                pad.last_media = Some(now);
                let sinks = pad.sinks.clone();
                if !pad.flowing {
                    pad.flowing = true;
                    self.producing(PadId::new(e, media), Some(pkt.codec.name.clone()));
                }
                if !sinks.is_empty() {
                    self.out.push_back(Output::Rtp { pkt, sinks });
                }
            }
            FromElement::Data(msg) => {
                if let Some(pad) = self.sources.get(&PadId::new(e, MediaType::Data)) {
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
                crate::metrics::keyframe_requested();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::packet::{CodecId, MediaExtensions};

    const MS: Duration = Duration::from_millis(1);

    fn ids<const N: usize>() -> [ElementId; N] {
        std::array::from_fn(|_| ElementId::next())
    }

    fn rtp(kind: MediaKind, seq: u16, t0: Instant) -> RtpPacket {
        RtpPacket {
            kind,
            codec: match kind {
                MediaKind::Audio => CodecId::new("opus", 48000, Some(2), ""),
                MediaKind::Video => CodecId::new("VP8", 90000, None, ""),
            },
            payload_type: 96,
            ssrc: 1,
            seq,
            timestamp: 0,
            marker: true,
            payload: Arc::from(vec![seq as u8]),
            is_keyframe_hint: false,
            ext: MediaExtensions::default(),
            arrival: t0,
        }
    }

    fn route(source: ElementId, media: MediaType, sink: ElementId) -> Route {
        Route {
            source,
            media,
            sink,
        }
    }

    fn drain(r: &mut Router) -> Vec<Output> {
        std::iter::from_fn(|| r.poll_output()).collect()
    }

    /// A router with these elements attached and nothing queued.
    fn router(t0: Instant, elements: &[ElementId]) -> Router {
        let mut r = Router::new(t0);
        for e in elements {
            r.handle_input(t0, Input::Attach(*e));
        }
        drain(&mut r);
        r
    }

    fn sinks_of_rtp(out: &[Output]) -> Vec<Vec<ElementId>> {
        out.iter()
            .filter_map(|o| match o {
                Output::Rtp { sinks, .. } => Some(sinks.to_vec()),
                _ => None,
            })
            .collect()
    }

    fn keyframe_requests(out: &[Output]) -> Vec<ElementId> {
        out.iter()
            .filter_map(|o| match o {
                Output::RequestKeyframe { source, .. } => Some(*source),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn join_leave_and_source_switch_route_media_to_the_current_sinks() {
        let t0 = Instant::now();
        let [a, b, v1, v2] = ids();
        let mut r = router(t0, &[a, b, v1, v2]);
        let video = MediaType::Video;
        // (routes set, packet source, expected sinks of that packet)
        let table: Vec<(Vec<Route>, ElementId, Vec<Vec<ElementId>>)> = vec![
            (vec![], a, vec![]),
            (vec![route(a, video, v1)], a, vec![vec![v1]]),
            (
                vec![route(a, video, v1), route(a, video, v2)],
                a,
                vec![vec![v1, v2]],
            ),
            (vec![route(a, video, v2)], a, vec![vec![v2]]),
            // v2 switches to b: a's media goes nowhere, b's to v2.
            (vec![route(b, video, v2)], a, vec![]),
            (vec![route(b, video, v2)], b, vec![vec![v2]]),
            // Self-loop (hello-world).
            (vec![route(a, video, a)], a, vec![vec![a]]),
        ];
        for (i, (routes, src, want)) in table.into_iter().enumerate() {
            let now = t0 + MS * (i as u32 * 10);
            r.handle_input(now, Input::SetRoutes(routes));
            drain(&mut r);
            r.handle_input(
                now,
                Input::From(src, FromElement::Rtp(rtp(MediaKind::Video, i as u16, t0))),
            );
            let mut got = sinks_of_rtp(&drain(&mut r));
            for g in &mut got {
                g.sort();
            }
            let mut want = want;
            for w in &mut want {
                w.sort();
            }
            assert_eq!(got, want, "row {i}");
        }
    }

    #[test]
    fn a_detached_element_leaves_every_route_and_is_closed() {
        let t0 = Instant::now();
        let [a, v1, v2] = ids();
        let mut r = router(t0, &[a, v1, v2]);
        r.handle_input(
            t0,
            Input::SetRoutes(vec![
                route(a, MediaType::Video, v1),
                route(a, MediaType::Video, v2),
            ]),
        );
        drain(&mut r);
        r.handle_input(t0, Input::Detach(v1));
        assert!(drain(&mut r).contains(&Output::Close(v1)));
        r.handle_input(
            t0,
            Input::From(a, FromElement::Rtp(rtp(MediaKind::Video, 1, t0))),
        );
        assert_eq!(sinks_of_rtp(&drain(&mut r)), vec![vec![v2]]);
        // Routes naming an element that is not attached are ignored.
        r.handle_input(t0, Input::SetRoutes(vec![route(a, MediaType::Video, v1)]));
        r.handle_input(
            t0,
            Input::From(a, FromElement::Rtp(rtp(MediaKind::Video, 2, t0))),
        );
        assert!(sinks_of_rtp(&drain(&mut r)).is_empty());
    }

    #[test]
    fn keyframe_requests_are_merged_once_per_interval() {
        let t0 = Instant::now();
        let [src, v1, v2, v3] = ids();
        let mut r = router(t0, &[src, v1, v2, v3]);
        // Joining asks the source at once.
        r.handle_input(t0, Input::SetRoutes(vec![route(src, MediaType::Video, v1)]));
        assert_eq!(keyframe_requests(&drain(&mut r)), vec![src]);
        // (time since t0 in ms, input, keyframe requests to the source expected right after it)
        let table: Vec<(u32, Option<Input>, usize)> = vec![
            (
                10,
                Some(Input::SetRoutes(vec![
                    route(src, MediaType::Video, v1),
                    route(src, MediaType::Video, v2),
                ])),
                0,
            ),
            (
                20,
                Some(Input::From(
                    v1,
                    FromElement::KeyframeRequested {
                        kind: MediaKind::Video,
                    },
                )),
                0,
            ),
            (30, Some(Input::From(v2, FromElement::TransportUp)), 0),
            (500, None, 0),
            // The interval ends: the three merged requests cost one keyframe.
            (1000, None, 1),
            (1500, None, 0),
            // After a quiet interval a request goes out at once.
            (
                2100,
                Some(Input::From(
                    v2,
                    FromElement::KeyframeRequested {
                        kind: MediaKind::Video,
                    },
                )),
                1,
            ),
            // A sink that gets no media from the source asks nobody.
            (
                3300,
                Some(Input::From(
                    v3,
                    FromElement::KeyframeRequested {
                        kind: MediaKind::Video,
                    },
                )),
                0,
            ),
        ];
        for (ms, input, want) in table {
            let now = t0 + MS * ms;
            match input {
                Some(i) => r.handle_input(now, i),
                None => {
                    assert!(
                        r.poll_timeout() <= now || want == 0,
                        "woken in time at {ms} ms"
                    );
                    r.handle_timeout(now)
                }
            }
            let got = keyframe_requests(&drain(&mut r));
            assert_eq!(got.len(), want, "at {ms} ms: {got:?}");
            assert!(got.iter().all(|s| *s == src));
        }
    }

    #[test]
    fn the_source_is_asked_for_the_slowest_sinks_bitrate() {
        let t0 = Instant::now();
        let [src, v1, v2] = ids();
        let mut r = router(t0, &[src, v1, v2]);
        let both = vec![
            route(src, MediaType::Video, v1),
            route(src, MediaType::Video, v2),
        ];
        r.handle_input(t0, Input::SetRoutes(both));
        drain(&mut r);
        let limit = |out: Vec<Output>| {
            out.into_iter()
                .filter_map(|o| match o {
                    Output::LimitVideoBitrate { source, bps } if source == src => Some(bps),
                    _ => None,
                })
                .last()
        };
        // (ms, input, REMB sent to the source right after it)
        let table: Vec<(u32, Input, Option<u64>)> = vec![
            (
                10,
                Input::From(v1, FromElement::BitrateEstimate { bps: 800_000 }),
                Some(800_000),
            ),
            (
                20,
                Input::From(v2, FromElement::BitrateEstimate { bps: 300_000 }),
                Some(300_000),
            ),
            // Not the minimum any more, and under 3 %: nothing new.
            (
                30,
                Input::From(v1, FromElement::BitrateEstimate { bps: 900_000 }),
                None,
            ),
            (
                40,
                Input::From(v2, FromElement::BitrateEstimate { bps: 305_000 }),
                None,
            ),
            // The slow viewer leaves.
            (
                50,
                Input::SetRoutes(vec![route(src, MediaType::Video, v1)]),
                Some(900_000),
            ),
            // The viewer's send limit clamps its estimate; never below KMS's 30 kbps floor.
            (
                60,
                Input::SetBitrateLimits(
                    v1,
                    BitrateLimits {
                        max_send: Some(500_000),
                        ..Default::default()
                    },
                ),
                Some(500_000),
            ),
            (
                70,
                Input::From(v1, FromElement::BitrateEstimate { bps: 1_000 }),
                Some(bitrate::MIN_REMB_BPS),
            ),
        ];
        for (ms, input, want) in table {
            r.handle_input(t0 + MS * ms, input);
            assert_eq!(limit(drain(&mut r)), want, "at {ms} ms");
        }
        // Unchanged values are refreshed every second.
        r.handle_timeout(t0 + MS * 1100);
        assert_eq!(limit(drain(&mut r)), Some(bitrate::MIN_REMB_BPS));
    }

    #[test]
    fn data_goes_only_along_data_routes() {
        let t0 = Instant::now();
        let [a, b, c] = ids();
        let mut r = router(t0, &[a, b, c]);
        r.handle_input(
            t0,
            Input::SetRoutes(vec![
                route(a, MediaType::Data, a),
                route(a, MediaType::Data, b),
                route(a, MediaType::Video, c),
            ]),
        );
        drain(&mut r);
        let msg = DataMessage {
            label: "chat".into(),
            binary: false,
            data: Arc::from(b"hi".to_vec()),
        };
        r.handle_input(t0, Input::From(a, FromElement::Data(msg.clone())));
        let out = drain(&mut r);
        let mut sinks: Vec<ElementId> = out
            .iter()
            .find_map(|o| match o {
                Output::Data { msg: m, sinks } if *m == msg => Some(sinks.to_vec()),
                _ => None,
            })
            .unwrap_or_default();
        sinks.sort();
        let mut want = vec![a, b];
        want.sort();
        assert_eq!(sinks, want);
        // Nothing routes c's or b's data anywhere.
        r.handle_input(t0, Input::From(b, FromElement::Data(msg)));
        assert!(drain(&mut r).is_empty());
    }

    #[test]
    fn producing_follows_the_media_whatever_the_routes() {
        let t0 = Instant::now();
        let [src, sink] = ids();
        let mut r = router(t0, &[src, sink]);
        let producing = |on: bool| Output::Producing {
            element: src,
            media: MediaType::Audio,
            producing: on,
            codec: on.then(|| "opus".into()),
        };
        let flows = |out: Vec<Output>| -> Vec<Output> {
            out.into_iter()
                .filter(|o| matches!(o, Output::Producing { .. }))
                .collect()
        };
        let audio =
            |ms: u32| Input::From(src, FromElement::Rtp(rtp(MediaKind::Audio, ms as u16, t0)));
        // (ms, input or a timeout, flow changes expected)
        let table: Vec<(u32, Option<Input>, Vec<Output>)> = vec![
            (0, Some(audio(0)), vec![producing(true)]),
            (20, Some(audio(20)), vec![]),
            (
                30,
                Some(Input::SetRoutes(vec![route(src, MediaType::Audio, sink)])),
                vec![],
            ),
            (1000, None, vec![]),
            // Two seconds of silence.
            (2020, None, vec![producing(false)]),
            (2500, Some(audio(2500)), vec![producing(true)]),
            (2600, Some(Input::SetRoutes(vec![])), vec![]),
        ];
        for (ms, input, want) in table {
            let now = t0 + MS * ms;
            match input {
                Some(i) => r.handle_input(now, i),
                None => r.handle_timeout(now),
            }
            assert_eq!(flows(drain(&mut r)), want, "at {ms} ms");
        }
        assert!(
            r.poll_timeout() <= t0 + MS * 4500,
            "wakes for the next flow timeout"
        );
    }
}
