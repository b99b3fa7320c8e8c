//! WebRtcEndpoint: a WebRTC peer in the media core, driven by Kurento's offer/answer, trickle
//! ICE and STUN/TURN settings; its signalling events become Kurento events here.

use super::base_rtp_endpoint;
use super::class::{self, ClassBehaviour, Created, NewObject};
use super::graph::MediaRole;
use super::media_pipeline::PipelineState;
use super::{ControlEvent, ElementMedia, MediaObject, Outcome, Registry, ServerFacts};
use crate::media::{BitrateLimits, ElementId, MediaKind, MediaType};
use crate::webrtc::{self, IceCandidateInit, WebRtcEvent, WebRtcHandle};
use kurento_protocol::model::marshal::complex;
use kurento_protocol::{ErrorKind, ObjectId, RpcError};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use tracing::debug;

pub(super) const CLASS: ClassBehaviour = ClassBehaviour {
    name: "WebRtcEndpoint",
    implements: |_, m| {
        matches!(
            m,
            "gatherCandidates" | "addIceCandidate" | "createDataChannel" | "closeDataChannel"
        )
    },
    invoke,
    get,
    create: Some(create),
    property_changed,
    role: Some(MediaRole::Adapter),
    stats: Some(stats),
    ..ClassBehaviour::EMPTY
};

pub struct WebRtcState {
    handle: WebRtcHandle,
    ice: Vec<(u32, u32, &'static str)>,
    pairs: Vec<(String, String)>,
    dtls: &'static str,
}

fn create(reg: &mut Registry, o: &NewObject) -> Result<Created, RpcError> {
    let pipeline = o
        .pipeline
        .ok_or_else(|| RpcError::param_required("mediaPipeline"))?;
    let Some(p) = reg.get(pipeline).and_then(class::state::<PipelineState>) else {
        return Err(RpcError::object_not_found(pipeline.as_str()));
    };
    let media = p.media.clone();
    let flag = |name: &str| o.props.get(name).and_then(Value::as_bool).unwrap_or(false);
    let mut cfg = reg.media.webrtc.clone();
    cfg.recvonly = flag("recvonly");
    cfg.sendonly = flag("sendonly");
    cfg.use_data_channels = flag("useDataChannels");
    let key = ElementId::next();
    let _media_workers = reg.media.runtime.enter();
    let handle = webrtc::spawn_endpoint(
        cfg,
        media.inbox(key),
        reg.media.reporter(move |e| ControlEvent::WebRtc(key, e)),
    )
    .map_err(|e| {
        RpcError::new(
            ErrorKind::NotEnoughResources,
            format!("Cannot create WebRtcEndpoint: {e}"),
        )
    })?;
    let element = ElementMedia::attach(key, &media, Arc::new(handle.clone()))
        .with_sdp(Arc::new(handle.clone()));
    Ok(Created {
        state: Some(Box::new(WebRtcState {
            handle,
            ice: Vec::new(),
            pairs: Vec::new(),
            dtls: "NEW",
        })),
        element: Some(element),
    })
}

// Offer/answer through the endpoint's task.
super::sdp_endpoint::sdp_agent_for!(WebRtcHandle);

fn state_of<'a>(reg: &'a Registry, id: &ObjectId) -> Result<&'a WebRtcState, RpcError> {
    reg.require(id)
        .ok()
        .and_then(class::state::<WebRtcState>)
        .ok_or_else(|| RpcError::object_not_found(id.as_str()))
}

fn invoke(
    reg: &mut Registry,
    id: &ObjectId,
    method: &str,
    p: &Map<String, Value>,
) -> Result<Outcome, RpcError> {
    let h = state_of(reg, id)?.handle.clone();
    match method {
        "gatherCandidates" => Ok(Outcome::Pending(Box::pin(async move {
            h.gather_candidates()
                .await
                .map(|_| Value::Null)
                .map_err(|e| RpcError::new(ErrorKind::IceGatherCandidatesError, e.to_string()))
        }))),
        "addIceCandidate" => {
            let c = p.get("candidate").and_then(Value::as_object);
            let init = IceCandidateInit {
                candidate: c
                    .and_then(|c| c.get("candidate"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                sdp_mid: c
                    .and_then(|c| c.get("sdpMid"))
                    .and_then(Value::as_str)
                    .map(str::to_string),
                sdp_mline_index: c
                    .and_then(|c| c.get("sdpMLineIndex"))
                    .and_then(Value::as_u64)
                    .and_then(|v| u16::try_from(v).ok()),
            };
            Ok(Outcome::Pending(Box::pin(async move {
                h.add_ice_candidate(init)
                    .await
                    .map(|_| Value::Null)
                    .map_err(|e| RpcError::new(ErrorKind::IceAddCandidateError, e.to_string()))
            })))
        }
        "createDataChannel" => {
            let label = p.get("label").and_then(Value::as_str).unwrap_or_default();
            let ordered = p.get("ordered").and_then(Value::as_bool).unwrap_or(true);
            let int = |k: &str| {
                p.get(k)
                    .and_then(Value::as_i64)
                    .and_then(|v| i32::try_from(v).ok())
                    .unwrap_or(-1)
            };
            let (life, retransmits) = (int("maxPacketLifeTime"), int("maxRetransmits"));
            let protocol = p
                .get("protocol")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let (label, protocol) = (label.to_string(), protocol.to_string());
            // As KMS: the call answers when the channel is set up; its id comes with
            // DataChannelOpened.
            Ok(Outcome::Pending(Box::pin(async move {
                h.create_data_channel(label, ordered, life, retransmits, protocol)
                    .await
                    .map(|_| Value::Null)
                    .map_err(data_channel_error)
            })))
        }
        "closeDataChannel" => {
            let id = p
                .get("channelId")
                .and_then(Value::as_i64)
                .and_then(|v| u16::try_from(v).ok());
            let Some(id) = id else {
                return Err(RpcError::new(
                    ErrorKind::MediaObjectIllegalParamError,
                    "channelId must be a data channel id (0-65534)",
                ));
            };
            Ok(Outcome::Pending(Box::pin(async move {
                h.close_data_channel(id)
                    .await
                    .map(|_| Value::Null)
                    .map_err(data_channel_error)
            })))
        }
        _ => Err(super::unimplemented::method("WebRtcEndpoint", method)),
    }
}

fn data_channel_error(e: webrtc::WebRtcError) -> RpcError {
    let kind = match e {
        webrtc::WebRtcError::InvalidState(_) => ErrorKind::MediaObjectOperationNotSupported,
        _ => ErrorKind::UnexpectedError,
    };
    RpcError::new(kind, e.to_string())
}

fn get(
    _reg: &Registry,
    obj: &MediaObject,
    prop: &str,
    _: &ServerFacts,
) -> Option<Result<Outcome, RpcError>> {
    let w = class::state::<WebRtcState>(obj)?;
    match prop {
        "ICECandidatePairs" => Some(Outcome::value(Value::Array(
            w.pairs.iter().map(|(l, r)| candidate_pair(l, r)).collect(),
        ))),
        "IceConnectionState" => Some(Outcome::value(Value::Array(
            w.ice
                .iter()
                .map(|(s, c, st)| {
                    let mut m = Map::new();
                    m.insert("streamId".into(), s.to_string().into());
                    m.insert("componentId".into(), (*c).into());
                    m.insert("state".into(), (*st).into());
                    complex("IceConnection", m)
                })
                .collect(),
        ))),
        "DtlsConnectionState" => Some(Outcome::value(Value::Array(vec![{
            let mut m = Map::new();
            m.insert("streamId".into(), "0".into());
            m.insert("componentId".into(), 1.into());
            m.insert("state".into(), w.dtls.into());
            complex("DtlsConnection", m)
        }]))),
        _ => None,
    }
}

/// A WebRtcEndpoint setter changed a property the peer must know about.
fn property_changed(reg: &mut Registry, id: &ObjectId, prop: &str, v: &Value) {
    let Ok(w) = state_of(reg, id) else { return };
    let h = w.handle.clone();
    let props = reg.get(id).map(|o| o.props.clone()).unwrap_or_default();
    if prop.ends_with("VideoRecvBandwidth") || prop.ends_with("VideoSendBandwidth") {
        // Only values the application set count: KMS applies its 500 kbps default maximum to
        // what its encoder sends; capping a forwarded stream by it would only lower quality.
        let bps = |name: &str| {
            props
                .get(name)
                .and_then(Value::as_u64)
                .filter(|kbps| *kbps > 0)
                .map(|kbps| kbps.saturating_mul(1000))
        };
        let Some(element) = reg.get(id).and_then(|o| o.element.as_ref()) else {
            return;
        };
        element.set_bitrate_limits(BitrateLimits {
            min_recv: bps("minVideoRecvBandwidth"),
            max_recv: bps("maxVideoRecvBandwidth"),
            min_send: bps("minVideoSendBandwidth"),
            max_send: bps("maxVideoSendBandwidth"),
        });
    }
    match prop {
        "stunServerAddress" | "stunServerPort" => {
            let addr = props
                .get("stunServerAddress")
                .and_then(Value::as_str)
                .map(str::to_string);
            let port = props
                .get("stunServerPort")
                .and_then(Value::as_u64)
                .or_else(|| reg.media.webrtc.stun_server.map(|s| s.port() as u64))
                .unwrap_or(3478);
            if let Some(a) = addr.and_then(|a| a.parse::<std::net::IpAddr>().ok()) {
                let stun = std::net::SocketAddr::new(a, u16::try_from(port).unwrap_or(3478));
                tokio::spawn(async move { h.set_stun(Some(stun)).await });
            }
        }
        "maxAudioRecvBandwidth" | "maxVideoRecvBandwidth" => {
            let kind = if prop == "maxAudioRecvBandwidth" {
                MediaKind::Audio
            } else {
                MediaKind::Video
            };
            let kbps = v.as_i64().and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
            h.set_max_recv_bandwidth(kind, kbps);
        }
        "turnUrl" => {
            if let Some(t) = v.as_str().and_then(crate::setup::turn_server) {
                tokio::spawn(async move { h.set_turn(Some(t)).await });
            } else {
                debug!("ignoring an unparsable turnUrl");
            }
        }
        _ => {}
    }
}

/// getStats: inbound and outbound RTP figures of a WebRtcEndpoint, plus its EndpointStats entry when
/// the pipeline measures latency.
fn stats(reg: &Registry, id: &ObjectId, ty: Option<MediaType>) -> Result<Outcome, RpcError> {
    let h = state_of(reg, id)?.handle.clone();
    let fetch = async move { h.stats().await.map_err(|e| e.to_string()) };
    super::stats::endpoint(reg, id, ty, fetch, super::stats::to_kurento)
}

/// Turns one media event of an endpoint into Kurento events and state.
pub(crate) fn on_media_event(reg: &mut Registry, key: ElementId, ev: WebRtcEvent) {
    let Some(id) = reg.endpoints.get(&key).cloned() else {
        return;
    };
    let mut raise: Vec<(&'static str, Map<String, Value>)> = Vec::new();
    let mut mismatch = None;
    {
        let Some(obj) = reg.get_mut(&id) else { return };
        let Some(element) = obj.element.as_mut() else {
            return;
        };
        let Some(w) = obj
            .state
            .as_mut()
            .and_then(|s| s.downcast_mut::<WebRtcState>())
        else {
            return;
        };
        match ev {
            WebRtcEvent::IceCandidateFound(c) => {
                let mut m = Map::new();
                m.insert("candidate".into(), c.candidate.into());
                m.insert("sdpMid".into(), c.sdp_mid.unwrap_or_default().into());
                m.insert(
                    "sdpMLineIndex".into(),
                    c.sdp_mline_index.unwrap_or(0).into(),
                );
                let mut f = Map::new();
                f.insert("candidate".into(), complex("IceCandidate", m));
                raise.push(("IceCandidateFound", f));
            }
            WebRtcEvent::IceGatheringDone => raise.push(("IceGatheringDone", Map::new())),
            WebRtcEvent::IceComponentStateChanged {
                stream_id,
                component_id,
                state,
            } => {
                let st = ice_state_name(state);
                w.ice
                    .retain(|(s, c, _)| !(*s == stream_id && *c == component_id));
                w.ice.push((stream_id, component_id, st));
                let mut f = Map::new();
                f.insert("streamId".into(), stream_id.into());
                f.insert("componentId".into(), component_id.into());
                f.insert("state".into(), st.into());
                raise.push(("IceComponentStateChanged", f));
            }
            WebRtcEvent::NewCandidatePairSelected { local, remote } => {
                let mut f = Map::new();
                f.insert("candidatePair".into(), candidate_pair(&local, &remote));
                w.pairs = vec![(local, remote)];
                raise.push(("NewCandidatePairSelected", f));
            }
            WebRtcEvent::ConnectionStateChanged { connected } => {
                tracing::info!(endpoint = %id, connected, "connection state changed");
                raise.extend(base_rtp_endpoint::connection_changed(element, connected));
            }
            WebRtcEvent::DtlsStateChanged(s) => {
                w.dtls = dtls_state_name(s);
                raise.push((
                    "DtlsConnectionStateChange",
                    json_map(json!({"streamId": "0", "componentId": 1, "state": w.dtls})),
                ));
            }
            WebRtcEvent::CodecNotNegotiated {
                kind,
                codec,
                accepts,
            } => {
                mismatch = Some((kind, codec, accepts));
            }
            WebRtcEvent::DataChannelOpened { id, .. } => {
                raise.push(("DataChannelOpened", json_map(json!({"channelId": id}))));
            }
            WebRtcEvent::DataChannelClosed { id } => {
                raise.push(("DataChannelClosed", json_map(json!({"channelId": id}))));
            }
            WebRtcEvent::Closed => raise.extend(base_rtp_endpoint::media_ended(element)),
        }
    }
    if let Some((kind, codec, accepts)) = mismatch {
        raise.extend(base_rtp_endpoint::codec_not_negotiated(
            reg, &id, kind, &codec, &accepts,
        ));
    }
    for (name, f) in raise {
        reg.raise(&id, name, f);
    }
}

/// IceCandidatePair as KMS sends it: stream and component ids under both spellings.
fn candidate_pair(local: &str, remote: &str) -> Value {
    let mut m = Map::new();
    m.insert("streamID".into(), "0".into());
    m.insert("streamId".into(), "0".into());
    m.insert("componentID".into(), 1.into());
    m.insert("componentId".into(), 1.into());
    m.insert("localCandidate".into(), local.into());
    m.insert("remoteCandidate".into(), remote.into());
    complex("IceCandidatePair", m)
}

/// KMS's IceComponentState names.
fn ice_state_name(s: webrtc::IceComponentState) -> &'static str {
    use webrtc::IceComponentState::*;
    match s {
        Disconnected => "DISCONNECTED",
        Gathering => "GATHERING",
        Connecting => "CONNECTING",
        Connected => "CONNECTED",
        Ready => "READY",
        Failed => "FAILED",
    }
}

/// KMS 7's DtlsConnectionState names.
fn dtls_state_name(s: webrtc::DtlsState) -> &'static str {
    use webrtc::DtlsState::*;
    match s {
        New => "NEW",
        Connecting => "CONNECTING",
        Connected => "CONNECTED",
        Closed => "CLOSED",
        Failed => "FAILED",
    }
}

fn json_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
