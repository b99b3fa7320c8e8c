//! The thin task around a pipeline's [`Router`]: it owns the elements' ports and the two queues
//! into the router, and does the I/O the router asks for.

use super::bitrate::BitrateLimits;
use super::element::{ElementId, ElementPort, FromElement, GraphInbox, GRAPH_QUEUE};
use super::packet::MediaType;
use super::router::{FlowDirection, Input, Output, Route, Router};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;
use tracing::{debug, Instrument};

/// What the graph tells the control plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphEvent {
    Flow {
        element: ElementId,
        media: MediaType,
        direction: FlowDirection,
        flowing: bool,
    },
}

enum Control {
    Attach(ElementId, Arc<dyn ElementPort>),
    Detach(ElementId),
    SetRoutes(Vec<Route>),
    SetBitrateLimits(ElementId, BitrateLimits),
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
}

async fn run(
    mut ctl: mpsc::UnboundedReceiver<Control>,
    mut media: mpsc::Receiver<(ElementId, FromElement)>,
    report: Box<dyn Fn(GraphEvent) + Send>,
) {
    let mut router = Router::new(Instant::now());
    let mut ports: HashMap<ElementId, Arc<dyn ElementPort>> = HashMap::new();
    loop {
        while let Some(o) = router.poll_output() {
            match o {
                Output::Rtp { pkt, sinks } => {
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
                Output::Flow {
                    element,
                    media,
                    direction,
                    flowing,
                } => report(GraphEvent::Flow {
                    element,
                    media,
                    direction,
                    flowing,
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
                    Some(Control::Detach(id)) => router.handle_input(now, Input::Detach(id)),
                    Some(Control::SetRoutes(r)) => {
                        debug!(routes = r.len(), "routes replaced");
                        router.handle_input(now, Input::SetRoutes(r));
                    }
                    Some(Control::SetBitrateLimits(id, l)) => {
                        router.handle_input(now, Input::SetBitrateLimits(id, l));
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
