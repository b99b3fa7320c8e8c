//! BaseRtpEndpoint: keyframe requests and the connection / media state properties, shared by
//! every RTP-based endpoint (WebRTC, plain RTP) through its [`super::ElementMedia`].

use super::class::ClassBehaviour;
use super::{MediaObject, Outcome, Registry, ServerFacts};
use crate::media::MediaKind;
use kurento_protocol::{ObjectId, RpcError};
use serde_json::{Map, Value};

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
