//! Hub: the graph of the hub's pipeline as DOT. Dispatcher and DispatcherOneToMany route their
//! ports without decoding; Composite, Mixer and AlphaBlending run a mixer on the GStreamer bridge,
//! and each of their HubPorts is a media element of its own (see `hub_port`).

use super::class::{self, ClassBehaviour, Created, NewObject};
use super::hub_port::PortMedia;
use super::{opt_str, Outcome, Registry};
use crate::gst_bridge::mixer::{HubMixer, HubPortMedia, MixKind};
use kurento_protocol::{ErrorKind, ObjectId, RpcError};
use serde_json::{Map, Value};

fn invoke(
    reg: &mut Registry,
    id: &ObjectId,
    method: &str,
    _p: &Map<String, Value>,
) -> Result<Outcome, RpcError> {
    let pl = reg
        .require(id)?
        .pipeline
        .clone()
        .unwrap_or_else(|| id.clone());
    let dot = super::media_pipeline::dot(reg, &pl);
    match method {
        "getGstreamerDot" => Outcome::value(dot),
        "dumpGstreamerDot" => {
            tracing::info!(hub = %id, "pipeline graph:\n{dot}");
            Outcome::null()
        }
        _ => Err(super::unimplemented::method("Hub", method)),
    }
}

pub(super) const CLASS: ClassBehaviour = ClassBehaviour {
    name: "Hub",
    implements: |_, m| matches!(m, "getGstreamerDot" | "dumpGstreamerDot"),
    invoke,
    ..ClassBehaviour::EMPTY
};

/// A HubPort named by a hub operation's param, checked to belong to that hub.
pub(super) fn port_of(
    reg: &Registry,
    hub: &ObjectId,
    p: &Map<String, Value>,
    key: &str,
) -> Result<ObjectId, RpcError> {
    let port = ObjectId::from_wire(opt_str(p, key).unwrap_or_default());
    let obj = reg.require(&port)?;
    if obj.parent.as_ref() != Some(hub) {
        return Err(RpcError::new(
            ErrorKind::MediaObjectIllegalParamError,
            format!("HubPort '{port}' does not belong to hub '{hub}'"),
        ));
    }
    Ok(port)
}

/// A mixing hub's state: its mixer.
pub(super) struct MixingHub {
    pub mixer: HubMixer,
}

/// Composite, AlphaBlending and Mixer's constructor: a mixer for the hub.
pub(super) fn create_mixing_hub(kind: MixKind, o: &NewObject) -> Result<Created, RpcError> {
    let mixer = HubMixer::spawn(kind, o.id.as_str())
        .map_err(|e| RpcError::new(ErrorKind::MediaObjectNotAvailable, e))?;
    Ok(Created {
        state: Some(Box::new(MixingHub { mixer })),
        element: None,
    })
}

pub(super) fn mixer_of(reg: &Registry, hub: &ObjectId) -> Option<HubMixer> {
    reg.get(hub)
        .and_then(class::state::<MixingHub>)
        .map(|h| h.mixer.clone())
}

/// A port of `hub` named by param `key`, with its media.
pub(super) fn port_media(
    reg: &Registry,
    hub: &ObjectId,
    p: &Map<String, Value>,
    key: &str,
) -> Result<HubPortMedia, RpcError> {
    let port = port_of(reg, hub, p, key)?;
    reg.get(&port)
        .and_then(class::state::<PortMedia>)
        .map(|m| m.0.clone())
        .ok_or_else(|| RpcError::object_not_found(port.as_str()))
}
