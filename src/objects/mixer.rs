//! Mixer: `connect(media, source, sink)` routes a port's video to another port as it is, or adds
//! a port's audio to another port's mix; `disconnect` undoes it.

use super::class::{ClassBehaviour, Created, NewObject};
use super::graph::MediaType;
use super::hub::{mixer_of, port_media};
use super::{opt_str, Outcome, Registry};
use crate::gst_bridge::mixer::MixKind;
use crate::media::MediaKind;
use kurento_protocol::{ErrorKind, ObjectId, RpcError};
use serde_json::{Map, Value};

pub(super) const CLASS: ClassBehaviour = ClassBehaviour {
    name: "Mixer",
    implements: |_, m| matches!(m, "connect" | "disconnect"),
    invoke,
    create: Some(create),
    ..ClassBehaviour::EMPTY
};

fn create(_: &mut Registry, o: &NewObject) -> Result<Created, RpcError> {
    super::hub::create_mixing_hub(MixKind::Select, o)
}

fn invoke(
    reg: &mut Registry,
    id: &ObjectId,
    method: &str,
    p: &Map<String, Value>,
) -> Result<Outcome, RpcError> {
    let Some(mixer) = mixer_of(reg, id) else {
        return Err(super::unimplemented::method("Mixer", method));
    };
    let on = match method {
        "connect" => true,
        "disconnect" => false,
        _ => return Err(super::unimplemented::method("Mixer", method)),
    };
    let kind = match opt_str(p, "media").and_then(MediaType::parse) {
        Some(MediaType::Audio) => MediaKind::Audio,
        Some(MediaType::Video) => MediaKind::Video,
        _ => {
            return Err(RpcError::new(
                ErrorKind::MediaObjectIllegalParamError,
                "Mixer routes AUDIO or VIDEO",
            ))
        }
    };
    let source = port_media(reg, id, p, "source")?;
    let sink = port_media(reg, id, p, "sink")?;
    mixer.route(kind, &source, &sink, on);
    Outcome::null()
}
