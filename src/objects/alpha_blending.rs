//! AlphaBlending: every input's video over the master's (setMaster), each placed and stacked by
//! setPortProperties; audio mixed as in Composite.

use super::class::{ClassBehaviour, Created, NewObject};
use super::hub::{mixer_of, port_media};
use super::{num, Outcome, Registry};
use crate::gst_bridge::mixer::{BlendPlace, MixKind};
use kurento_protocol::{ObjectId, RpcError};
use serde_json::{Map, Value};

pub(super) const CLASS: ClassBehaviour = ClassBehaviour {
    name: "AlphaBlending",
    implements: |_, m| matches!(m, "setMaster" | "setPortProperties"),
    invoke,
    create: Some(create),
    ..ClassBehaviour::EMPTY
};

fn create(_: &mut Registry, o: &NewObject) -> Result<Created, RpcError> {
    super::hub::create_mixing_hub(MixKind::Blend, o)
}

/// A z-order: KMS takes an int; below zero is the bottom.
fn z(p: &Map<String, Value>) -> Result<u32, RpcError> {
    Ok(num(p, "zOrder")?.clamp(0.0, 1000.0) as u32)
}

fn invoke(
    reg: &mut Registry,
    id: &ObjectId,
    method: &str,
    p: &Map<String, Value>,
) -> Result<Outcome, RpcError> {
    let Some(mixer) = mixer_of(reg, id) else {
        return Err(super::unimplemented::method("AlphaBlending", method));
    };
    match method {
        "setMaster" => {
            let port = port_media(reg, id, p, "source")?;
            mixer.set_master(&port, z(p)?);
            Outcome::null()
        }
        "setPortProperties" => {
            let port = port_media(reg, id, p, "port")?;
            let place = BlendPlace {
                x: num(p, "relativeX")?,
                y: num(p, "relativeY")?,
                width: num(p, "relativeWidth")?,
                height: num(p, "relativeHeight")?,
                z: z(p)?,
            };
            mixer.set_place(&port, place);
            Outcome::null()
        }
        _ => Err(super::unimplemented::method("AlphaBlending", method)),
    }
}
