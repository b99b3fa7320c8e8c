//! HubPort: what leaves a port is what its hub routes to it (see the hubs' `hub_route`). A port
//! of a mixing hub (Composite, AlphaBlending, Mixer) is a media element of its own: what enters
//! it goes into the hub's mixer, and the mixer's output for it leaves it.

use super::class::{self, ClassBehaviour, Created, NewObject};
use super::graph::MediaRole;
use super::hub::mixer_of;
use super::media_pipeline::PipelineState;
use super::{ElementMedia, Registry};
use crate::gst_bridge::mixer::HubPortMedia;
use crate::media::ElementId;
use kurento_protocol::{ErrorKind, RpcError};
use std::sync::Arc;

pub(super) const CLASS: ClassBehaviour = ClassBehaviour {
    name: "HubPort",
    role: Some(MediaRole::HubPort),
    create: Some(create),
    ..ClassBehaviour::EMPTY
};

/// A mixing hub's port media (the hub's mixer finds the port by it).
pub(super) struct PortMedia(pub HubPortMedia);

fn create(reg: &mut Registry, o: &NewObject) -> Result<Created, RpcError> {
    let Some(mixer) = o.parent.and_then(|h| mixer_of(reg, h)) else {
        return Ok(Created::default());
    };
    let pipeline = o
        .pipeline
        .ok_or_else(|| RpcError::param_required("mediaPipeline"))?;
    let Some(p) = reg.get(pipeline).and_then(class::state::<PipelineState>) else {
        return Err(RpcError::object_not_found(pipeline.as_str()));
    };
    let media = p.media.clone();
    let key = ElementId::next();
    let port = mixer
        .add_port(media.inbox(key))
        .map_err(|e| RpcError::new(ErrorKind::MediaObjectNotAvailable, e))?;
    let element = ElementMedia::attach(key, &media, Arc::new(port.clone()));
    Ok(Created {
        state: Some(Box::new(PortMedia(port))),
        element: Some(element),
    })
}
