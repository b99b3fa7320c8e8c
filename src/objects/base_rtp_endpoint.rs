//! BaseRtpEndpoint: keyframe requests and the connection / media state properties.

use super::{ClassState, MediaObject, Outcome, Registry};
use crate::media::MediaKind;
use kurento_protocol::{ObjectId, RpcError};
use serde_json::{Map, Value};

pub(super) fn invoke(
    reg: &mut Registry,
    id: &ObjectId,
    method: &str,
    _p: &Map<String, Value>,
) -> Result<Outcome, RpcError> {
    let obj = reg.require(id)?;
    match (&obj.state, method) {
        (ClassState::WebRtc(w), "requestKeyframe") => {
            w.request_keyframe(MediaKind::Video);
            Outcome::null()
        }
        _ => Err(super::unimplemented::method(&obj.class.name, method)),
    }
}

pub(super) fn get(
    _reg: &Registry,
    obj: &MediaObject,
    prop: &str,
) -> Option<Result<Outcome, RpcError>> {
    let ClassState::WebRtc(w) = &obj.state else {
        return None;
    };
    match prop {
        "mediaState" => Some(Outcome::value(
            if obj.element.as_ref().is_some_and(|e| e.media_connected) {
                "CONNECTED"
            } else {
                "DISCONNECTED"
            },
        )),
        "connectionState" => Some(Outcome::value(if w.connected {
            "CONNECTED"
        } else {
            "DISCONNECTED"
        })),
        _ => None,
    }
}
