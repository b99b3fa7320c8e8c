//! DispatcherOneToMany: the media entering the source port leaves every other port, routed
//! without decoding.

use super::class::{self, ClassBehaviour, Created, NewObject};
use super::hub::port_of;
use super::{MediaObject, Outcome, Registry};
use kurento_protocol::{ObjectId, RpcError};
use serde_json::{Map, Value};

#[derive(Default)]
struct Source(Option<ObjectId>);

fn create(_: &mut Registry, _: &NewObject) -> Result<Created, RpcError> {
    Ok(Created {
        state: Some(Box::new(Source::default())),
        element: None,
    })
}

fn invoke(
    reg: &mut Registry,
    id: &ObjectId,
    method: &str,
    p: &Map<String, Value>,
) -> Result<Outcome, RpcError> {
    let new = match method {
        "setSource" => Some(port_of(reg, id, p, "source")?),
        "removeSource" => None,
        _ => return Err(super::unimplemented::method("DispatcherOneToMany", method)),
    };
    let pipeline = reg.require(id)?.pipeline.clone();
    if let Some(s) = reg.get_mut(id).and_then(class::state_mut::<Source>) {
        s.0 = new;
    }
    if let Some(pl) = pipeline {
        reg.update_routes(&pl);
    }
    Outcome::null()
}

fn hub_route(_: &Registry, hub: &MediaObject, port: &ObjectId) -> Option<ObjectId> {
    class::state::<Source>(hub)?.0.clone().filter(|s| s != port)
}

pub(super) const CLASS: ClassBehaviour = ClassBehaviour {
    name: "DispatcherOneToMany",
    implements: |_, m| matches!(m, "setSource" | "removeSource"),
    invoke,
    create: Some(create),
    hub_route: Some(hub_route),
    ..ClassBehaviour::EMPTY
};
