//! BaseRtpEndpoint: keyframe requests and the connection / media state properties, shared by
//! every RTP-based endpoint (WebRTC, plain RTP) through its [`super::ElementMedia`].

use super::class::ClassBehaviour;
use super::{ElementMedia, MediaObject, Outcome, Registry, ServerFacts};
use crate::media::MediaKind;
use kurento_protocol::{ObjectId, RpcError};
use serde_json::{json, Map, Value};

fn invoke(
    reg: &mut Registry,
    id: &ObjectId,
    method: &str,
    _p: &Map<String, Value>,
) -> Result<Outcome, RpcError> {
    let obj = reg.require(id)?;
    match (&obj.element, method) {
        (Some(e), "requestKeyframe") => {
            e.request_keyframe(MediaKind::Video);
            Outcome::null()
        }
        _ => Err(super::unimplemented::method(&obj.class.name, method)),
    }
}

fn get(
    _reg: &Registry,
    obj: &MediaObject,
    prop: &str,
    _: &ServerFacts,
) -> Option<Result<Outcome, RpcError>> {
    let e = obj.element.as_ref()?;
    let state = |up: bool| if up { "CONNECTED" } else { "DISCONNECTED" };
    match prop {
        "mediaState" => Some(Outcome::value(state(e.media_connected))),
        "connectionState" => Some(Outcome::value(state(e.connected))),
        _ => None,
    }
}

pub(super) const CLASS: ClassBehaviour = ClassBehaviour {
    name: "BaseRtpEndpoint",
    implements: |obj, _| obj.element.is_some(),
    invoke,
    get,
    ..ClassBehaviour::EMPTY
};

/// An event to raise on the endpoint: its name and fields.
pub(super) type Raised = (&'static str, Map<String, Value>);

fn fields(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The transport came up or went down: `connectionState` and ConnectionStateChanged, once per
/// change.
pub(super) fn connection_changed(e: &mut ElementMedia, connected: bool) -> Option<Raised> {
    if connected == e.connected {
        return None;
    }
    e.connected = connected;
    let (old, new) = if connected {
        ("DISCONNECTED", "CONNECTED")
    } else {
        ("CONNECTED", "DISCONNECTED")
    };
    Some((
        "ConnectionStateChanged",
        fields(json!({"oldState": old, "newState": new})),
    ))
}

/// The endpoint's media side ended: a session that had media is terminated.
pub(super) fn media_ended(e: &mut ElementMedia) -> Option<Raised> {
    if !e.media_connected {
        return None;
    }
    e.media_connected = false;
    Some(("MediaSessionTerminated", Map::new()))
}

/// Media arrives for sending in a codec the endpoint did not negotiate: it is transcoded to one it
/// takes (see [`super::transcoding`]), or the application is told why not, once per kind and codec.
pub(super) fn codec_not_negotiated(
    reg: &mut Registry,
    id: &ObjectId,
    kind: MediaKind,
    codec: &str,
    accepts: &[crate::media::CodecId],
) -> Option<Raised> {
    super::transcoding::on_codec_mismatch(reg, id, kind, codec, accepts).map(|f| ("Error", f))
}
