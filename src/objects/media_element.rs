//! MediaElement: the element graph (connect/disconnect and their queries), flow state, stats.

use super::class::ClassBehaviour;
use super::graph::{Connection, MediaType};
use super::sdp_endpoint::SdpAgent;
use super::{opt_str, Outcome, Registry};
use crate::media::{BitrateLimits, ElementId, ElementPort, GraphEvent, MediaKind, PipelineMedia};
use kurento_protocol::{ErrorKind, ObjectId, RpcError};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// The media side of an element that produces or consumes media itself: its node in the
/// pipeline's graph, whether it produces media of each type (what Kurento's flow states derive
/// from), BaseRtpEndpoint's media and connection state and SdpEndpoint's agent.
pub struct ElementMedia {
    pub id: ElementId,
    pipeline: PipelineMedia,
    port: Arc<dyn ElementPort>,
    /// The element produces media of each type (received from its peer, or made).
    pub producing: [bool; 3],
    /// The codec it last started producing, per type.
    pub produced_codec: [Option<Arc<str>>; 3],
    /// BaseRtpEndpoint `mediaState`: CONNECTED once media has arrived.
    pub media_connected: bool,
    /// BaseRtpEndpoint `connectionState`: the transport is up.
    pub connected: bool,
    /// SdpEndpoint's offer/answer, for endpoints that negotiate with SDP.
    pub sdp: Option<Arc<dyn SdpAgent>>,
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
            producing: [false; 3],
            produced_codec: [None, None, None],
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

/// Kurento's flow states of an element, per media type: [in, out].
pub type FlowState = [[bool; 3]; 2];
const IN: usize = 0;
const OUT: usize = 1;

/// An element started or stopped producing media: BaseRtpEndpoint's media state, then the flow
/// states of every element of its pipeline (which follow from it through the graph).
pub(super) fn on_graph_event(reg: &mut Registry, ev: GraphEvent) {
    let GraphEvent::Producing {
        element,
        media,
        producing,
        codec,
    } = ev;
    let Some(id) = reg.endpoints.get(&element).cloned() else {
        return;
    };
    let Some(obj) = reg.get_mut(&id) else { return };
    let is_rtp_endpoint = obj.is_a("BaseRtpEndpoint");
    let pipeline = obj.pipeline.clone();
    let Some(e) = obj.element.as_mut() else {
        return;
    };
    e.producing[media.index()] = producing;
    let new_codec = codec.is_some() && e.produced_codec[media.index()] != codec;
    if let Some(c) = codec {
        e.produced_codec[media.index()] = Some(c);
    }
    tracing::info!(element = %id, "{} media {}", media.as_str(), if producing { "arriving" } else { "stopped" });
    if producing && is_rtp_endpoint && !e.media_connected {
        e.media_connected = true;
        let state = match json!({"oldState": "DISCONNECTED", "newState": "CONNECTED"}) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        reg.raise(&id, "MediaStateChanged", state);
        reg.raise(&id, "MediaSessionStarted", Map::new());
    }
    if let Some(p) = pipeline {
        // A format forced on this element's output needs its codec to start transcoding.
        if new_codec && reg.transcoders.forces(&id) {
            reg.update_routes(&p);
        } else {
            update_flows(reg, &p);
        }
    }
}

/// Brings every element's MediaFlowIn/Out state in a pipeline up to date with what its sources
/// produce and how the elements are connected, raising an event for each change. As KMS defines
/// them: media *in* flows into the element's sink pad from the pipeline (a WebRtcEndpoint sending
/// to its browser has media flowing in), media *out* flows from its source pad into the pipeline
/// (a WebRtcEndpoint whose browser sends, connected to something).
pub(super) fn update_flows(reg: &mut Registry, pipeline: &ObjectId) {
    let members: Vec<ObjectId> = reg
        .objects
        .values()
        .filter(|o| o.pipeline.as_ref() == Some(pipeline) && o.is_a("MediaElement"))
        .map(|o| o.id.clone())
        .collect();
    let mut changes = Vec::new();
    for id in members {
        let mut want: FlowState = [[false; 3]; 2];
        for t in [MediaType::Audio, MediaType::Video] {
            let (i, o) = super::graph::flow_of(reg, &id, t);
            want[IN][t.index()] = i;
            want[OUT][t.index()] = o;
        }
        let Some(obj) = reg.get_mut(&id) else {
            continue;
        };
        if obj.flow == want {
            continue;
        }
        for (dir, name) in [
            (IN, "MediaFlowInStateChanged"),
            (OUT, "MediaFlowOutStateChanged"),
        ] {
            for t in [MediaType::Audio, MediaType::Video] {
                if obj.flow[dir][t.index()] != want[dir][t.index()] {
                    changes.push((id.clone(), name, want[dir][t.index()], t));
                }
            }
        }
        obj.flow = want;
    }
    for (id, name, flowing, t) in changes {
        tracing::info!(element = %id, "{name}: {} {}", t.as_str(), if flowing { "FLOWING" } else { "NOT_FLOWING" });
        reg.raise(&id, name, flow_fields(flowing, t));
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
                for t in ty
                    .map(|t| vec![t])
                    .unwrap_or_else(|| MediaType::ALL.to_vec())
                {
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
                .filter(|c| {
                    if as_sink {
                        &c.sink == id
                    } else {
                        &c.source == id
                    }
                })
                .filter(|c| ty.is_none_or(|t| c.media_type == t))
                .filter(|c| {
                    d.is_none_or(|d| {
                        if as_sink {
                            c.sink_description == d
                        } else {
                            c.source_description == d
                        }
                    })
                })
                .map(Connection::to_value)
                .collect();
            Outcome::value(Value::Array(list))
        }
        "getGstreamerDot" | "dumpGstreamerDot" => {
            let pipeline = reg
                .require(id)?
                .pipeline
                .clone()
                .unwrap_or_else(|| id.clone());
            let dot = super::media_pipeline::dot(reg, &pipeline);
            Outcome::value(if method == "getGstreamerDot" {
                Value::String(dot)
            } else {
                Value::Null
            })
        }
        "isMediaFlowingIn" | "isMediaFlowingOut" => {
            let ty = media_type(p, "mediaType");
            let obj = reg.require(id)?;
            let dir = if method == "isMediaFlowingIn" {
                IN
            } else {
                OUT
            };
            let flowing = ty.is_some_and(|t| obj.flow[dir][t.index()]);
            Outcome::value(flowing)
        }
        "isMediaTranscoding" => {
            let ty = media_type(p, "mediaType");
            Outcome::value(reg.transcoders.transcoding(id, ty))
        }
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
        "setAudioFormat" | "setVideoFormat" => {
            let (ty, caps) = if method == "setVideoFormat" {
                (MediaType::Video, p.get("caps"))
            } else {
                (MediaType::Audio, p.get("caps"))
            };
            let codec = caps
                .and_then(|c| c.get("codec"))
                .and_then(Value::as_str)
                .unwrap_or("RAW");
            // RAW is what KMS's elements exchange inside: here it means "as produced".
            let target = match codec {
                "RAW" => None,
                other => Some(
                    crate::gst_bridge::transcoder::output_codec(other).ok_or_else(|| {
                        RpcError::new(
                            ErrorKind::MediaObjectIllegalParamError,
                            format!("cannot produce {other}"),
                        )
                    })?,
                ),
            };
            super::transcoding::force(reg, id, ty, target);
            Outcome::null()
        }
        _ => Err(super::unimplemented::method("MediaElement", method)),
    }
}

pub(super) const CLASS: ClassBehaviour = ClassBehaviour {
    name: "MediaElement",
    implements: |_, _| true,
    invoke,
    ..ClassBehaviour::EMPTY
};
