//! Hubs: Dispatcher and DispatcherOneToMany route HubPorts without decoding; Composite, Mixer and
//! AlphaBlending mix decoded media, which this server does not do.

use super::{opt_str, ClassState, Outcome, Registry};
use kurento_protocol::{ErrorKind, ObjectId, RpcError};
use serde_json::{Map, Value};

fn port_of(
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

pub(super) fn invoke(
    reg: &mut Registry,
    id: &ObjectId,
    class: &str,
    method: &str,
    p: &Map<String, Value>,
) -> Result<Outcome, RpcError> {
    let pipeline = reg.require(id)?.pipeline.clone();
    match (class, method) {
        ("Hub", "getGstreamerDot" | "dumpGstreamerDot") => {
            let pl = pipeline.unwrap_or_else(|| id.clone());
            let dot = super::media_pipeline::dot(reg, &pl);
            if method == "getGstreamerDot" {
                return Outcome::value(dot);
            }
            tracing::info!(hub = %id, "pipeline graph:\n{dot}");
            Outcome::null()
        }
        ("Dispatcher", "connect") => {
            let source = port_of(reg, id, p, "source")?;
            let sink = port_of(reg, id, p, "sink")?;
            reg.set_dispatch(&source, &sink);
            if let Some(pl) = pipeline {
                reg.update_routes(&pl);
            }
            Outcome::null()
        }
        ("DispatcherOneToMany", "setSource" | "removeSource") => {
            let new = if method == "setSource" {
                Some(port_of(reg, id, p, "source")?)
            } else {
                None
            };
            if let Some(o) = reg.get_mut(id) {
                o.state = ClassState::DispatcherOneToMany { source: new };
            }
            if let Some(pl) = pipeline {
                reg.update_routes(&pl);
            }
            Outcome::null()
        }
        _ => Err(super::unimplemented::method(class, method)),
    }
}
