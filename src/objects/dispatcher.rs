//! Dispatcher: `connect(source, sink)` makes the media entering port `source` leave port `sink`,
//! routed without decoding.

use super::class::{self, ClassBehaviour, Created, NewObject};
use super::hub::port_of;
use super::{MediaObject, Outcome, Registry};
use kurento_protocol::{ObjectId, RpcError};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Sink port → the port feeding it.
#[derive(Default)]
struct Dispatch(HashMap<ObjectId, ObjectId>);

fn create(_: &mut Registry, _: &NewObject) -> Result<Created, RpcError> {
    Ok(Created {
        state: Some(Box::new(Dispatch::default())),
        element: None,
    })
}

fn invoke(
    reg: &mut Registry,
    id: &ObjectId,
    method: &str,
    p: &Map<String, Value>,
) -> Result<Outcome, RpcError> {
    if method != "connect" {
        return Err(super::unimplemented::method("Dispatcher", method));
    }
    let source = port_of(reg, id, p, "source")?;
    let sink = port_of(reg, id, p, "sink")?;
    let pipeline = reg.require(id)?.pipeline.clone();
    if let Some(d) = reg.get_mut(id).and_then(class::state_mut::<Dispatch>) {
        d.0.insert(sink, source);
    }
    if let Some(pl) = pipeline {
        reg.update_routes(&pl);
    }
    Outcome::null()
}

fn hub_route(_: &Registry, hub: &MediaObject, port: &ObjectId) -> Option<ObjectId> {
    class::state::<Dispatch>(hub)?.0.get(port).cloned()
}

pub(super) const CLASS: ClassBehaviour = ClassBehaviour {
    name: "Dispatcher",
    implements: |_, m| m == "connect",
    invoke,
    create: Some(create),
    hub_route: Some(hub_route),
    ..ClassBehaviour::EMPTY
};
