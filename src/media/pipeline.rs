//! The thin task around a pipeline's [`Router`]: it owns the elements' ports and the two queues
//! into the router, and does the I/O the router asks for.

use super::bitrate::BitrateLimits;
use super::element::{ElementId, ElementPort, FromElement, GraphInbox, GRAPH_QUEUE};
use super::packet::{MediaKind, MediaType};
use super::router::{Input, Output, Route, Router};
use super::stats::LatencyAvg;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, Instrument};

/// What the graph tells the control plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphEvent {
    /// An element started or stopped producing media of this type.
    Producing {
        element: ElementId,
        media: MediaType,
        producing: bool,
        /// The codec it started producing (None when it stops).
        codec: Option<Arc<str>>,
    },
}

enum Control {
    Attach(ElementId, Arc<dyn ElementPort>),
    Detach(ElementId),
    SetRoutes(Vec<Route>),
    SetBitrateLimits(ElementId, BitrateLimits),
    SetLatencyStats(bool),
    InputLatency(ElementId, oneshot::Sender<InputLatency>),
}

/// Average time (ns) from a packet's arrival at the server to its hand-over to an element,
/// (audio, video); None when no packet of that kind reached the element while measuring.
pub type InputLatency = [Option<f64>; 2];

fn kind_index(k: MediaKind) -> usize {
    match k {
        MediaKind::Audio => 0,
        MediaKind::Video => 1,
    }
}

/// The control plane's handle on a pipeline's router.
///
/// Queues: control messages (this handle's methods) travel on an unbounded channel and are never
/// dropped; each one is the result of a control operation, whose rate the JSON-RPC limits bound.
/// Media travels on the bounded queue behind [`GraphInbox`] (dropped and counted when full).
#[derive(Clone)]
pub struct PipelineMedia {
    ctl: mpsc::UnboundedSender<Control>,
    media: mpsc::Sender<(ElementId, FromElement)>,
}

impl PipelineMedia {
    /// Spawns the router on the current tokio runtime. `report` runs on the router's task.
    pub fn spawn(name: String, report: impl Fn(GraphEvent) + Send + 'static) -> Self {
        let (ctl, ctl_rx) = mpsc::unbounded_channel();
        let (media, media_rx) = mpsc::channel(GRAPH_QUEUE);
        let span = tracing::info_span!("pipeline", id = %name);
        tokio::spawn(run(ctl_rx, media_rx, Box::new(report)).instrument(span));
        PipelineMedia { ctl, media }
    }

    /// The queue an element of this pipeline sends its media on.
    pub fn inbox(&self, id: ElementId) -> GraphInbox {
        GraphInbox::new(id, self.media.clone())
    }

    /// Adds an element's media side to the graph.
    pub fn attach(&self, id: ElementId, port: Arc<dyn ElementPort>) {
        let _ = self.ctl.send(Control::Attach(id, port));
    }

    /// Removes an element; its port is closed.
    pub fn detach(&self, id: ElementId) {
        let _ = self.ctl.send(Control::Detach(id));
    }

    pub fn set_routes(&self, routes: Vec<Route>) {
        let _ = self.ctl.send(Control::SetRoutes(routes));
    }

    /// An element's bandwidth properties changed (see [`super::bitrate`]).
    pub fn set_bitrate_limits(&self, id: ElementId, limits: BitrateLimits) {
        let _ = self.ctl.send(Control::SetBitrateLimits(id, limits));
    }

    /// MediaPipeline `latencyStats`: measures input latencies from now on (off forgets them).
    pub fn set_latency_stats(&self, on: bool) {
        let _ = self.ctl.send(Control::SetLatencyStats(on));
    }

    /// The element's input latencies; all None when not measuring or the router is gone.
    pub async fn input_latency(&self, id: ElementId) -> InputLatency {
        let (tx, rx) = oneshot::channel();
        if self.ctl.send(Control::InputLatency(id, tx)).is_err() {
            return [None, None];
        }
        rx.await.unwrap_or([None, None])
    }
}

async fn run(
    mut ctl: mpsc::UnboundedReceiver<Control>,
    mut media: mpsc::Receiver<(ElementId, FromElement)>,
    report: Box<dyn Fn(GraphEvent) + Send>,
) {
    let mut router = Router::new(Instant::now());
    let mut ports: HashMap<ElementId, Arc<dyn ElementPort>> = HashMap::new();
    // Only while latencyStats is on (as KMS): otherwise the media path pays nothing for it.
    let mut latency: Option<HashMap<ElementId, [LatencyAvg; 2]>> = None;
    loop {
        while let Some(o) = router.poll_output() {
            match o {
                Output::Rtp { pkt, sinks } => {
                    if let Some(l) = latency.as_mut() {
                        let now = Instant::now();
                        for s in sinks.iter() {
                            l.entry(*s).or_default()[kind_index(pkt.kind)].record(pkt.arrival, now);
                        }
                    }
                    if let Some((last, rest)) = sinks.split_last() {
                        for s in rest {
                            if let Some(p) = ports.get(s) {
                                p.send_rtp(pkt.clone());
                            }
                        }
                        if let Some(p) = ports.get(last) {
                            p.send_rtp(pkt);
                        }
                    }
                }
                Output::Data { msg, sinks } => {
                    for s in sinks.iter() {
                        if let Some(p) = ports.get(s) {
                            p.send_data(msg.clone());
                        }
                    }
                }
                Output::RequestKeyframe { source, kind } => {
                    if let Some(p) = ports.get(&source) {
                        p.request_keyframe(kind);
                    }
                }
                Output::LimitVideoBitrate { source, bps } => {
                    if let Some(p) = ports.get(&source) {
                        p.limit_video_bitrate(bps);
                    }
                }
                Output::Producing {
                    element,
                    media,
                    producing,
                    codec,
                } => report(GraphEvent::Producing {
                    element,
                    media,
                    producing,
                    codec,
                }),
                Output::Close(e) => {
                    if let Some(p) = ports.remove(&e) {
                        p.close();
                    }
                }
            }
        }
        let deadline = router.poll_timeout();
        tokio::select! {
            biased;
            c = ctl.recv() => {
                let now = Instant::now();
                match c {
                    None => break,
                    Some(Control::Attach(id, port)) => {
                        ports.insert(id, port);
                        router.handle_input(now, Input::Attach(id));
                    }
                    Some(Control::Detach(id)) => {
                        if let Some(l) = latency.as_mut() {
                            l.remove(&id);
                        }
                        router.handle_input(now, Input::Detach(id));
                    }
                    Some(Control::SetRoutes(r)) => {
                        debug!(routes = r.len(), "routes replaced");
                        router.handle_input(now, Input::SetRoutes(r));
                    }
                    Some(Control::SetBitrateLimits(id, l)) => {
                        router.handle_input(now, Input::SetBitrateLimits(id, l));
                    }
                    Some(Control::SetLatencyStats(on)) => {
                        if on != latency.is_some() {
                            latency = on.then(HashMap::new);
                        }
                    }
                    Some(Control::InputLatency(id, reply)) => {
                        let avg = latency
                            .as_ref()
                            .and_then(|l| l.get(&id))
                            .map_or([None, None], |[a, v]| [a.avg_ns(), v.avg_ns()]);
                        let _ = reply.send(avg);
                    }
                }
            }
            Some((id, m)) = media.recv() => router.handle_input(Instant::now(), Input::From(id, m)),
            _ = tokio::time::sleep_until(deadline.into()) => router.handle_timeout(Instant::now()),
        }
    }
    for p in ports.values() {
        p.close();
    }
    debug!("pipeline router stopped");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{CodecId, MediaExtensions, RtpPacket};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[derive(Default)]
    struct Sink(AtomicUsize);
    impl ElementPort for Sink {
        fn send_rtp(&self, _: RtpPacket) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
        fn request_keyframe(&self, _: MediaKind) {}
        fn close(&self) {}
    }

    fn video(arrival: Instant) -> FromElement {
        FromElement::Rtp(RtpPacket {
            kind: MediaKind::Video,
            codec: CodecId::new("VP8", 90000, None, ""),
            payload_type: 96,
            ssrc: 1,
            seq: 1,
            timestamp: 0,
            marker: true,
            payload: Arc::from(vec![0u8]),
            is_keyframe_hint: false,
            ext: MediaExtensions::default(),
            arrival,
        })
    }

    #[tokio::test]
    async fn input_latency_is_measured_only_while_latency_stats_is_on() {
        let media = PipelineMedia::spawn("latency".into(), |_| {});
        let (a, b) = (ElementId::next(), ElementId::next());
        let sink = Arc::new(Sink::default());
        media.attach(a, Arc::new(Sink::default()));
        media.attach(b, sink.clone());
        media.set_routes(vec![Route {
            source: a,
            media: MediaType::Video,
            sink: b,
        }]);
        // Control messages overtake queued media, so each step waits for the hand-over.
        let delivered = |n: usize| {
            let sink = sink.clone();
            async move {
                for _ in 0..1000 {
                    if sink.0.load(Ordering::Relaxed) >= n {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                panic!("packet {n} never reached the sink");
            }
        };
        let inbox = media.inbox(a);
        let arrived = Instant::now() - Duration::from_millis(5);
        inbox.send(video(arrived));
        delivered(1).await;
        assert_eq!(media.input_latency(b).await, [None, None]);
        media.set_latency_stats(true);
        // Queued behind the switch: the router has measuring on when this one arrives.
        assert_eq!(media.input_latency(b).await, [None, None]);
        inbox.send(video(arrived));
        delivered(2).await;
        let [audio, video_ns] = media.input_latency(b).await;
        assert_eq!(audio, None);
        assert!(video_ns.is_some_and(|ns| ns >= 5e6), "{video_ns:?}");
        media.set_latency_stats(false);
        assert_eq!(media.input_latency(b).await, [None, None]);
    }
}
