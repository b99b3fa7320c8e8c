//! Composite: every input's video tiled in KMS's grid, each port hearing the others' audio; every
//! port's output is the whole grid.

use super::class::{ClassBehaviour, Created, NewObject};
use super::Registry;
use crate::gst_bridge::mixer::MixKind;
use kurento_protocol::RpcError;

pub(super) const CLASS: ClassBehaviour = ClassBehaviour {
    name: "Composite",
    create: Some(create),
    ..ClassBehaviour::EMPTY
};

fn create(_: &mut Registry, o: &NewObject) -> Result<Created, RpcError> {
    super::hub::create_mixing_hub(MixKind::Grid, o)
}
