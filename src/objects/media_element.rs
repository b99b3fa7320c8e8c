//! MediaElement: the element graph (connect/disconnect and their queries), flow state, stats.

use super::graph::{Connection, MediaType};
use super::{opt_str, ClassState, Outcome, Registry};
use kurento_protocol::{ErrorKind, ObjectId, RpcError};
use serde_json::{Map, Value};

fn media_type(p: &Map<String, Value>, key: &str) -> Option<MediaType> {
    opt_str(p, key).and_then(MediaType::parse)
}

fn desc(p: &Map<String, Value>, key: &str) -> String {
    opt_str(p, key).unwrap_or("default").to_string()
}

pub(super) fn invoke(
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
            let flowing = match (&obj.state, ty.and_then(MediaType::media_kind)) {
                (ClassState::WebRtc(w), Some(kind)) => {
                    if method == "isMediaFlowingIn" {
                        w.flowing_in(kind)
                    } else {
                        w.flowing_out(kind)
                    }
                }
                _ => false,
            };
            Outcome::value(flowing)
        }
        // Nothing is ever transcoded: packets are forwarded as they came.
        "isMediaTranscoding" => Outcome::value(false),
        "getStats" => super::web_rtc_endpoint::stats(reg, id, media_type(p, "mediaType")),
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
