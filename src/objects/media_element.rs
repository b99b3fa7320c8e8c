//! MediaElement: the element graph (connect/disconnect and their queries), flow state, stats.

use super::class::ClassBehaviour;
use super::graph::{Connection, MediaType};
use super::sdp_endpoint::SdpAgent;
use super::{opt_str, Outcome, Registry};
use crate::media::{
    BitrateLimits, ElementId, ElementPort, FlowDirection, GraphEvent, MediaKind, PipelineMedia,
};
use kurento_protocol::{ErrorKind, ObjectId, RpcError};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// The media side of an element that produces or consumes media itself: its node in the
/// pipeline's graph, and the MediaElement state Kurento defines for it (flow in and out per
/// media type) plus BaseRtpEndpoint's media state.
pub struct ElementMedia {
    pub id: ElementId,
    pipeline: PipelineMedia,
    port: Arc<dyn ElementPort>,
    flow: [[bool; 3]; 2],
    /// BaseRtpEndpoint `mediaState`: CONNECTED once media has arrived.
    pub media_connected: bool,
    /// BaseRtpEndpoint `connectionState`: the transport is up.
    pub connected: bool,
    /// SdpEndpoint's offer/answer, for endpoints that negotiate with SDP.
    pub sdp: Option<Arc<dyn SdpAgent>>,
}

fn dir_index(d: FlowDirection) -> usize {
    match d {
        FlowDirection::In => 0,
        FlowDirection::Out => 1,
    }
}

impl ElementMedia {
    /// What the pipeline measured for this element (latencyStats).
    pub fn input_latency(
        &self,
    ) -> impl std::future::Future<Output = crate::media::InputLatency> + Send + 'static {
        let (pipeline, id) = (self.pipeline.clone(), self.id);
        async move { pipeline.input_latency(id).await }
    }

    /// Adds the element to its pipeline's graph.
    pub fn attach(id: ElementId, pipeline: &PipelineMedia, port: Arc<dyn ElementPort>) -> Self {
        pipeline.attach(id, port.clone());
        ElementMedia {
            id,
            pipeline: pipeline.clone(),
            port,
            flow: [[false; 3]; 2],
            media_connected: false,
            connected: false,
            sdp: None,
        }
    }

    pub fn with_sdp(mut self, sdp: Arc<dyn SdpAgent>) -> Self {
        self.sdp = Some(sdp);
        self
    }

    pub fn request_keyframe(&self, kind: MediaKind) {
        self.port.request_keyframe(kind);
    }

    pub fn detach(&self) {
        self.pipeline.detach(self.id);
    }

    pub fn flowing(&self, d: FlowDirection, t: MediaType) -> bool {
        self.flow[dir_index(d)][t.index()]
    }

    pub fn set_bitrate_limits(&self, l: BitrateLimits) {
        self.pipeline.set_bitrate_limits(self.id, l);
    }
}

/// MediaFlowIn/OutStateChanged fields, as KMS sends them.
pub(super) fn flow_fields(flowing: bool, t: MediaType) -> Map<String, Value> {
    match json!({
        "state": if flowing { "FLOWING" } else { "NOT_FLOWING" },
        "padName": "default",
        "mediaType": t.as_str(),
    }) {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// A flow change reported by a pipeline's graph becomes element state and Kurento events.
pub(super) fn on_graph_event(reg: &mut Registry, ev: GraphEvent) {
    let GraphEvent::Flow {
        element,
        media,
        direction,
        flowing,
    } = ev;
    let Some(id) = reg.endpoints.get(&element).cloned() else {
        return;
    };
    let Some(obj) = reg.get_mut(&id) else { return };
    let is_rtp_endpoint = obj.is_a("BaseRtpEndpoint");
    let Some(e) = obj.element.as_mut() else {
        return;
    };
    let slot = &mut e.flow[dir_index(direction)][media.index()];
    if *slot == flowing {
        return;
    }
    *slot = flowing;
    let mut raise = Vec::new();
    if direction == FlowDirection::In && flowing && is_rtp_endpoint && !e.media_connected {
        e.media_connected = true;
        raise.push((
            "MediaStateChanged",
            match json!({"oldState": "DISCONNECTED", "newState": "CONNECTED"}) {
                Value::Object(m) => m,
                _ => Map::new(),
            },
        ));
        raise.push(("MediaSessionStarted", Map::new()));
    }
    let name = match direction {
        FlowDirection::In => "MediaFlowInStateChanged",
        FlowDirection::Out => "MediaFlowOutStateChanged",
    };
    tracing::info!(element = %id, "media {} {}: {}", media.as_str(), if direction == FlowDirection::In { "in" } else { "out" }, if flowing { "FLOWING" } else { "NOT_FLOWING" });
    raise.push((name, flow_fields(flowing, media)));
    for (n, f) in raise {
        reg.raise(&id, n, f);
    }
}

fn media_type(p: &Map<String, Value>, key: &str) -> Option<MediaType> {
    opt_str(p, key).and_then(MediaType::parse)
}

fn desc(p: &Map<String, Value>, key: &str) -> String {
    opt_str(p, key).unwrap_or("default").to_string()
}

fn invoke(
    reg: &mut Registry,
    id: &ObjectId,
    method: &str,
    p: &Map<String, Value>,
) -> Result<Outcome, RpcError> {
    match method {
        "connect" | "disconnect" => {
            let sink = ObjectId::from_wire(opt_str(p, "sink").unwrap_or_default());
            let src_pipe = reg.require(id)?.pipeline.clone();
            let sink_pipe = reg.require(&sink)?.pipeline.clone();
            if src_pipe != sink_pipe {
                return Err(RpcError::new(
                    ErrorKind::ConnectError,
                    "Cannot connect elements that belong to different pipelines",
                ));
            }
            let ty = media_type(p, "mediaType");
            let sd = desc(p, "sourceMediaDescription");
            let kd = desc(p, "sinkMediaDescription");
            if method == "connect" {
                for t in ty.map(|t| vec![t]).unwrap_or_else(|| MediaType::ALL.to_vec()) {
                    reg.link(Connection {
                        source: id.clone(),
                        sink: sink.clone(),
                        media_type: t,
                        source_description: sd.clone(),
                        sink_description: kd.clone(),
                    });
                }
            } else {
                reg.unlink(id, &sink, ty, &sd, &kd);
            }
            if let Some(pl) = src_pipe {
                reg.update_routes(&pl);
            }
            Outcome::null()
        }
        "getSourceConnections" | "getSinkConnections" => {
            let ty = media_type(p, "mediaType");
            let d = opt_str(p, "description");
            let as_sink = method == "getSourceConnections";
            let list: Vec<Value> = reg
                .connections()
                .iter()
                .filter(|c| if as_sink { &c.sink == id } else { &c.source == id })
                .filter(|c| ty.is_none_or(|t| c.media_type == t))
                .filter(|c| {
                    d.is_none_or(|d| if as_sink { c.sink_description == d } else { c.source_description == d })
                })
                .map(Connection::to_value)
                .collect();
            Outcome::value(Value::Array(list))
        }
        "getGstreamerDot" | "dumpGstreamerDot" => {
            let pipeline = reg.require(id)?.pipeline.clone().unwrap_or_else(|| id.clone());
            let dot = super::media_pipeline::dot(reg, &pipeline);
            Outcome::value(if method == "getGstreamerDot" { Value::String(dot) } else { Value::Null })
        }
        "isMediaFlowingIn" | "isMediaFlowingOut" => {
            let ty = media_type(p, "mediaType");
            let obj = reg.require(id)?;
            let dir = if method == "isMediaFlowingIn" {
                FlowDirection::In
            } else {
                FlowDirection::Out
            };
            let flowing = match (&obj.element, ty) {
                (Some(e), Some(t)) => e.flowing(dir, t),
                _ => false,
            };
            Outcome::value(flowing)
        }
        // Nothing is ever transcoded: packets are forwarded as they came.
        "isMediaTranscoding" => Outcome::value(false),
        "getStats" => {
            let class = reg.require(id)?.class.name.clone();
            match super::class::hierarchy(&class).find_map(|b| b.stats) {
                Some(stats) => stats(reg, id, media_type(p, "mediaType")),
                None => {
                    if !super::media_pipeline::latency_stats(reg, id) {
                        return Outcome::value(Value::Object(Map::new()));
                    }
                    // Elements the router forwards through (no media side of their own) have
                    // no input of their own to measure: their entry carries no latencies.
                    let input = reg
                        .get(id)
                        .and_then(|o| o.element.as_ref())
                        .map(ElementMedia::input_latency);
                    let kinds = super::stats::kinds_of(media_type(p, "mediaType"));
                    let element = id.to_string();
                    Ok(Outcome::Pending(Box::pin(async move {
                        let mut out = Map::new();
                        let input = match input {
                            Some(f) => f.await,
                            None => [None, None],
                        };
                        super::stats::element_entry(&mut out, &element, input, &kinds, None);
                        Ok(Value::Object(out))
                    })))
                }
            }
        }
        "setOutputBitrate" => {
            let v = p.get("bitrate").cloned().unwrap_or(Value::Null);
            if let Some(o) = reg.get_mut(id) {
                o.props.insert("outputBitrate".into(), v);
            }
            Outcome::null()
        }
        "setAudioFormat" | "setVideoFormat" => Err(RpcError::new(
            ErrorKind::NotImplemented,
            format!(
                "MediaElement.{method} forces transcoding to fixed caps; kurento-media-server-rs forwards packets \
                 and never transcodes, so codecs are negotiated end to end instead"
            ),
        )),
        _ => Err(super::unimplemented::method("MediaElement", method)),
    }
}

pub(super) const CLASS: ClassBehaviour = ClassBehaviour {
    name: "MediaElement",
    implements: |_, m| !matches!(m, "setAudioFormat" | "setVideoFormat"),
    invoke,
    ..ClassBehaviour::EMPTY
};
