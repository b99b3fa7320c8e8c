//! Hub: the graph of the hub's pipeline as DOT. Dispatcher and DispatcherOneToMany route their
//! ports without decoding; Composite, Mixer and AlphaBlending mix decoded media and have no
//! behaviour yet, so media stops at their ports.

use super::class::ClassBehaviour;
use super::{opt_str, Outcome, Registry};
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
